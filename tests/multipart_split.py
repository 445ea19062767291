"""An independent, deliberately simple multipart/related splitter for checking responses in tests."""

from __future__ import annotations

import re


def boundary_of(content_type: str) -> str:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    assert match, f"no boundary in {content_type!r}"
    return match.group(1)


def split(body: bytes, content_type: str) -> list[tuple[dict[str, str], bytes]]:
    delimiter = b"--" + boundary_of(content_type).encode()
    assert body.rstrip().endswith(delimiter + b"--"), "the body must end with the closing delimiter"
    parts = []
    for chunk in body.split(delimiter)[1:-1]:
        head, _, content = chunk[2:].partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n") if line)
        assert content.endswith(b"\r\n")
        parts.append(({k.lower(): v for k, v in headers.items()}, content[:-2]))
    return parts
