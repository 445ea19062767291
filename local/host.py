"""Serve the very functions of function_app.py over HTTP, for machines without Azure Functions Core Tools.

The route table is built from the app's own function list, so there is one route table, not two.
Usage: python -m local.host [--port 7071] [--with-azurite DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import azure.functions as func
import h11
from azure.functions.decorators.http import HttpTrigger
from azure.functions.decorators.queue import QueueTrigger
from azure.functions.decorators.timer import TimerTrigger
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.h11_impl import H11Protocol

from archive.clients import close_storage
from archive.reindex import OPERATIONS_QUEUE_SETTING, operations_queue
from archive.settings import StorageSettings
from local.azurite import Azurite, PortsInUse
from local.viewer import VIEWER_PATH, installed, viewer_middleware
from shared.problems import DicomWebError

# Azure runs timer functions on their NCRONTAB schedule; the local host runs them at this fixed interval.
TIMER_INTERVAL = 900
# Seconds a client may stay silent while the server waits on it (headers, or a body it announced) before being cut off.
IDLE_TIMEOUT = 60.0
# make run's Azurite listens on its usual ports unless these say otherwise.
AZURITE_PORTS = {"AZURITE_BLOB_PORT": 10000, "AZURITE_TABLE_PORT": 10002, "AZURITE_QUEUE_PORT": 10001}
_PARAMETER = re.compile(r"\{\*?(\w+)(?::[^}]*)?\??\}")


def starlette_path(route: str) -> str:
    """ASP.NET-style `studies/{study}` (constraints and `?` dropped) to Starlette's `/studies/{study}`."""
    return "/" + _PARAMETER.sub(r"{\1}", route.lstrip("/"))


_functions: dict[int, list] = {}


def functions_of(app: func.FunctionApp) -> list:
    """The app's functions; cached, because a second get_functions() on one app raises "not unique"."""
    if id(app) not in _functions:
        _functions[id(app)] = app.get_functions()
    return _functions[id(app)]


def timers_of(app: func.FunctionApp) -> list:
    return [f for f in functions_of(app) if isinstance(f.get_trigger(), TimerTrigger)]


def queue_functions_of(app: func.FunctionApp) -> list:
    return [f for f in functions_of(app) if isinstance(f.get_trigger(), QueueTrigger)]


def routes_from(app: func.FunctionApp) -> list[Route]:
    routes = []
    for function in functions_of(app):
        trigger = function.get_trigger()
        if not isinstance(trigger, HttpTrigger):
            continue
        user_function = function.get_user_function()
        methods = [str(getattr(m, "value", m)) for m in (trigger.methods or ["GET"])]

        async def endpoint(request: Request, _call=user_function, _name=trigger.name) -> Response:
            return await _call(**{_name: request})

        routes.append(
            Route(starlette_path(trigger.route), endpoint, methods=methods, name=function.get_function_name())
        )
    return routes


async def _problem(request: Request, error: Exception) -> Response:
    status = getattr(error, "status_code", 404)
    detail = (
        f"No DICOMweb operation at {request.method} {request.url.path[:200]}. Paths start with /v1/ or /v2/, "
        "e.g. /v2/studies."
    )
    if status == 405:
        detail = f"{request.method} is not allowed on {request.url.path[:200]}."
    return DicomWebError(status, detail).to_response()


class _TimerRequest:
    past_due = False


async def _run_timers(timers: list, interval: float) -> None:
    """The app's timer functions (cleanup), each run every `interval` seconds as long as the host runs."""
    while True:
        await asyncio.sleep(interval)
        for function in timers:
            try:
                await function.get_user_function()(**{function.get_trigger().name: _TimerRequest()})
            except Exception:
                logging.getLogger(__name__).exception("timer function %s failed", function.get_function_name())


class _QueueMessage:
    """What a queue-triggered function reads of its message (func.QueueMessage's get_body)."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def get_body(self) -> bytes:
        return self._body


def _queue_name(name: str) -> str:
    """A trigger's queue name; `%SETTING%` is resolved as the Functions host does (the operations queue's
    default follows the archive's table prefix)."""
    if name == OPERATIONS_QUEUE_SETTING:
        return operations_queue()
    return os.environ.get(name.strip("%"), name) if name.startswith("%") else name


