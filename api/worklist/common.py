"""What the worklist operations share: reading a DICOM JSON body, the UID in a bare query string
(`?{uid}`), the workitem's URL, and state conflicts as 409 (with PS3.18's Warning header when there is one)."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request

from archive.partitions import Partition
from dicom.values import DicomJson
from dicom.workitem import StateConflict, parse_dataset
from dicomweb_wire.mediatypes import parse_media_type
from shared.partitions import api_path
from shared.problems import DicomWebError, bad_request, too_large, unsupported_media_type
from shared.runner import require_uid
from shared.settings import public_base_url

MAX_BODY = 1024 * 1024
WARNING_AGENT = "dicomweb"
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def conflicts_as_409(operation: F) -> F:
    """Turn a StateConflict of the workitem layer into 409 Conflict (the runner knows only domain errors)."""

    @functools.wraps(operation)
    async def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return await operation(*args, **kwargs)
        except StateConflict as conflict:
            headers = {"Warning": f"299 {WARNING_AGENT}: {conflict.warning}"} if conflict.warning else None
            raise DicomWebError(409, conflict.message, headers) from conflict

    return run  # type: ignore[return-value]


async def read_dataset(request: Request, optional: bool = False) -> DicomJson:
    """The request's DICOM JSON dataset: 415 for another media type, 413 over MAX_BODY, 400 if malformed."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise too_large(f"A workitem request body is at most {MAX_BODY} bytes; leave bulk data out of it.")
    if optional and not body.strip():
        return {}
    content_type = request.headers.get("content-type", "")
    if not content_type or parse_media_type(content_type).type != "application/dicom+json":
        raise unsupported_media_type(
            f"Workitems are sent as application/dicom+json, not '{content_type[:80]}': set that Content-Type."
        )
    try:
        parsed = json.loads(bytes(body))
        json.dumps(parsed, ensure_ascii=False).encode()  # escapes of lone surrogates decode but cannot be stored
    except UnicodeEncodeError as error:
        raise bad_request("The body escapes a lone surrogate (e.g. \\ud800): send text as valid Unicode.") from error
    except (ValueError, RecursionError) as error:
        raise bad_request(f"The body is not valid JSON ({str(error)[:80]}); send a DICOM JSON dataset.") from error
    return parse_dataset(parsed)


def bare_query_uid(request: Request, names: tuple[str, ...], what: str) -> str | None:
    """The UID of `?{uid}` (PS3.18's form) or of one of the named parameters; None when there is none."""
    query = request.url.query
    if query and "=" not in query and "&" not in query:
        return require_uid(unquote(query), what)
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in names or (not value and key and key[0].isdigit()):
            return require_uid(value or key, what)
    return None


def workitem_url(api_version: str, partition: Partition, uid: str) -> str:
    return f"{public_base_url()}/{api_path(api_version, partition)}/workitems/{uid}"


def owner_of(claims: dict | None) -> str | None:
    return str(claims["oid"]) if claims and claims.get("oid") else None
