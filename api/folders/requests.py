"""Reading the JSON bodies of the extension APIs (folders, shares): small objects, refused with 400 when not."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dicom.errors import Invalid

MAX_BODY_BYTES = 64 * 1024
MAX_TEXT = 2048


async def read_json(request: Request) -> dict[str, Any]:
    """The request's JSON object (64 KiB at most), or 400 saying what to send."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise Invalid(f"The body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        raise Invalid('The body is not JSON: send a JSON object, e.g. {"name": "Cardiology"}.') from None
    if not isinstance(value, dict):
        raise Invalid("The body must be a JSON object.")
    return value


def text_field(body: dict[str, Any], name: str, limit: int = MAX_TEXT) -> str | None:
    """A string field (None when absent), refused when not a string or longer than `limit`."""
    value = body.get(name)
    if value is not None and (not isinstance(value, str) or len(value) > limit):
        raise Invalid(f"'{name}' must be a string of at most {limit} characters.")
    return value


def json_response(value: object, status: int = 200) -> Response:
    return Response(json.dumps(value), status_code=status, media_type="application/json")