async def _run_queues(functions: list, poll: float, visibility: int) -> None:
    """The app's queue-triggered functions, as the Functions host runs them: each message is invisible while
    its function runs, deleted when it succeeds, and seen again after `visibility` seconds when it fails (or
    the host dies)."""
    from azure.storage.queue import BinaryBase64DecodePolicy
    from azure.storage.queue.aio import QueueClient

    connection = StorageSettings.from_environment().connection_string
    if not functions or not connection:
        return
    clients = [(f, QueueClient.from_connection_string(connection, _queue_name(f.get_trigger().queue_name),
                                                      message_decode_policy=BinaryBase64DecodePolicy()))
               for f in functions]  # fmt: skip
    try:
        await _poll(clients, poll, visibility)
    finally:  # cancelled at shutdown: close the clients' connections rather than leave them to the collector
        await asyncio.gather(*(client.close() for _, client in clients))


async def _poll(clients: list, poll: float, visibility: int) -> None:
    from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

    for _, client in clients:  # created up front, so an empty queue answers an empty list, not an error
        with contextlib.suppress(ResourceExistsError):
            await client.create_queue()
    while True:
        await asyncio.sleep(poll)
        for function, client in clients:
            try:
                async for message in client.receive_messages(visibility_timeout=visibility, max_messages=8):
                    try:
                        await function.get_user_function()(
                            **{function.get_trigger().name: _QueueMessage(message.content)}
                        )
                    except Exception:
                        logging.getLogger(__name__).warning(
                            "queue function %s failed; the message returns", function.get_function_name(), exc_info=True
                        )
                        continue
                    await client.delete_message(message)
            except ResourceNotFoundError:
                continue  # nothing was ever queued there


def create_app(app: func.FunctionApp | None = None) -> Starlette:
    if app is None:
        from function_app import app
    timers = timers_of(app)
    interval = float(os.environ.get("DICOM_TIMER_INTERVAL_SECONDS", TIMER_INTERVAL))
    poll = float(os.environ.get("DICOM_QUEUE_POLL_SECONDS", "1"))
    visibility = int(os.environ.get("DICOM_QUEUE_VISIBILITY_SECONDS", "60"))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(_run_timers(timers, interval)),
                 asyncio.create_task(_run_queues(queue_functions_of(app), poll, visibility))]  # fmt: skip
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # each closes its own clients as it ends
        await close_storage()

    return Starlette(
        routes=routes_from(app),
        exception_handlers={HTTPException: _problem},
        lifespan=lifespan,
        middleware=_cors() + viewer_middleware(),
    )


def _cors() -> list[Middleware]:
    """Browser viewers (OHIF) on other origins; in Azure the platform's CORS does this (Bicep parameter)."""
    origins = [o.strip() for o in os.environ.get("DICOM_CORS_ORIGINS", "").split(",") if o.strip()]
    if not origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Accept", "Content-Type", "If-None-Match", "X-Request-Id"],
            expose_headers=["ETag", "X-Request-Id", "Content-Type", "Content-Length"],
            max_age=600,
        )
    ]


class _WatchedFlow(FlowControl):
    """uvicorn's read flow control, also telling the protocol when reading pauses or resumes."""

    def __init__(self, transport: asyncio.Transport, changed: Callable[[], None]) -> None:
        super().__init__(transport)
        self._changed = changed

    def pause_reading(self) -> None:
        super().pause_reading()
        self._changed()

    def resume_reading(self) -> None:
        super().resume_reading()
        self._changed()


class IdleTimeoutProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing a connection whose client sends nothing for `idle_timeout` seconds.

    The clock runs only while the server waits on the client (for a request, or the rest of a body it announced),
    so a silent client cannot hold a connection and a request open forever; it stops while the server itself is
    busy (the request is whole and its response not finished) or has paused reading.
    """

    idle_timeout = IDLE_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.flow = _WatchedFlow(transport, self._rearm)
        self._idle: asyncio.TimerHandle | None = None
        self._rearm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._rearm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._rearm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _waiting_on_client(self) -> bool:
        server_busy = self.conn.their_state is h11.DONE and self.conn.our_state is not h11.DONE
        return not server_busy and not self.flow.read_paused and not self.transport.is_closing()

    def _disarm(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _rearm(self) -> None:
        self._disarm()
        if self._waiting_on_client():
            self._idle = self.loop.call_later(self.idle_timeout, self._expire)

    def _expire(self) -> None:
        self._idle = None
        if not self._waiting_on_client():
            return
        logging.getLogger(__name__).warning("closed a connection idle for %s s", self.idle_timeout)
        if self.conn.their_state is h11.SEND_BODY and self.conn.our_state is h11.SEND_RESPONSE:
            self.transport.write(self._request_timeout())
        self.transport.close()

    def _request_timeout(self) -> bytes:
        """408 for a request whose body stalled (a connection with no request in progress just closes)."""
        detail = (
            f"No part of the request body arrived for {self.idle_timeout:g} s (DICOM_IDLE_TIMEOUT_SECONDS), so the "
            "request was abandoned. Send the body without pauses, then retry."
        )
        response = DicomWebError(408, detail, {"Connection": "close", "Cache-Control": "no-store"}).to_response()
        head = "HTTP/1.1 408 Request Timeout\r\n" + "".join(f"{k}: {v}\r\n" for k, v in response.headers.items())
        return (head + "\r\n").encode("latin-1") + response.body


def idle_timeout_protocol() -> type[IdleTimeoutProtocol]:
    """The protocol class with DICOM_IDLE_TIMEOUT_SECONDS applied."""
    raw = os.environ.get("DICOM_IDLE_TIMEOUT_SECONDS", str(IDLE_TIMEOUT))
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0
    if not seconds > 0:
        sys.exit(f"DICOM_IDLE_TIMEOUT_SECONDS must be a positive number of seconds, not {raw!r}")
    return type("IdleTimeoutProtocol", (IdleTimeoutProtocol,), {"idle_timeout": seconds})


def _start_azurite(location: Path) -> Azurite:
    """make run's Azurite, on its usual ports or AZURITE_*_PORT; never another emulator already holding them."""
    try:
        ports = {name: int(os.environ.get(name, default)) for name, default in AZURITE_PORTS.items()}
    except ValueError:
        sys.exit(f"{', '.join(AZURITE_PORTS)} must be port numbers")
    azurite = Azurite(location, ports["AZURITE_BLOB_PORT"], ports["AZURITE_TABLE_PORT"], ports["AZURITE_QUEUE_PORT"])
    try:
        return azurite.start()
    except PortsInUse as error:
        sys.exit(str(error))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "7071")))
    parser.add_argument("--with-azurite", type=Path, metavar="DIR", help="start Azurite with its data in DIR")
    arguments = parser.parse_args()
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("azure").setLevel(logging.WARNING)
    protocol = idle_timeout_protocol()
    azurite = None
    if arguments.with_azurite:
        azurite = _start_azurite(arguments.with_azurite.resolve())
        os.environ["DICOM_STORAGE_CONNECTION_STRING"] = azurite.connection_string
        print(
            f"Azurite is running on 127.0.0.1 ports {azurite.blob_port} (blob), {azurite.queue_port} (queue), "
            f"{azurite.table_port} (table) with its data in {arguments.with_azurite}/",
            flush=True,
        )
    os.environ.setdefault("DICOM_PUBLIC_BASE_URL", f"http://{arguments.host}:{arguments.port}")
    import uvicorn

    print(f"DICOMweb API at http://{arguments.host}:{arguments.port}/v1 and /v2 (Ctrl-C stops it)", flush=True)
    if installed():
        print(f"OHIF viewer at http://{arguments.host}:{arguments.port}{VIEWER_PATH}", flush=True)
    try:
        uvicorn.run(
            create_app(),
            host=arguments.host,
            port=arguments.port,
            log_level="warning",
            access_log=False,
            http=protocol,
        )
    finally:
        if azurite is not None:
            azurite.stop()


if __name__ == "__main__":
    main()
