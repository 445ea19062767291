"""A silent client cannot hold a connection open: the local host closes it after DICOM_IDLE_TIMEOUT_SECONDS.

These tests run their own host with a one-second timeout. They wait for the server to close the socket,
with a socket timeout far above one second as the upper bound, so no test sleeps or measures time.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from local.azurite import Azurite
from tests.conftest import LocalHost
from tests.dicom_factory import make_instance
from tests.helpers import RELATED

UPPER_BOUND = 30  # seconds a test waits for the close before calling the connection still open


@pytest.fixture(scope="module")
def impatient_service(azurite: Azurite) -> Iterator[LocalHost]:
    host = LocalHost(azurite.connection_string, DICOM_IDLE_TIMEOUT_SECONDS="1")
    yield host
    host.stop()


def connect(service: LocalHost) -> socket.socket:
    return socket.create_connection(("127.0.0.1", service.port), timeout=UPPER_BOUND)


def read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection; fails if it is still open after UPPER_BOUND."""
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server kept a silent connection open for {UPPER_BOUND} s")
    finally:
        connection.close()
    return received


def stow_headers(length: int) -> bytes:
    return (
        "POST /v2/studies HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/dicom+json\r\n"
        f"Content-Type: {RELATED}; boundary=b\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def test_a_connection_that_never_sends_a_request_is_closed(impatient_service: LocalHost) -> None:
    assert read_until_closed(connect(impatient_service)) == b""


def test_a_request_whose_headers_stop_half_way_is_closed(impatient_service: LocalHost) -> None:
    connection = connect(impatient_service)
    connection.sendall(b"POST /v2/studies HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    assert read_until_closed(connection) == b""


def test_a_request_that_announces_a_terabyte_and_sends_nothing_is_closed(impatient_service: LocalHost) -> None:
    connection = connect(impatient_service)
    connection.sendall(stow_headers(10**12))
    read_until_closed(connection)


def half_a_body(service: LocalHost) -> socket.socket:
    """A connection whose STOW request sent half its body, then stalls."""
    body = b"--b\r\nContent-Type: application/dicom\r\n\r\n" + make_instance() + b"\r\n--b--\r\n"
    connection = connect(service)
    connection.sendall(stow_headers(len(body)) + body[: len(body) // 2])
    return connection


def test_a_body_that_stops_half_way_is_closed(impatient_service: LocalHost) -> None:
    read_until_closed(half_a_body(impatient_service))


def test_a_stalled_body_is_answered_408_naming_the_setting(impatient_service: LocalHost) -> None:
    head, _, body = read_until_closed(half_a_body(impatient_service)).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ") and b"content-type: application/problem+json" in head.lower()
    assert json.loads(body)["status"] == 408 and "DICOM_IDLE_TIMEOUT_SECONDS" in json.loads(body)["detail"]
