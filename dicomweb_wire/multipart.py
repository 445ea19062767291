"""multipart/related as a stream: parts are read as they arrive and spooled (memory up to a limit, then
disk); part heads and closing delimiters are written without holding a whole body."""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from tempfile import SpooledTemporaryFile
from typing import IO

from python_multipart.multipart import MultipartParser

# A part larger than this goes to a temporary file instead of memory.
SPOOL_MEMORY_LIMIT = 8 * 1024 * 1024
MAX_BOUNDARY_SNIFF = 1024
# RFC 2046 allows 70 characters; longer ones are accepted as far as the parser can take them.
MAX_BOUNDARY_LENGTH = 256


class MalformedMultipart(ValueError):
    """The body is not a well-formed multipart/related stream; the message says what is wrong."""


def new_spool() -> IO[bytes]:
    return SpooledTemporaryFile(max_size=SPOOL_MEMORY_LIMIT)


@dataclass
class Part:
    headers: dict[str, str] = field(default_factory=dict)
    file: IO[bytes] = field(default_factory=new_spool)
    size: int = 0

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    def close(self) -> None:
        self.file.close()


class _Collector:
    """Turns python-multipart's callbacks into finished, rewound Parts."""

    def __init__(self) -> None:
        self.finished: deque[Part] = deque()
        self.current: Part | None = None
        self.ended = False
        self._field = bytearray()
        self._value = bytearray()

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self.current = Part()

    def _header_end(self) -> None:
        assert self.current is not None
        name = self._field.decode("latin-1").strip().lower()
        self.current.headers[name] = self._value.decode("latin-1").strip()
        self._field.clear()
        self._value.clear()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        assert self.current is not None
        self.current.file.write(data[start:end])
        self.current.size += end - start

    def _part_end(self) -> None:
        assert self.current is not None
        self.current.file.seek(0)
        self.finished.append(self.current)
        self.current = None

    def _end(self) -> None:
        self.ended = True


async def _sniff_boundary(chunks: AsyncIterator[bytes]) -> tuple[str, bytes]:
    """For `multipart/related` sent without a boundary: take it from the body's first delimiter line."""
    buffered = b""
    async for chunk in chunks:
        buffered += chunk
        stripped = buffered.lstrip(b"\r\n \t")
        line_end = stripped.find(b"\n")
        if line_end >= 0 or len(buffered) > MAX_BOUNDARY_SNIFF:
            line = stripped[: line_end if line_end >= 0 else MAX_BOUNDARY_SNIFF].rstrip(b"\r \t")
            if line.startswith(b"--") and 2 < len(line) <= 72:
                return line[2:].decode("latin-1"), buffered
            break
    raise MalformedMultipart(
        "The Content-Type has no boundary parameter and the body does not start with a '--boundary' line. "
        'Send Content-Type: multipart/related; type="application/dicom"; boundary=<your boundary>.'
    )


async def _prepend(first: bytes, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in chunks:
        yield chunk


async def read_parts(chunks: AsyncIterator[bytes], boundary: str | None) -> AsyncIterator[Part]:
    """Yield each part once it is complete; the caller owns (and closes) it."""
    if not boundary:
        boundary, first = await _sniff_boundary(chunks)
        chunks = _prepend(first, chunks)
    if len(boundary) > MAX_BOUNDARY_LENGTH:
        raise MalformedMultipart(
            f"The multipart boundary is {len(boundary)} characters long; use at most 70 (RFC 2046), "
            f"this service accepts up to {MAX_BOUNDARY_LENGTH}."
        )
    collector = _Collector()
    parser = MultipartParser(boundary.encode("latin-1"), collector.callbacks())
    try:
        async for chunk in chunks:
            if chunk:
                parser.write(chunk)
            while collector.finished:
                yield collector.finished.popleft()
        parser.finalize()
        while collector.finished:
            yield collector.finished.popleft()
    except Exception as error:
        if isinstance(error, ValueError) or type(error).__name__.endswith("ParseError"):
            raise MalformedMultipart(f"The multipart body is malformed: {error}") from error
        raise
    finally:
        if collector.current is not None:
            collector.current.close()
        for part in collector.finished:
            part.close()
    if not collector.ended and (collector.current is not None or _saw_any(parser)):
        raise MalformedMultipart(
            f"The multipart body ended before its closing delimiter '--{boundary}--': it was truncated."
        )


def _saw_any(parser: MultipartParser) -> bool:
    # python-multipart's state 0 is "start": nothing but (at most) a preamble was read.
    return getattr(parser, "state", 0) != 0


# ---- writing ----------------------------------------------------------------------------------------


def new_boundary() -> str:
    return secrets.token_hex(16)


def part_head(boundary: str, headers: Iterable[tuple[str, str]]) -> bytes:
    lines = [f"--{boundary}"] + [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def closing(boundary: str) -> bytes:
    return f"--{boundary}--\r\n".encode("latin-1")


def related_content_type(part_type: str, boundary: str) -> str:
    return f'multipart/related; type="{part_type}"; boundary={boundary}'
