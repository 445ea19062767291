"""The `dicomweb` command in scripts: one-line errors, documented exit codes, retries, dry runs, a summary that
names every file. The installed command runs against the local host on Azurite; a 503 with Retry-After comes
from a tiny HTTP server in the test (the service cannot be made to send one on demand), an upload's 503 from
tests/fault_proxy.py in front of the real service, and the service-down case is a closed port.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from pydicom.uid import generate_uid

from dicomweb_cli.client import DicomWebClient
from local.azurite import free_port
from tests.conftest import LocalHost
from tests.dicom_factory import make_instance
from tests.fault_proxy import FaultProxy
from tests.test_cli import DICOMWEB, folder, run  # noqa: F401 - the fixture is used by name

CLOSED = f"http://127.0.0.1:{free_port()}/v2"


def test_an_unreachable_service_exits_5_with_one_line_naming_the_url() -> None:
    result = run(CLOSED, "--retries", "1", "search", "studies")
    assert result.returncode == 5
    assert result.stderr.strip().splitlines() == [
        f"error: cannot reach the service at {CLOSED} (All connection attempts failed); is it running? "
        "Check --url or DICOMWEB_URL"
    ]


def test_debug_adds_the_traceback_and_the_retries() -> None:
    result = run(CLOSED, "--retries", "1", "--debug", "search", "studies")
    assert result.returncode == 5
    assert "Traceback (most recent call last)" in result.stderr
    assert "retry 1/1 of GET /v2/studies" in result.stderr


def test_help_documents_the_exit_codes() -> None:
    assert "Exit codes: 0 ok; 1 some files failed" in run(CLOSED, "--help").stdout


def test_version_prints_the_installed_version() -> None:
    result = run(CLOSED, "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == "dicomweb 0.1.0"


def test_a_missing_study_exits_4_and_creates_no_folder(base_url: str, tmp_path: Path) -> None:
    result = run(base_url, "retrieve", generate_uid(), "--out", str(tmp_path / "out"))
    assert result.returncode == 4
    assert len(result.stderr.strip().splitlines()) == 1 and "not found (HTTP 404" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_request_the_service_refuses_as_written_exits_2(base_url: str) -> None:
    result = run(base_url, "search", "studies", "-f", "PatientID=x", "-f", "PatientID=y")
    assert result.returncode == 2
    assert "refused (HTTP 400" in result.stderr and "more than once" in result.stderr


def test_instance_without_series_is_a_usage_error(base_url: str) -> None:
    result = run(base_url, "delete", generate_uid(), "--instance", generate_uid(), "--yes")
    assert (result.returncode, result.stderr.strip()) == (2, "error: --instance needs --series")


class Busy(BaseHTTPRequestHandler):
    """Answers its first request 503 with Retry-After: 2, later ones 204 (no studies); notes when each came."""

    arrivals: ClassVar[list[float]] = []

    def do_GET(self) -> None:
        Busy.arrivals.append(time.monotonic())
        if len(Busy.arrivals) == 1:
            self.send_response(503)
            self.send_header("Retry-After", "2")
            self.send_header("Content-Length", "0")
        else:
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def busy() -> Iterator[str]:
    Busy.arrivals = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v2"
    server.shutdown()
    thread.join()


def test_a_503_is_retried_after_the_time_its_retry_after_names(busy: str) -> None:
    result = run(busy, "search", "studies", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    first, second = Busy.arrivals
    assert second - first >= 2.0  # the client waited what the service asked, not its own 0.5 s back-off


def test_a_503_that_lasts_exits_5(busy: str) -> None:
    result = run(busy, "--retries", "0", "search", "studies")
    assert result.returncode == 5
    assert "HTTP 503" in result.stderr and "try again later" in result.stderr


class OnePost:
    """A fault proxy rule: the `number`th POST meets `fault`, every other request passes."""

    def __init__(self, number: int, fault: str) -> None:
        self.number, self.fault, self.posts = number, fault, 0

    def __call__(self, method: str, path: str) -> str | None:
        self.posts += method == "POST"
        return self.fault if method == "POST" and self.posts == self.number else None


def test_an_upload_meeting_a_503_sends_the_batch_again_whole(folder: dict, service: LocalHost) -> None:  # noqa: F811
    (folder["root"] / "broken.dcm").unlink()
    first_post_busy = OnePost(1, "503")
    with FaultProxy(service.port, first_post_busy) as proxy:
        result = run(f"http://127.0.0.1:{proxy.port}/v2", "upload", str(folder["root"]), "--batch-size", "10")
    assert result.returncode == 0, result.stderr
    assert "stored: 5  already stored: 0  failed: 0" in result.stderr
    assert first_post_busy.posts == 2


def test_a_dry_run_lists_the_files_and_sends_nothing(folder: dict, base_url: str) -> None:  # noqa: F811
    result = run(base_url, "upload", str(folder["root"]), "--dry-run")
    assert result.returncode == 0
    assert sorted(result.stdout.split()) == sorted([*map(str, folder["files"]), str(folder["root"] / "broken.dcm")])
    assert "nothing sent" in result.stderr
    search = run(base_url, "search", "studies", "--json", "-f", f"StudyInstanceUID={folder['study']}")
    assert search.stdout.strip() == "[]"


def test_the_summary_names_every_skipped_and_failed_file_with_its_reason(folder: dict, base_url: str) -> None:  # noqa: F811
    result = run(base_url, "upload", str(folder["root"]))
    assert result.returncode == 1
    assert f"skipped {folder['root'] / 'notes.txt'}: not DICOM" in result.stderr
    assert f"failed {folder['root'] / 'broken.dcm'}: 43264" in result.stderr
    assert "skipped: 1" in result.stderr


def test_a_v2_warning_is_shown_as_a_warning(base_url: str, tmp_path: Path) -> None:
    path = tmp_path / "bad-date.dcm"
    path.write_bytes(make_instance(StudyDate="2020-01-01"))
    result = run(base_url, "upload", str(path))
    assert result.returncode == 0, result.stderr
    assert "warnings: 1" in result.stderr
    assert f"warning {path}: 1 invalid values left out of search and metadata" in result.stderr
    assert "StudyDate" in result.stderr


def test_a_file_without_the_preamble_is_uploaded(base_url: str, tmp_path: Path) -> None:
    study = generate_uid()
    path = tmp_path / "no-preamble"
    path.write_bytes(make_instance(study)[132:])  # starts with the meta information group
    result = run(base_url, "upload", str(path))
    assert result.returncode == 0, result.stderr
    assert "stored: 1" in result.stderr
    found = run(base_url, "search", "studies", "--json", "-f", f"StudyInstanceUID={study}")
    assert study in found.stdout


def test_an_upload_tells_its_progress_per_file_and_per_chunk_within_a_batch(folder: dict, base_url: str) -> None:  # noqa: F811
    (folder["root"] / "broken.dcm").unlink()
    files = sorted(folder["files"])
    told: list[tuple[int, int]] = []

    async def upload() -> None:
        async with httpx.AsyncClient(timeout=60) as http:
            await DicomWebClient(base_url, lambda: None, http).upload(
                files, 5, 1, lambda n, size: told.append((n, size))
            )

    asyncio.run(upload())
    assert [n for n, _ in told if n] == [1, 1, 1, 1, 1]  # one batch, yet each file moves the bar
    assert sum(size for _, size in told) == sum(path.stat().st_size for path in files)


def test_upload_with_o_json_lists_every_file_with_its_outcome(folder: dict, base_url: str) -> None:  # noqa: F811
    result = run(base_url, "upload", str(folder["root"]), "-o", "json")
    assert result.returncode == 1
    outcomes = {Path(row["path"]).name: (row["outcome"], row["reason"]) for row in json.loads(result.stdout)}
    assert outcomes["image0.dcm"] == ("stored", "")
    assert outcomes["notes.txt"][0] == "skipped" and "not DICOM" in outcomes["notes.txt"][1]
    assert outcomes["broken.dcm"][0] == "failed" and "43264" in outcomes["broken.dcm"][1]


def test_ctrl_c_ends_with_one_line_and_exit_130(folder: dict, service: LocalHost) -> None:  # noqa: F811
    with FaultProxy(service.port, OnePost(1, "hold")) as proxy:
        command = subprocess.Popen(
            [str(DICOMWEB), "--url", f"http://127.0.0.1:{proxy.port}/v2", "upload", str(folder["root"])],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "DICOMWEB_AUTH": "none"},
        )  # fmt: skip
        assert proxy.held.wait(timeout=60)
        command.send_signal(signal.SIGINT)
        _, stderr = command.communicate(timeout=30)
    assert command.returncode == 130
    assert stderr.strip().splitlines() == ["error: interrupted"]
