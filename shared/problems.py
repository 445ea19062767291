"""Problem responses (RFC 9457): the one place where failures become HTTP statuses."""

from __future__ import annotations

import json
from http import HTTPStatus

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from dicom.errors import ArchiveError, Busy, CannotProvide, Conflicting, Invalid, Missing
from dicomweb_wire.multipart import MalformedMultipart

TRANSIENT_STATUSES = (408, 429, 500, 502, 503, 504)
STATUS_OF: dict[type[Exception], int] = {
    Invalid: 400, MalformedMultipart: 400, Missing: 404, CannotProvide: 406, Conflicting: 409, Busy: 503,
}  # fmt: skip


class DicomWebError(Exception):
    """A request that cannot be served, decided at the HTTP layer; `detail` tells the caller what was wrong
    and how to fix it."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}

    def to_response(self) -> Response:
        body = {
            "type": "about:blank",
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
        }
        return Response(
            json.dumps(body),
            status_code=self.status,
            media_type="application/problem+json",
            headers=self.headers,
        )


def bad_request(detail: str) -> DicomWebError:
    return DicomWebError(400, detail)


def not_acceptable(detail: str) -> DicomWebError:
    return DicomWebError(406, detail)


def too_large(detail: str) -> DicomWebError:
    return DicomWebError(413, detail)


def unsupported_media_type(detail: str) -> DicomWebError:
    return DicomWebError(415, detail)


def is_outage(error: BaseException) -> bool:
    """Storage unreachable, timing out or failing on its side even after the SDK's retries."""
    if isinstance(error, (ServiceRequestError, ServiceResponseError)):
        return True
    return isinstance(error, HttpResponseError) and error.status_code in TRANSIENT_STATUSES


def storage_unavailable() -> DicomWebError:
    return DicomWebError(
        503,
        "The storage service is unreachable or failing; this request changed nothing that is visible. Retry shortly.",
        {"Retry-After": "5"},
    )


def problem_of(error: Exception) -> DicomWebError | None:
    """The problem a domain error or storage outage stands for; None for a fault of ours (500)."""
    if isinstance(error, DicomWebError):
        return error
    if isinstance(error, ArchiveError | MalformedMultipart):
        status = next(status for kind, status in STATUS_OF.items() if isinstance(error, kind))
        headers = {"Retry-After": str(error.retry_after_seconds)} if isinstance(error, Busy) else None
        return DicomWebError(status, str(error), headers)
    if is_outage(error):
        return storage_unavailable()
    if isinstance(error, ClientDisconnect):  # the client went away (or was idle too long): nothing was stored
        return bad_request("The client disconnected before the request body was complete; nothing was stored.")
    return None
