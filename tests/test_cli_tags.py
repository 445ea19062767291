"""`dicomweb tags` and `dicomweb operation`: extended query tags from the command line, end to end through the
installed command against a local host on Azurite with its own archive (tags are archive-wide) that polls its
operations queue every 0.1 s. A failed reindex comes from a tiny HTTP server in the test: the service cannot be
made to fail one on demand."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from pydicom.uid import generate_uid

from local.azurite import Azurite
from tests.archive import Archive
from tests.conftest import LocalHost
from tests.dicom_factory import make_instance
from tests.helpers import store
from tests.test_cli import run


@pytest.fixture(scope="module")
def host(azurite: Azurite) -> Iterator[LocalHost]:
    service = LocalHost(azurite.connection_string, DICOM_QUEUE_POLL_SECONDS="0.1", **Archive(azurite).settings)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def url(host: LocalHost) -> str:
    return f"{host.url}/v2"


def test_tags_add_wait_makes_instances_stored_before_searchable_and_says_so(client: httpx.Client, url: str) -> None:
    knee = generate_uid()
    store(client, f"{url}/studies", [make_instance(series=knee, BodyPartExamined="KNEE"), make_instance()])
    result = run(url, "tags", "add", "BodyPartExamined", "--level", "series", "--wait", "-o", "json")
    assert result.returncode == 0, result.stderr
    tag = json.loads(result.stdout)
    assert (tag["path"], tag["keyword"], tag["status"], tag["queryStatus"]) == (
        "00180015", "BodyPartExamined", "Ready", "Enabled",
    )  # fmt: skip
    assert "reindexing: 100% (completed)" in result.stderr
    found = run(url, "search", "series", "-f", "BodyPartExamined=KNEE", "-o", "tsv", "--query", "[].SeriesInstanceUID")
    assert found.stdout.split() == [knee]


def test_tags_add_without_wait_prints_the_operation_that_operation_get_wait_follows(url: str) -> None:
    started = run(url, "tags", "add", "StationName", "--level", "series", "-o", "tsv", "--query", "operationId")
    assert started.returncode == 0, started.stderr
    operation = started.stdout.strip()
    followed = run(url, "operation", "get", operation, "--wait", "-o", "tsv", "--query", "[status, percentComplete]")
    assert followed.returncode == 0, followed.stderr
    assert followed.stdout.split() == ["completed", "100"]


def test_tags_list_get_disable_enable_and_delete(url: str) -> None:
    assert run(url, "tags", "add", "OperatorsName", "--level", "study", "--wait").returncode == 0
    listed = run(url, "tags", "list", "-o", "tsv", "--query", "[].[keyword, level, queryStatus]")
    assert "OperatorsName\tStudy\tEnabled" in listed.stdout.splitlines()
    disabled = run(url, "tags", "disable", "OperatorsName", "-o", "tsv", "--query", "queryStatus")
    assert disabled.stdout.strip() == "Disabled"
    assert run(url, "tags", "get", "00081070", "-o", "tsv", "--query", "queryStatus").stdout.strip() == "Disabled"
    assert run(url, "tags", "enable", "OperatorsName", "-o", "tsv", "--query", "queryStatus").stdout.strip() == (
        "Enabled"
    )
    refused = run(url, "tags", "delete", "OperatorsName")
    assert refused.returncode == 2 and "--yes" in refused.stderr, "no confirmation when not at a terminal"
    assert run(url, "tags", "delete", "OperatorsName", "--yes").returncode == 0
    gone = run(url, "tags", "get", "OperatorsName")
    assert gone.returncode == 4 and "not found (HTTP 404" in gone.stderr


def test_tags_add_wait_exits_1_when_bad_values_leave_the_tag_disabled_and_errors_names_them(
    client: httpx.Client, url: str
) -> None:
    bad = generate_uid()
    store(client, f"{url}/studies", [make_instance(AcquisitionDate="20240102"),
                                     make_instance(sop=bad, AcquisitionDate="2024-13-45")])  # fmt: skip
    result = run(url, "tags", "add", "AcquisitionDate", "--level", "instance", "--wait")
    assert result.returncode == 1
    assert "1 instance(s) have values that break the VR" in result.stderr
    assert "tags errors AcquisitionDate" in result.stderr
    errors = run(url, "tags", "errors", "AcquisitionDate", "-o", "tsv", "--query", "[].sopInstanceUid")
    assert errors.stdout.split() == [bad]


def test_a_tag_the_service_refuses_exits_2_with_its_reason(url: str) -> None:
    result = run(url, "tags", "add", "PatientName", "--level", "study")
    assert result.returncode == 2
    assert "refused (HTTP 409" in result.stderr and len(result.stderr.strip().splitlines()) == 1


class FailingReindex(BaseHTTPRequestHandler):
    """A service whose reindex operations run, then fail."""

    looks = 0

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        FailingReindex.looks += 1
        status = "running" if FailingReindex.looks == 1 else "failed"
        self.send_response(202 if status == "running" else 200)
        self.end_headers()  # no length: the body ends with the connection (HTTP/1.0)
        self.wfile.write(json.dumps({"operationId": "op1", "status": status, "percentComplete": 40}).encode())


def test_operation_get_wait_exits_1_when_the_operation_fails() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FailingReindex)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = run(f"http://127.0.0.1:{server.server_address[1]}/v2", "operation", "get", "op1", "--wait",
                     "-o", "tsv", "--query", "status")  # fmt: skip
    finally:
        server.shutdown()
        thread.join()
    assert result.returncode == 1
    assert result.stdout.strip() == "failed"
    assert "reindexing: 40% (running)" in result.stderr
