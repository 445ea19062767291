"""Multipart over HTTP for the functions: request bodies as spooled parts, responses as streamed parts.

The format itself (parsing, part heads, delimiters) is dicomweb_wire.multipart, which the client shares.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from starlette.requests import Request
from starlette.responses import StreamingResponse

from dicomweb_wire.multipart import Part, closing, new_boundary, part_head, read_parts, related_content_type

from .problems import too_large
from .settings import max_parts, max_request_bytes


async def request_parts(request: Request, boundary: str | None) -> AsyncIterator[Part]:
    """A multipart/related body's parts, each complete and rewound; the caller closes each."""
    limit, count = max_parts(), 0
    async for part in read_parts(bounded_body(request), boundary):
        count += 1
        if count > limit:
            part.close()
            raise too_large(
                f"The request has more than {limit} parts (DICOM_MAX_PARTS); nothing was stored. "
                "Send the instances in several requests."
            )
        yield part


async def spool_body(request: Request, content_type: str) -> Part:
    """A single-part body (Content-Type: application/dicom) as one Part."""
    part = Part(headers={"content-type": content_type})
    try:
        async for chunk in bounded_body(request):
            part.file.write(chunk)
            part.size += len(chunk)
    except BaseException:
        part.close()
        raise
    part.file.seek(0)
    return part


async def bounded_body(request: Request) -> AsyncIterator[bytes]:
    """The body's chunks, refused (413) as soon as it is announced or found to be over the limit."""
    limit = max_request_bytes()
    message = (
        f"The request body is larger than {limit} bytes (DICOM_MAX_REQUEST_BYTES); nothing was stored. "
        "Send fewer or smaller instances per request."
    )
    announced = request.headers.get("content-length", "")
    if announced.isascii() and announced.isdigit() and (len(announced) > 20 or int(announced) > limit):
        raise too_large(message)  # refused before reading a byte, so a client announcing 10^12 waits for nothing
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise too_large(message)
        yield chunk


def multipart_response(
    contents: Iterable[bytes], part_type: str, headers: dict[str, str] | None = None
) -> StreamingResponse:
    """Parts already read (frames, bulk data), each with the same Content-Type, as one multipart/related body."""
    boundary = new_boundary()
    return StreamingResponse(
        _parts(contents, boundary, part_type),
        media_type=related_content_type(part_type.split(";")[0], boundary),
        headers=headers,
    )


async def _parts(contents: Iterable[bytes], boundary: str, part_type: str) -> AsyncIterator[bytes]:
    for content in contents:
        yield part_head(boundary, [("Content-Type", part_type)])
        yield content
        yield b"\r\n"
    yield closing(boundary)
