"""What every operation shares: API versions, error rendering, and storage outages as 503."""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from .auth import authorize
from .errors import DicomWebError, not_found, storage_unavailable
from .mediatypes import parse_accept
from .storage import is_outage

log = logging.getLogger("dicomweb")

API_VERSIONS = ("v1", "v2")
DICOM_JSON = "application/dicom+json"

Operation = Callable[..., Awaitable[Response]]


def check_version(version: str) -> str:
    if version not in API_VERSIONS:
        raise not_found(f"Unknown API version '{version[:20]}': use /v1/ or /v2/ in front of the path.")
    return version


def require_json_accept(request: Request) -> None:
    """Store, metadata and search answer DICOM JSON; `application/json`, `*/*` or no Accept also do."""
    ranges = parse_accept(request.headers.get("accept"))
    if not ranges or any(r.matches(DICOM_JSON) or r.type == "application/json" for r in ranges):
        return
    raise DicomWebError(
        406,
        f"This resource is returned as {DICOM_JSON}; the Accept header '{request.headers['accept'][:200]}' "
        f"does not allow it. Send Accept: {DICOM_JSON}.",
    )


_facts: contextvars.ContextVar[dict[str, int] | None] = contextvars.ContextVar("request_facts", default=None)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def note(**facts: int) -> None:
    """Count something about the current request (instances, bytes) for its log line."""
    current = _facts.get()
    if current is not None:
        for name, value in facts.items():
            current[name] = current.get(name, 0) + value


def _request_id(request: Request) -> str:
    given = request.headers.get("x-request-id", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


async def run(operation: Operation, request: Request, **arguments: Any) -> Response:
    """Authorize and call an operation; turn errors into problem responses; log one line per request.

    The log line carries no PHI: no path (it holds UIDs), no query, no patient attributes.
    """
    started = time.perf_counter()
    request_id = _request_id(request)
    facts: dict[str, int] = {}
    _facts.set(facts)
    try:
        await authorize(request.headers.get("authorization"), operation.required_access)
        response = await operation(request, **arguments)
    except DicomWebError as error:
        response = error.to_response()
    except Exception as error:
        if is_outage(error):
            log.warning("storage failing during %s request_id=%s", operation.__name__, request_id, exc_info=True)
            response = storage_unavailable().to_response()
        else:
            log.exception("unhandled error in %s request_id=%s", operation.__name__, request_id)
            detail = f"Internal error; quote request id {request_id} to the operator."
            response = DicomWebError(500, detail).to_response()
    response.headers["X-Request-Id"] = request_id
    record = {
        "request_id": request_id,
        "operation": operation.__name__,
        "api": str(arguments.get("version", "")),
        "method": request.method,
        "status": response.status_code,
    }
    if isinstance(response, StreamingResponse):
        response.body_iterator = _logged_stream(response.body_iterator, record, facts, started)
    else:
        _log(record, facts, started, len(response.body or b""))
    return response


async def _logged_stream(
    chunks: AsyncIterator[Any], record: dict[str, Any], facts: dict[str, int], started: float
) -> AsyncIterator[Any]:
    """Streamed responses are logged when the last byte is sent, with what was really sent."""
    sent = 0
    try:
        async for chunk in chunks:
            sent += len(chunk)
            yield chunk
    finally:
        _log(record, facts, started, sent)


def _log(record: dict[str, Any], facts: dict[str, int], started: float, bytes_out: int) -> None:
    fields = {**record, "duration_ms": round((time.perf_counter() - started) * 1000, 1), "bytes_out": bytes_out,
              **facts}  # fmt: skip
    log.info(" ".join(f"{name}={value}" for name, value in fields.items()), extra={"dicomweb": fields})
