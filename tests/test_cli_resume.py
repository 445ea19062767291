"""An upload run again after an interruption sends only what the service does not have: the installed command
against the local host on Azurite, through tests/fault_proxy.py (which holds a request to interrupt the first run,
and, in the subclass here, keeps every request body the second run sends)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from aiohttp import web

from tests.conftest import LocalHost
from tests.fault_proxy import FaultProxy
from tests.test_cli import DICOMWEB, folder, run  # noqa: F401 - the fixture is used by name
from tests.test_cli_scripting import OnePost


class Recording(FaultProxy):
    """Forwards everything, keeping each request's method, path and body."""

    def __init__(self, target_port: int) -> None:
        super().__init__(target_port)
        self.sent: list[tuple[str, str, bytes]] = []

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.sent.append((request.method, request.path_qs, await request.read()))
        return await super()._handle(request)


@pytest.fixture()
def interrupted(folder: dict, service: LocalHost) -> dict:  # noqa: F811
    """The folder's upload killed while its second file (one a request) is on its way, as a night's batch job
    dies: the first file is stored, the rest is not."""
    (folder["root"] / "broken.dcm").unlink()
    with FaultProxy(service.port, OnePost(2, "hold")) as proxy:
        arguments = ["upload", str(folder["root"]), "--batch-size", "1", "--parallel", "1"]
        command = subprocess.Popen([str(DICOMWEB), "--url", f"http://127.0.0.1:{proxy.port}/v2", *arguments],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env={**os.environ, "DICOMWEB_AUTH": "none"})  # fmt: skip
        assert proxy.held.wait(timeout=60)
        command.kill()
        command.wait(timeout=30)
    return folder


def test_an_interrupted_upload_run_again_stores_the_rest_and_says_what_was_there(
    interrupted: dict, base_url: str
) -> None:
    again = run(base_url, "upload", str(interrupted["root"]))
    assert again.returncode == 0, again.stderr
    assert "stored: 4  already stored: 1  failed: 0" in again.stderr


def test_a_rerun_after_an_interruption_does_not_send_the_stored_files_again(
    interrupted: dict, service: LocalHost, base_url: str
) -> None:
    stored = run(base_url, "search", "instances", "--study", interrupted["study"], "-o", "tsv",
                 "--query", "[].SOPInstanceUID").stdout.split()  # fmt: skip
    assert len(stored) == 1
    with Recording(service.port) as proxy:
        again = run(f"http://127.0.0.1:{proxy.port}/v2", "upload", str(interrupted["root"]), "-o", "json")
    assert again.returncode == 0, again.stderr
    sent = b"".join(body for method, _, body in proxy.sent if method == "POST")
    for path, sop in interrupted["files"].items():
        assert (path.read_bytes() in sent) == (sop not in stored), f"{path.name} sent only if it was not stored"
    outcomes = [row["outcome"] for row in json.loads(again.stdout) if row["path"].endswith(".dcm")]
    assert sorted(outcomes) == ["already stored"] + ["stored"] * 4, "the already stored file is named as such"


def test_a_fresh_upload_asks_once_which_studies_exist_and_sends_every_file(
    folder: dict,  # noqa: F811
    service: LocalHost,
) -> None:
    (folder["root"] / "broken.dcm").unlink()
    with Recording(service.port) as proxy:
        result = run(f"http://127.0.0.1:{proxy.port}/v2", "upload", str(folder["root"]), "--batch-size", "5")
    assert result.returncode == 0, result.stderr
    assert [method for method, _, _ in proxy.sent] == ["GET", "POST"], "no per-instance questions for a new study"
    assert "stored: 5  already stored: 0" in result.stderr
