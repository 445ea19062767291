"""Request bodies are bounded: a configurable size (DICOM_MAX_REQUEST_BYTES) and number of parts (DICOM_MAX_PARTS),
refused with 413 and nothing stored; a multipart boundary longer than the parser takes is a 400, not a 500."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydicom.uid import generate_uid

from local.azurite import Azurite
from tests.conftest import LocalHost
from tests.dicom_factory import make_instance, multipart_body
from tests.helpers import RELATED, search, store

LIMIT = 1_000_000
PARTS = 5


@pytest.fixture(scope="module")
def limited(azurite: Azurite) -> Iterator[LocalHost]:
    host = LocalHost(azurite.connection_string, DICOM_MAX_REQUEST_BYTES=str(LIMIT), DICOM_MAX_PARTS=str(PARTS))
    yield host
    host.stop()


def _found(client: httpx.Client, url: str, study: str) -> list[dict]:
    return search(client, f"{url}/v2/studies", StudyInstanceUID=study)


def test_a_body_announced_over_the_limit_is_refused_before_it_is_sent(limited: LocalHost) -> None:
    with socket.create_connection(("127.0.0.1", limited.port), timeout=30) as connection:
        connection.sendall(
            b"POST /v2/studies HTTP/1.1\r\nHost: x\r\nContent-Type: application/dicom\r\n"
            b"Content-Length: 1000000000000\r\n\r\n"
        )
        answer = b""
        while b"DICOM_MAX" not in answer and (chunk := connection.recv(65536)):
            answer += chunk  # the head and the problem body may come in separate packets
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"DICOM_MAX_REQUEST_BYTES" in answer


def test_a_streamed_body_that_grows_past_the_limit_is_refused_and_nothing_is_stored(
    client: httpx.Client, limited: LocalHost
) -> None:
    study = generate_uid()
    first = multipart_body([make_instance(study)], "b")[: -len(b"--b--\r\n")]

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked, as a streaming client does
        yield first
        yield b"--b\r\nContent-Type: application/dicom\r\n\r\n"
        for _ in range(2 * LIMIT // 65536):
            yield bytes(65536)

    response = client.post(f"{limited.url}/v2/studies", content=chunks(),
                           headers={"Content-Type": f"{RELATED}; boundary=b"})  # fmt: skip
    assert response.status_code == 413
    assert "DICOM_MAX_REQUEST_BYTES" in response.json()["detail"]
    assert _found(client, limited.url, study) == []


def test_a_single_part_body_over_the_limit_is_refused(client: httpx.Client, limited: LocalHost) -> None:
    response = client.post(f"{limited.url}/v2/studies", content=iter([bytes(LIMIT + 1)]),
                           headers={"Content-Type": "application/dicom"})  # fmt: skip
    assert response.status_code == 413


def test_more_parts_than_allowed_are_refused_and_nothing_is_stored(client: httpx.Client, limited: LocalHost) -> None:
    study = generate_uid()
    response = store(client, f"{limited.url}/v2/studies", [make_instance(study) for _ in range(PARTS + 1)])
    assert response.status_code == 413
    assert "DICOM_MAX_PARTS" in response.json()["detail"]
    assert _found(client, limited.url, study) == []


def test_as_many_parts_as_allowed_are_stored(client: httpx.Client, limited: LocalHost) -> None:
    study = generate_uid()
    response = store(client, f"{limited.url}/v2/studies", [make_instance(study) for _ in range(PARTS)])
    assert response.status_code == 200


def test_a_boundary_longer_than_the_parser_takes_is_a_400_saying_so(client: httpx.Client, base_url: str) -> None:
    boundary = "b" * 300
    response = client.post(f"{base_url}/studies", content=multipart_body([make_instance()], boundary),
                           headers={"Content-Type": f"{RELATED}; boundary={boundary}"})  # fmt: skip
    assert response.status_code == 400
    assert "boundary is 300 characters" in response.json()["detail"]


def _store_log_line(log_file: Path) -> str:
    """The store request's log line, once the service has written it (polled: the client is gone by then)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = [line for line in log_file.read_text().splitlines() if "operation=store" in line]
        if lines:
            return lines[-1]
        time.sleep(0.05)
    pytest.fail("the service never logged the abandoned store")


def test_a_client_that_disconnects_mid_body_is_a_client_error_not_a_500(
    azurite: Azurite, tmp_path: Path, client: httpx.Client
) -> None:
    log_file = tmp_path / "service.log"
    host = LocalHost(azurite.connection_string, log_file=log_file)
    try:
        study = generate_uid()
        body = multipart_body([make_instance(study)], "b")
        with socket.create_connection(("127.0.0.1", host.port), timeout=30) as connection:
            connection.sendall(
                f"POST /v2/studies HTTP/1.1\r\nHost: x\r\nContent-Type: {RELATED}; boundary=b\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body[: len(body) // 2]
            )
        line = _store_log_line(log_file)
        assert "status=400" in line
        assert "Traceback" not in log_file.read_text() and "unhandled error" not in log_file.read_text()
        assert _found(client, host.url, study) == []
    finally:
        host.stop()
