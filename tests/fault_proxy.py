"""An HTTP proxy on loopback in front of Azurite that injects faults into chosen requests.

Azurite itself stays real; a rule picks, per request, whether it passes or meets a fault:
  "500", "503"  answered with that status instead of being forwarded
  "reset"       the connection is dropped without an answer
  "slow"        forwarded after a delay (SLOW_SECONDS)
  "hold"        never answered: the proxy signals `held` so a test can kill the service at that step
  "gate"        signals `held`, then forwarded once the test sets `gate` (another client acts meanwhile)
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable

import aiohttp
from aiohttp import web

from bench.storage_proxy import forward
from local.azurite import free_port

SLOW_SECONDS = 0.3
Rule = Callable[[str, str], str | None]


def never(method: str, path: str) -> str | None:
    return None


class FaultProxy:
    def __init__(self, target_port: int, rule: Rule = never) -> None:
        self.target = f"http://127.0.0.1:{target_port}"
        self.rule = rule
        self.port = free_port()
        self.faults = 0
        self.requests: Counter[str] = Counter()  # forwarded requests by method: what an operation costs
        self.held = threading.Event()
        self.gate = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        self._ready.wait(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._session.close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, handler_cancellation=True)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._session = self._loop.run_until_complete(self._new_session())
        self._ready.set()
        self._loop.run_forever()

    @staticmethod
    async def _new_session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(auto_decompress=False)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        fault = self.rule(request.method, request.path_qs)
        if fault is not None:
            self.faults += 1
        if fault in ("500", "503"):
            return web.Response(status=int(fault), text="injected fault")
        if fault == "reset":
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)  # never sent: the connection is gone
        if fault == "hold":
            self.held.set()
            await asyncio.Event().wait()  # until the caller goes away
        if fault == "gate":
            self.held.set()
            await asyncio.to_thread(self.gate.wait, 60)
        if fault == "slow":
            await asyncio.sleep(SLOW_SECONDS)
        self.requests[request.method] += 1
        return await forward(self._session, self.target, request, body)
