"""A timing proxy between the service and Azurite: it records every storage call (which service, which
operation, when it started and ended) and can add a fixed latency each way, so a request's storage calls and
its sequential round trips can be counted, and Azure's network round trips imitated on one machine.

The records use time.perf_counter(), the clock the benchmark's client uses too, so a call can be attributed
to the request that was in flight when it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web

from local.azurite import Azurite, free_port

HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


async def forward(session: aiohttp.ClientSession, target: str, request: web.Request, body: bytes) -> web.Response:
    """The request passed on to `target` as it came (no hop-by-hop headers), and the answer as it went back."""
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    async with session.request(
        request.method,
        target + request.path_qs,
        headers=headers,
        data=body,
        skip_auto_headers=("Content-Type", "Accept-Encoding", "User-Agent"),
    ) as upstream:
        content = await upstream.read()
        reply_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
        return web.Response(status=upstream.status, headers=reply_headers, body=content)


@dataclass(frozen=True)
class StorageCall:
    kind: str  # blob, table or queue
    operation: str  # e.g. "GET point read", "POST batch", "PUT block"
    start: float  # perf_counter seconds, when the proxy received the request line
    end: float  # when the proxy had sent the whole response
    status: int


def operation_of(kind: str, method: str, path_qs: str, headers: dict[str, str]) -> str:
    """A short name for what a storage REST call does (what an Azure bill or a latency budget counts)."""
    split = urlsplit(path_qs)
    query = parse_qs(split.query)
    path = split.path
    if kind == "table":
        if path.endswith("$batch"):
            return "POST batch"
        if method == "GET":
            return "GET point read" if "RowKey=" in path else "GET query"
        if method == "POST":
            return "POST create table" if path.rstrip("/").endswith("/Tables") else "POST insert"
        return {"PUT": "PUT upsert", "MERGE": "MERGE merge", "PATCH": "PATCH merge"}.get(method, method)
    if kind == "blob":
        comp = query.get("comp", [""])[0]
        if query.get("restype") == ["container"]:
            return f"{method} container{' ' + comp if comp else ''}"
        if comp:
            return f"{method} {comp}"
        ranged = any(h.lower() in ("range", "x-ms-range") for h in headers)
        return {"GET": "GET range" if ranged else "GET", "PUT": "PUT upload"}.get(method, method)
    if path.endswith("/messages"):
        return {"POST": "POST message", "GET": "GET messages"}.get(method, method)
    if "/messages/" in path:
        return f"{method} message"
    return f"{method} queue"


def critical_path(calls: list[StorageCall]) -> int:
    """The longest chain of calls in which each starts after the previous one ended: the round trips a request
    waits for one after another (calls made concurrently count once)."""
    ordered = sorted(calls, key=lambda c: c.start)
    longest: list[int] = []
    for i, call in enumerate(ordered):
        before = [longest[j] for j in range(i) if ordered[j].end <= call.start]
        longest.append(1 + max(before, default=0))
    return max(longest, default=0)


class TimingProxy:
    """One storage endpoint (blob, table or queue) of Azurite behind a recording, optionally slow, proxy."""

    def __init__(self, kind: str, target_port: int, latency_ms: float, calls: list[StorageCall]) -> None:
        self.kind = kind
        self.target = f"http://127.0.0.1:{target_port}"
        self.latency = latency_ms / 1000
        self.calls = calls  # shared by the proxies of one service; list.append is atomic
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name=f"{kind}-proxy")

    def __enter__(self) -> TimingProxy:
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError(f"the {self.kind} proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _stop(self) -> None:
        await self._session.close()
        await self._runner.cleanup()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=1 << 31)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._session = self._loop.run_until_complete(self._new_session())
        self._ready.set()
        self._loop.run_forever()

    @staticmethod
    async def _new_session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(auto_decompress=False, connector=aiohttp.TCPConnector(limit=0))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        body = await request.read()
        if self.latency:
            await asyncio.sleep(self.latency)  # the request's way to Azure
        response = await forward(self._session, self.target, request, body)
        status = response.status
        if self.latency:
            await asyncio.sleep(self.latency)  # and the response's way back
        await response.prepare(request)
        await response.write_eof()
        operation = operation_of(self.kind, request.method, request.path_qs, dict(request.headers))
        self.calls.append(StorageCall(self.kind, operation, started, time.perf_counter(), status))
        return response


@contextlib.contextmanager
def proxied(azurite: Azurite, latency_ms: float) -> Iterator[tuple[str, list[StorageCall]]]:
    """Proxies for Azurite's blob, queue and table endpoints: the connection string that goes through them, and
    the list every call is recorded in."""
    calls: list[StorageCall] = []
    with (
        TimingProxy("blob", azurite.blob_port, latency_ms, calls) as blob,
        TimingProxy("queue", azurite.queue_port, latency_ms, calls) as queue,
        TimingProxy("table", azurite.table_port, latency_ms, calls) as table,
    ):
        connection = azurite.connection_string
        for proxy, port in ((blob, azurite.blob_port), (queue, azurite.queue_port), (table, azurite.table_port)):
            connection = connection.replace(f"127.0.0.1:{port}/", f"127.0.0.1:{proxy.port}/")
        yield connection, calls
