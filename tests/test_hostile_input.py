"""Hostile and broken input: every answer is a clear 4xx or a correct success; never a 500, a hang,
unbounded memory, or a stored corrupt instance.

Property tests (hypothesis) call the parsers directly; the named cases go through real HTTP; a short
coverage-guided fuzz run (atheris) per parser runs as a subprocess (`make fuzz` runs it for longer).
"""

from __future__ import annotations

import ast
import asyncio
import re
import socket
import struct
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.uid import generate_uid

from dicomweb_wire.multipart import read_parts
from tests import fuzz_targets
from tests.conftest import REPO, LocalHost
from tests.dicom_factory import make_instance
from tests.helpers import RELATED, failure_reasons, search, store

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- properties of the parsers ----------------------------------------------------------------------


@FAST
@given(st.binary(max_size=2000))
def test_any_bytes_as_a_multipart_body_give_parts_or_a_400(data: bytes) -> None:
    fuzz_targets.multipart(data)


@FAST
@given(st.text(max_size=300))
def test_any_accept_or_content_type_header_parses_or_gives_a_4xx(text: str) -> None:
    fuzz_targets.media_types(text.encode())


@FAST
@given(st.text(max_size=300))
def test_any_query_string_parses_or_gives_a_400(text: str) -> None:
    fuzz_targets.query(text.encode())


@FAST
@given(st.binary(max_size=3000))
def test_any_bytes_as_a_dicom_file_are_read_or_fail_with_a_reason(data: bytes) -> None:
    fuzz_targets.dicom(data)


SEED = make_instance(PatientName="Müller^Jürgen", rows=2, columns=2)


@FAST
@given(st.integers(132, len(SEED) - 1), st.binary(min_size=1, max_size=8))
def test_a_valid_file_with_any_bytes_overwritten_is_read_or_fails_with_a_reason(at: int, patch: bytes) -> None:
    fuzz_targets.dicom((SEED[:at] + patch + SEED[at + len(patch) :])[132:])


@FAST
@given(
    st.lists(st.binary(max_size=300), min_size=1, max_size=6),
    st.sampled_from(["b0undary", "x", "a'b(c)+_,-./:=? z"]),
    st.integers(1, 64),
)
def test_any_part_contents_come_back_exactly_whatever_the_chunking(
    contents: list[bytes], boundary: str, chunk: int
) -> None:
    delimiter = f"--{boundary}".encode()
    contents = [c.replace(b"\r\n" + delimiter, b"\r\n-" + delimiter) for c in contents]  # RFC 2046: may not occur
    body = b"".join(b"%s\r\nContent-Type: application/dicom\r\n\r\n%s\r\n" % (delimiter, c) for c in contents)
    body += delimiter + b"--\r\n"

    async def read() -> list[bytes]:
        found = []
        async for part in read_parts(fuzz_targets._chunks(body, chunk), boundary):
            found.append(part.file.read())
            part.close()
        return found

    assert asyncio.run(read()) == contents


# ---- table filters are never built from user input ------------------------------------------------------


def test_table_filters_are_literals_with_parameters_never_formatted_strings() -> None:
    for path in (REPO / "shared").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("query_entities", "query"):
                query_filter = node.args[0] if node.args else None
                assert not isinstance(query_filter, (ast.JoinedStr, ast.BinOp)), f"{path.name}:{node.lineno}"


# ---- through HTTP ---------------------------------------------------------------------------------------


def element(tag: tuple[int, int], vr: bytes, value: bytes, length: int | None = None) -> bytes:
    size = len(value) if length is None else length
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
        return struct.pack("<HH", *tag) + vr + b"\0\0" + struct.pack("<I", size) + value
    return struct.pack("<HH", *tag) + vr + struct.pack("<H", size) + value


def with_dataset_appended(extra: bytes) -> bytes:
    """A valid file with elements appended after the pixel data (they sort last: group 0x7FE1)."""
    return make_instance() + extra


def nested_sequences(depth: int) -> bytes:
    item = b""
    for _ in range(depth):
        sequence = element((0x0040, 0x0275), b"SQ", b"\xfe\xff\x00\xe0" + struct.pack("<I", len(item)) + item)
        item = sequence
    return item


BROKEN_FILES = {
    "truncated_in_the_header": make_instance()[:300],
    "truncated_in_the_pixel_data": make_instance(rows=64, columns=64)[:-100],
    "an_element_longer_than_the_file": make_instance()[:-40] + element((0x7FE1, 0x0010), b"OB", b"ab", 0x7FFF),
    "a_4_gb_declared_length": with_dataset_appended(element((0x7FE1, 0x0010), b"OB", b"", 0xFFFFFFF0)),
    "not_dicom_at_all": b"\x89PNG\r\n\x1a\n" + b"\0" * 200,
    "no_dicm_prefix": make_instance()[132:],
}


@pytest.mark.parametrize("name", list(BROKEN_FILES))
def test_broken_files_are_refused_with_a_reason_and_not_stored(client: httpx.Client, base_url: str, name: str) -> None:
    response = store(client, f"{base_url}/studies", [BROKEN_FILES[name]])
    assert response.status_code in (200, 409), response.text
    if response.status_code == 409:
        assert failure_reasons(response)[0] in (272, 43264)
    else:  # read as far as its header: must then come back exactly as sent
        (item,) = response.json()["00081199"]["Value"]
        retrieved = client.get(item["00081190"]["Value"][0], headers={"Accept": "application/dicom; transfer-syntax=*"})
        assert retrieved.content[128:] == BROKEN_FILES[name][128:]


