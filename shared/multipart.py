"""Multipart over HTTP for the functions: request bodies as spooled parts, responses as streamed parts.

The format itself (parsing, part heads, delimiters) is dicomweb_wire.multipart, which the client shares.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from starlette.requests import Request
from starlette.responses import StreamingResponse

from dicomweb_wire.multipart import Part, closing, new_boundary, part_head, read_parts, related_content_type


def request_parts(request: Request, boundary: str | None) -> AsyncIterator[Part]:
    """A multipart/related body's parts, each complete and rewound; the caller closes each."""
    return read_parts(request.stream(), boundary)


async def spool_body(request: Request, content_type: str) -> Part:
    """A single-part body (Content-Type: application/dicom) as one Part."""
    part = Part(headers={"content-type": content_type})
    async for chunk in request.stream():
        part.file.write(chunk)
        part.size += len(chunk)
    part.file.seek(0)
    return part


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
