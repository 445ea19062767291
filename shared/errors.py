"""One exception type for every client-visible failure, rendered as RFC 9457 problem JSON."""

from __future__ import annotations

import json
from http import HTTPStatus

from starlette.responses import Response


class DicomWebError(Exception):
    """A request that cannot be served; `detail` tells the caller what was wrong and how to fix it."""

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


def not_found(detail: str) -> DicomWebError:
    return DicomWebError(404, detail)


def not_acceptable(detail: str) -> DicomWebError:
    return DicomWebError(406, detail)


def unsupported_media_type(detail: str) -> DicomWebError:
    return DicomWebError(415, detail)


def storage_unavailable() -> DicomWebError:
    return DicomWebError(
        503,
        "The storage service is unreachable or failing; this request changed nothing that is visible. Retry shortly.",
        {"Retry-After": "5"},
    )
