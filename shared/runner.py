"""Running an operation: authorize, check the path, call it, turn failures into problems, log and audit it.

Every function of the app goes through run(); operations and the layers below never pick HTTP statuses.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import re
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from dicomweb_wire.uids import MAX_UID_LENGTH, clean_uid, is_valid_uid

from . import audit
from .auth import AuthSettings, authenticate, caller_of, check_role
from .partitions import resolve as resolve_partition
from .problems import DicomWebError, bad_request, is_outage, problem_of

log = logging.getLogger("dicomweb")

API_VERSIONS = ("v1", "v2")
# Path parameters that are UIDs, and what they are called in messages.
PATH_UIDS = {"study": "study instance UID", "series": "series instance UID", "instance": "SOP instance UID"}

Operation = Callable[..., Awaitable[Response]]


def check_api_version(api_version: str) -> None:
    if api_version not in API_VERSIONS:
        raise DicomWebError(404, f"Unknown API version '{api_version[:20]}': use /v1/ or /v2/ in front of the path.")


def require_uid(value: str, what: str) -> str:
    """A UID from the URL path: a bad one is the client's mistake, so 400."""
    uid = clean_uid(value)
    if not is_valid_uid(uid):
        raise bad_request(
            f"The {what} '{value[:80]}' is not a valid DICOM UID: use digits and dots only, "
            f"end with a digit, at most {MAX_UID_LENGTH} characters."
        )
    return uid


def _takes(operation: Operation, parameter: str) -> bool:
    return parameter in inspect.signature(operation).parameters


def _checked_path(arguments: dict[str, Any]) -> dict[str, Any]:
    if "api_version" in arguments:
        check_api_version(arguments["api_version"])
    return {
        name: require_uid(value, PATH_UIDS[name]) if name in PATH_UIDS and value is not None else value
        for name, value in arguments.items()
    }


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
    """Authorize and call an operation; turn errors into problem responses; log and audit every request.

    The log line carries no PHI: no path (it holds UIDs), no query, no patient attributes. Every response says
    `Cache-Control: no-store`: most carry patient data, and errors describe it.
    """
    started = time.perf_counter()
    request_id = _request_id(request)
    event = audit.begin(request, operation.__name__, request_id, arguments)
    facts: dict[str, int] = {}
    _facts.set(facts)
    caller = caller_of(None)
    try:
        settings = AuthSettings.from_environment()
        claims = await authenticate(request.headers.get("authorization"), operation.required_access, settings)
        caller = caller_of(claims)
        check_role(claims, operation.required_access, settings)
        checked = _checked_path(arguments)
        if _takes(operation, "partition"):
            checked["partition"] = await resolve_partition(checked.get("partition"), operation, claims)
        if _takes(operation, "claims"):  # an operation that shows each caller only what they may use
            checked["claims"] = claims
        response = await operation(request, **checked)
    except Exception as error:
        problem = problem_of(error)
        if problem is None:
            log.error("unhandled error in %s request_id=%s: %s", operation.__name__, request_id, _where(error))
            problem = DicomWebError(500, f"Internal error; quote request id {request_id} to the operator.")
        elif is_outage(error) or problem.status == 503:
            cause = error.__cause__ if problem.status == 503 and error.__cause__ is not None else error
            log.warning("storage failing during %s request_id=%s: %s", operation.__name__, request_id, _where(cause))
        response = problem.to_response()
    response.headers["X-Request-Id"] = request_id
    response.headers["Cache-Control"] = "no-store"
    record = {
        "request_id": request_id,
        "operation": operation.__name__,
        "api": str(arguments.get("api_version", "")),
        "method": request.method,
        "status": response.status_code,
    }
    done = {"record": record, "facts": facts, "started": started, "event": event, "caller": caller}
    if isinstance(response, StreamingResponse):
        response.body_iterator = _logged_stream(response.body_iterator, done)
    else:
        _log(done, len(response.body or b""))
    return response


def _where(error: BaseException) -> str:
    """An error's type and the code lines it passed through, without its message: messages can quote patient
    data (a value that failed to parse, a storage key) and logs must not."""
    frames = traceback.extract_tb(error.__traceback__)
    return type(error).__name__ + " at " + " < ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}"
                                                    for f in reversed(frames[-12:]))  # fmt: skip


async def _logged_stream(chunks: AsyncIterator[Any], done: dict[str, Any]) -> AsyncIterator[Any]:
    """Streamed responses are logged and audited with what was really sent, just before their last chunk goes
    out (one chunk ahead), so the audit event exists by the time a client has the whole response."""
    sent, logged = 0, False
    try:
        current = None
        async for following in chunks:
            if current is not None:
                sent += len(current)
                yield current
            current = following
        if current is not None:
            sent += len(current)
            _log(done, sent)
            logged = True
            yield current
    finally:
        if not logged:
            _log(done, sent)


def _log(done: dict[str, Any], bytes_out: int) -> None:
    duration_ms = round((time.perf_counter() - done["started"]) * 1000, 1)
    fields = {**done["record"], "duration_ms": duration_ms, "bytes_out": bytes_out, **done["facts"]}
    log.info(" ".join(f"{name}={value}" for name, value in fields.items()), extra={"dicomweb": fields})
    audit.record(done["event"], done["caller"], done["record"]["status"], bytes_out, duration_ms)
