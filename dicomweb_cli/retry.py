"""Retries with back-off for every request of the `dicomweb` command: a night's batch job should ride out a
service restart or a "busy, retry shortly" (429, 503) instead of failing.

Retried: connection failures (the service is starting or restarting) and 429/503 answers, waiting what their
Retry-After says (seconds or an HTTP date, at most MAX_WAIT) or else 0.5 s, 1 s, 2 s ... Not retried: timeouts
while reading an answer (the service is working; a retry would only add load).
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Callable

import httpx

RETRIED_STATUSES = (429, 503)
RETRIED_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError,
                  httpx.WriteError)  # fmt: skip
FIRST_WAIT = 0.5
MAX_WAIT = 60.0


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait as the answer's Retry-After says, or None when it says nothing usable."""
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class RetryingTransport(httpx.AsyncBaseTransport):
    """Sends each request up to 1 + `retries` times. A request body must be replayable (bytes, or an iterable
    that starts over on each iteration, as the upload's is)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, retries: int, log: Callable[[str], None]) -> None:
        self.inner, self.retries, self.log = inner, retries, log

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = await self.inner.handle_async_request(request)
            except RETRIED_ERRORS as error:
                if last:
                    raise
                wait, why = self._backoff(attempt), str(error) or type(error).__name__
            else:
                if response.status_code not in RETRIED_STATUSES or last:
                    return response
                await response.aclose()
                asked = retry_after(response)
                wait = min(asked, MAX_WAIT) if asked is not None else self._backoff(attempt)
                why = f"HTTP {response.status_code}" + (" (Retry-After)" if asked is not None else "")
            where = f"{request.method} {request.url.path}"
            self.log(f"retry {attempt + 1}/{self.retries} of {where} in {wait:.1f} s: {why}")
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt

    @staticmethod
    def _backoff(attempt: int) -> float:
        """0.5, 1, 2, 4 ... seconds with up to 10% added, so many clients do not retry in step."""
        wait = min(FIRST_WAIT * 2**attempt, MAX_WAIT)
        return wait * (1 + random.random() / 10)

    async def aclose(self) -> None:
        await self.inner.aclose()
