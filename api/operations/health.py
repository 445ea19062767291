"""A health endpoint for the platform's probe: no authentication, no data, just whether storage answers."""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.requests import Request
from starlette.responses import Response

from archive.clients import get_storage
from shared.auth import Access, requires

log = logging.getLogger("dicomweb")
TIMEOUT_SECONDS = 10


@requires(Access.PUBLIC)
async def health(request: Request) -> Response:
    checks = {"blob": "unreachable", "table": "unreachable"}
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            storage = await get_storage()
            await storage.ping_blobs()
            checks["blob"] = "ok"
            await storage.ping_tables()
            checks["table"] = "ok"
    except Exception as error:
        log.warning("health check failed: %s", type(error).__name__)
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "healthy" if healthy else "unhealthy", "checks": checks}
    headers = {"Cache-Control": "no-store"} | ({} if healthy else {"Retry-After": "10"})
    return Response(json.dumps(body), status_code=200 if healthy else 503, media_type="application/json",
                    headers=headers)  # fmt: skip
