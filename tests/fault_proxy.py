"""An HTTP proxy on loopback in front of Azurite that fails chosen requests, to inject storage faults.

Azurite itself stays real; only the chosen requests are answered with 500 instead of being forwarded.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import aiohttp
from aiohttp import web

from shared.azurite import free_port

HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


class FaultProxy:
    def __init__(self, target_port: int, fail: Callable[[str, str], bool]) -> None:
        self.target = f"http://127.0.0.1:{target_port}"
        self.fail = fail
        self.port = free_port()
        self.failed = 0
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
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._session = self._loop.run_until_complete(self._new_session())
        self._ready.set()
        self._loop.run_forever()

    @staticmethod
    async def _new_session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(auto_decompress=False)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.fail(request.method, request.path_qs):
            self.failed += 1
            return web.Response(status=500, text="injected fault")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with self._session.request(
            request.method,
            self.target + request.path_qs,
            headers=headers,
            data=body,
            skip_auto_headers=("Content-Type", "Accept-Encoding", "User-Agent"),
        ) as response:
            content = await response.read()
            reply_headers = {k: v for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP}
            return web.Response(status=response.status, headers=reply_headers, body=content)
