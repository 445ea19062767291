"""What every operation shares: API versions, error rendering, and storage outages as 503."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from starlette.requests import Request
from starlette.responses import Response

from .auth import authorize
from .errors import DicomWebError, not_found
from .mediatypes import parse_accept

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


async def run(operation: Operation, request: Request, **arguments: Any) -> Response:
    """Call an operation; turn its errors into problem responses and log one line without PHI."""
    started = time.perf_counter()
    try:
        await authorize(request.headers.get("authorization"), operation.required_access)
        response = await operation(request, **arguments)
    except DicomWebError as error:
        response = error.to_response()
    except (ServiceRequestError, ServiceResponseError):
        log.warning("storage unreachable during %s", operation.__name__, exc_info=True)
        response = DicomWebError(
            503,
            "The storage service is unreachable; nothing was changed by this request. Retry shortly.",
            {"Retry-After": "5"},
        ).to_response()
    except Exception:
        log.exception("unhandled error in %s", operation.__name__)
        response = DicomWebError(500, "Internal error; the details are in the service log.").to_response()
    log.info(
        "operation=%s status=%s duration_ms=%.1f",
        operation.__name__,
        response.status_code,
        (time.perf_counter() - started) * 1000,
    )
    return response