def test_deeply_nested_sequences_are_stored_or_refused_without_a_crash(client: httpx.Client, base_url: str) -> None:
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    data = make_instance(study, series, sop)
    header_end = data.index(b"\xe0\x7f\x10\x00")  # insert before Pixel Data, keeping tag order
    nested = data[:header_end] + nested_sequences(200) + data[header_end:]
    response = store(client, f"{base_url}/studies", [nested])
    assert response.status_code in (200, 409)
    if response.status_code == 409:
        assert failure_reasons(response) == [272]


def test_a_body_without_any_boundary_is_a_400(client: httpx.Client, base_url: str) -> None:
    response = client.post(
        f"{base_url}/studies", content=b"no delimiter here", headers={"Content-Type": "multipart/related"}
    )
    assert response.status_code == 400 and "boundary" in response.json()["detail"]


def test_a_truncated_multipart_body_is_a_400_and_stores_nothing(client: httpx.Client, base_url: str) -> None:
    sop = generate_uid()
    whole = make_instance(sop=sop)
    body = b"--b\r\nContent-Type: application/dicom\r\n\r\n" + whole + b"\r\n--b\r\nContent-Type: application/d"
    response = client.post(f"{base_url}/studies", content=body, headers={"Content-Type": RELATED + "; boundary=b"})
    assert response.status_code == 400
    assert search(client, f"{base_url}/instances", SOPInstanceUID=sop) == []


def test_a_huge_part_header_is_refused_with_a_4xx(client: httpx.Client, base_url: str) -> None:
    body = b"--b\r\nX-Long: " + b"a" * 200_000 + b"\r\n\r\n" + make_instance() + b"\r\n--b--\r\n"
    response = client.post(f"{base_url}/studies", content=body, headers={"Content-Type": RELATED + "; boundary=b"})
    assert 400 <= response.status_code < 500 or response.status_code == 200


def test_thousands_of_empty_parts_get_one_failure_each_and_no_500(client: httpx.Client, base_url: str) -> None:
    body = b"".join(b"--b\r\nContent-Type: application/dicom\r\n\r\n\r\n" for _ in range(3000)) + b"--b--\r\n"
    response = client.post(
        f"{base_url}/studies", content=body, headers={"Content-Type": RELATED + "; boundary=b"}, timeout=300
    )
    assert response.status_code == 409
    assert failure_reasons(response) == [272] * 3000


def test_non_utf8_names_are_stored_and_found(client: httpx.Client, base_url: str) -> None:
    study = generate_uid()
    data = make_instance(study, SpecificCharacterSet="ISO_IR 100", PatientName="Gr\u00fcn^\u00c9lodie")
    assert store(client, f"{base_url}/studies", [data]).status_code == 200
    (found,) = search(client, f"{base_url}/studies", StudyInstanceUID=study, includefield="PatientName")
    assert found["00100010"]["Value"][0]["Alphabetic"] == "Grün^Élodie"


@pytest.mark.parametrize(
    "uid", ["1.2.3'%20or%20PartitionKey%20ne%20'", "..%2F..%2Fetc%2Fpasswd", "1.2%003", "1.2.3%2Fseries%2F4"]
)
def test_injection_in_path_uids_is_a_400(client: httpx.Client, base_url: str, uid: str) -> None:
    for url in (f"{base_url}/studies/{uid}", f"{base_url}/studies/{uid}/metadata", f"{base_url}/studies/{uid}/series"):
        response = client.get(url)
        assert response.status_code in (400, 404), url
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "value", ["x' or PartitionKey ne '", "' or 1 eq 1 or '", "a%27)", "*' or RowKey gt '", "\u0000\u00ff'"]
)
def test_odata_injection_in_query_values_finds_nothing_and_breaks_nothing(
    client: httpx.Client, base_url: str, value: str
) -> None:
    for keyword in ("PatientID", "PatientName", "AccessionNumber", "StudyInstanceUID"):
        response = client.get(f"{base_url}/studies", params={keyword: value})
        assert response.status_code in (204, 400), (keyword, response.status_code)


@pytest.mark.parametrize("value", ["\x1c2", "\u00b2", "1" * 40, "-1", " 5 x"])
def test_limit_and_offset_that_are_not_plain_numbers_are_a_400(client: httpx.Client, base_url: str, value: str) -> None:
    for name in ("limit", "offset"):
        response = client.get(f"{base_url}/studies", params={name: value})
        assert response.status_code == 400, (name, value)
        assert "whole number" in response.json()["detail"]


def test_an_oversize_query_value_is_a_400_naming_the_limit(client: httpx.Client, base_url: str) -> None:
    response = client.get(f"{base_url}/studies", params={"PatientID": "A" * 20_000})
    assert response.status_code == 400
    assert "PatientID" in response.json()["detail"] and "at most 1024" in response.json()["detail"]


def test_an_oversize_url_is_refused_with_a_4xx(service: LocalHost) -> None:
    with socket.create_connection(("127.0.0.1", service.port), timeout=30) as connection:
        connection.sendall(b"GET /v2/studies?PatientID=" + b"A" * 300_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        status_line = connection.recv(100).split(b"\r\n")[0]
    assert re.match(rb"HTTP/1.1 4\d\d", status_line), status_line


# ---- coverage-guided fuzzing (short here; `make fuzz` runs longer) ----------------------------------------

FUZZ_RUNS = 2000


@pytest.mark.parametrize("target", list(fuzz_targets.TARGETS))
def test_a_short_atheris_run_finds_no_crash(target: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.fuzz_targets", target, f"-runs={FUZZ_RUNS}", "-rss_limit_mb=1024",
         "-timeout=10", f"-artifact_prefix={tmp_path}/"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(rf"Done {FUZZ_RUNS} runs", result.stderr)
