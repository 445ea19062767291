"""Unit tests of the streaming multipart/related reader, called directly (no host, no storage)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from dicomweb_wire.multipart import MalformedMultipart, read_parts
from shared.problems import problem_of


async def chunked(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def parse(body: bytes, boundary: str | None, chunk: int = 65536) -> list[tuple[dict[str, str], bytes]]:
    async def collect() -> list[tuple[dict[str, str], bytes]]:
        parts = []
        async for part in read_parts(chunked(body, chunk), boundary):
            parts.append((part.headers, part.file.read()))
            part.close()
        return parts

    return asyncio.run(collect())


BODY = (
    b'--XyZ\r\nContent-Type: application/dicom\r\nContent-Disposition: attachment; name="f"\r\n\r\n'
    b"first\r\n--XyZ-not-a-boundary\r\n"
    b"\r\n--XyZ\r\nContent-Type: application/dicom\r\n\r\nsecond\r\n--XyZ--\r\n"
)


@pytest.mark.parametrize("chunk", [1, 7, 64, 65536])
def test_parts_survive_any_chunking(chunk: int) -> None:
    parts = parse(BODY, "XyZ", chunk)
    assert [content for _, content in parts] == [b"first\r\n--XyZ-not-a-boundary\r\n", b"second"]


def test_boundary_like_text_inside_data_stays_data() -> None:
    (first, _) = parse(BODY, "XyZ")
    assert b"--XyZ-not-a-boundary" in first[1]


def test_part_headers_are_lower_cased_names() -> None:
    (first, _) = parse(BODY, "XyZ")
    assert first[0]["content-type"] == "application/dicom"
    assert first[0]["content-disposition"] == 'attachment; name="f"'


def test_missing_boundary_parameter_is_taken_from_the_body() -> None:
    assert len(parse(b"\r\n" + BODY, None)) == 2


def test_body_without_a_delimiter_line_and_no_boundary_is_400() -> None:
    with pytest.raises(MalformedMultipart) as error:
        parse(b"just some bytes\r\n", None)
    assert problem_of(error.value).status == 400


def test_truncated_body_is_400() -> None:
    with pytest.raises(MalformedMultipart) as error:
        parse(BODY[:60], "XyZ")
    assert problem_of(error.value).status == 400
    assert "truncated" in str(error.value)


def test_only_the_closing_delimiter_means_no_parts() -> None:
    assert parse(b"--XyZ--\r\n", "XyZ") == []


def test_binary_data_with_crlf_and_nul_bytes_is_kept_exactly() -> None:
    payload = bytes(range(256)) * 40 + b"\r\n\r\n--X"
    body = b"--B\r\n\r\n" + payload + b"\r\n--B--"
    ((_, content),) = parse(body, "B", 13)
    assert content == payload
