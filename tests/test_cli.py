"""The `dicomweb` command line against the local host on Azurite, with auth off and on.

Auth on: msal talks to a stand-in for Entra ID's endpoints (tests/entra.py), the only fake; the
tokens it hands out are validated by the real service.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.uid import generate_uid

from dicomweb_cli import cli
from dicomweb_cli.client import folder_name, instance_file_name
from tests.conftest import LocalHost
from tests.dicom_factory import make_instance
from tests.entra import CLIENT_ID, OWNER, READER, TENANT, FakeEntraHttp, SigningKey
from tests.helpers import store

REPO = Path(__file__).resolve().parent.parent
DICOMWEB = Path(sys.executable).parent / "dicomweb"
SERVER_PACKAGES = ("shared", "api", "archive", "dicom", "local")


def run(url: str, *arguments: str, stdin: str | None = None, **settings: str) -> subprocess.CompletedProcess:
    """The installed `dicomweb` command, as a person or script runs it."""
    env = {**os.environ, "DICOMWEB_URL": url, "DICOMWEB_AUTH": "none", "COLUMNS": "250", **settings}
    return subprocess.run(
        [str(DICOMWEB), *arguments], capture_output=True, text=True, env=env, input=stdin, timeout=120
    )


@pytest.fixture()
def folder(tmp_path: Path) -> dict:
    """Five instances of one study in nested folders, one invalid instance, and a file that is not DICOM."""
    study, series = generate_uid(), generate_uid()
    patient = f"CLI-{generate_uid()[-10:]}"
    root = tmp_path / "scans"
    files = {}
    for number in range(5):
        path = root / f"sub{number % 2}" / f"image{number}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(make_instance(study, series, PatientID=patient, InstanceNumber=number + 1))
        files[path] = pydicom.dcmread(path).SOPInstanceUID
    (root / "notes.txt").write_text("not an image")
    (root / "broken.dcm").write_bytes(make_instance(PatientID=patient, SeriesInstanceUID="abc.123"))
    return {"root": root, "study": study, "series": series, "patient": patient, "files": files}


def test_help_is_installed_as_a_command() -> None:
    result = run("http://unused", "--help")
    assert result.returncode == 0
    assert "upload" in result.stdout and "retrieve" in result.stdout


def test_upload_reports_stored_failed_and_skipped_and_exits_nonzero_on_failures(folder: dict, base_url: str) -> None:
    result = run(base_url, "upload", str(folder["root"]), "--batch-size", "2", "--parallel", "3")
    assert result.returncode == 1
    assert "stored: 5  already stored: 0  failed: 1  skipped: 1" in result.stderr
    assert "broken.dcm" in result.stderr and "43264" in result.stderr


def test_upload_shows_files_bytes_and_speed_on_a_terminal(folder: dict, base_url: str) -> None:
    (folder["root"] / "broken.dcm").unlink()
    total = sum(path.stat().st_size for path in folder["files"])
    result = run(base_url, "upload", str(folder["root"]), TTY_COMPATIBLE="1", NO_COLOR="1")  # rich: a terminal
    final = [line for line in result.stderr.splitlines() if "uploading" in line][-1]
    assert re.search(rf"5/5 files .*{total / 1000:.1f}/{total / 1000:.1f} kB .*(\?|[\d.]+ [kMG]?B/s)", final), final


def test_uploading_again_reports_already_stored(folder: dict, base_url: str) -> None:
    run(base_url, "upload", str(folder["root"]))
    (folder["root"] / "broken.dcm").unlink()
    result = run(base_url, "upload", str(folder["root"]))
    assert result.returncode == 0
    assert "stored: 0  already stored: 5  failed: 0" in result.stderr


def test_search_prints_a_table_or_json(folder: dict, base_url: str) -> None:
    run(base_url, "upload", str(folder["root"]))
    table = run(base_url, "search", "studies", "-f", f"PatientID={folder['patient']}")
    assert table.returncode == 0
    assert table.stdout.startswith("StudyInstanceUID") and folder["study"] in table.stdout
    as_json = run(base_url, "search", "instances", "--study", folder["study"], "--json")
    assert len(json.loads(as_json.stdout)) == 5


def test_retrieve_flat_writes_one_file_per_instance(folder: dict, base_url: str, tmp_path: Path) -> None:
    run(base_url, "upload", str(folder["root"]))
    result = run(base_url, "retrieve", folder["study"], "--out", str(tmp_path / "out"), "--flat")
    assert result.returncode == 0, result.stderr
    written = {path.name: path.read_bytes() for path in (tmp_path / "out").iterdir()}
    assert written.keys() == {f"{uid}.dcm" for uid in folder["files"].values()}
    for path, uid in folder["files"].items():
        assert written[f"{uid}.dcm"][128:] == path.read_bytes()[128:]


def test_retrieve_writes_study_series_instance_folders_by_default(folder: dict, base_url: str, tmp_path: Path) -> None:
    run(base_url, "upload", str(folder["root"]))
    result = run(base_url, "retrieve", folder["study"], "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    written = {str(path.relative_to(tmp_path / "out")) for path in (tmp_path / "out").rglob("*.dcm")}
    assert written == {f"{folder['study']}/{folder['series']}/{uid}.dcm" for uid in folder["files"].values()}


def test_metadata_shows_chosen_tags(folder: dict, base_url: str) -> None:
    run(base_url, "upload", str(folder["root"]))
    uid = next(iter(folder["files"].values()))
    result = run(base_url, "metadata", folder["study"], folder["series"], uid, "--tags", "PatientID,00080060", "--json")
    assert json.loads(result.stdout) == {
        "00080060": {"vr": "CS", "Value": ["CT"]},
        "00100020": {"vr": "LO", "Value": [folder["patient"]]},
    }


def test_delete_asks_for_confirmation_and_refuses_without_a_terminal(folder: dict, base_url: str) -> None:
    run(base_url, "upload", str(folder["root"]))
    refused = run(base_url, "delete", folder["study"], stdin="yes\n")
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    assert run(base_url, "delete", folder["study"], "--yes").returncode == 0
    assert run(base_url, "search", "studies", "--json", "-f", f"StudyInstanceUID={folder['study']}").stdout == "[]\n"


def test_the_client_installs_alone_into_a_clean_virtual_environment_and_runs(
    tmp_path: Path, base_url: str, client: httpx.Client
) -> None:
    # What a user gets from `pip install`: only pyproject.toml and the two client packages, no server code to lean on.
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(REPO / "pyproject.toml", source)
    for package in ("dicomweb_cli", "dicomweb_wire"):
        shutil.copytree(REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60)
    env = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "VIRTUAL_ENV")}
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", str(source)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr

    (site_packages,) = venv.glob("lib/python*/site-packages")
    assert (site_packages / "dicomweb_cli").is_dir() and (site_packages / "dicomweb_wire").is_dir()
    leaked = [
        name for name in SERVER_PACKAGES if (site_packages / name).exists() or (site_packages / f"{name}.py").exists()
    ]
    assert leaked == [], f"server packages installed with the client: {leaked}"

    def dicomweb(*arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(venv / "bin" / "dicomweb"), *arguments],
            capture_output=True, text=True, env={**env, "COLUMNS": "250"}, cwd=tmp_path, timeout=60,
        )  # fmt: skip

    help_text = dicomweb("--help")
    assert help_text.returncode == 0, help_text.stderr
    assert "upload" in help_text.stdout and "retrieve" in help_text.stdout

    study, patient = generate_uid(), f"CLEAN-{generate_uid()[-10:]}"
    assert store(client, f"{base_url}/studies", [make_instance(study, PatientID=patient)]).status_code == 200
    found = dicomweb("--url", base_url, "search", "studies", "-f", f"PatientID={patient}", "--json")
    assert found.returncode == 0, found.stderr
    (result,) = json.loads(found.stdout)
    assert result["0020000D"]["Value"] == [study]
    assert result["00100020"]["Value"] == [patient]


# ---- with authentication on -------------------------------------------------------------------


@pytest.fixture()
def entra_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    cache = tmp_path / "cache" / "msal.json"
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "test-secret")
    monkeypatch.setenv("DICOMWEB_SCOPE", f"api://{CLIENT_ID}/.default")
    monkeypatch.setenv("DICOMWEB_TOKEN_CACHE", str(cache))
    return cache


def test_service_principal_uploads_with_client_credentials(
    folder: dict, secured_service: LocalHost, signing_key: SigningKey, entra_env: Path, capsys: pytest.CaptureFixture
) -> None:
    entra = FakeEntraHttp(signing_key, [OWNER])
    (folder["root"] / "broken.dcm").unlink()
    url = f"{secured_service.url}/v2"
    assert cli.main(["--url", url, "--auth", "client", "upload", str(folder["root"])], http_client=entra) == 0
    assert entra.grants == ["client_credentials"]
    assert entra.secrets == ["test-secret"]
    assert "stored: 5" in capsys.readouterr().err


def test_a_person_signs_in_once_with_a_device_code(
    folder: dict, secured_service: LocalHost, signing_key: SigningKey, entra_env: Path, capsys: pytest.CaptureFixture
) -> None:
    url = f"{secured_service.url}/v2"
    first = FakeEntraHttp(signing_key, [READER])
    assert cli.main(["--url", url, "--auth", "device", "search", "studies", "--json"], http_client=first) == 0
    assert first.device_flows == 1
    assert "ABCD-EFGH" in capsys.readouterr().err
    assert entra_env.stat().st_mode & 0o777 == 0o600, "the token cache is private to its owner"
    later = FakeEntraHttp(signing_key, [READER])
    assert cli.main(["--url", url, "--auth", "device", "search", "studies", "--json"], http_client=later) == 0
    assert later.device_flows == 0, "the cached sign-in is reused"


def test_a_reader_cannot_delete_exits_3_and_is_told_why(
    secured_service: LocalHost, signing_key: SigningKey, entra_env: Path, capsys: pytest.CaptureFixture
) -> None:
    entra = FakeEntraHttp(signing_key, [READER])
    url = f"{secured_service.url}/v2"
    assert cli.main(["--url", url, "--auth", "client", "delete", generate_uid(), "--yes"], http_client=entra) == 3
    assert "not allowed (HTTP 403" in capsys.readouterr().err


def test_missing_sign_in_settings_are_named_and_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "DICOMWEB_SCOPE", "DICOMWEB_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["--auth", "client", "search", "studies"]) == 3
    assert "AZURE_TENANT_ID" in capsys.readouterr().err


def test_token_prints_an_access_token_for_curl(
    secured_service: LocalHost, signing_key: SigningKey, entra_env: Path, capsys: pytest.CaptureFixture
) -> None:
    entra = FakeEntraHttp(signing_key, [READER])
    assert cli.main(["--auth", "client", "token"], http_client=entra) == 0
    token = capsys.readouterr().out.strip()
    curl = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Authorization: Bearer {token}",
         f"{secured_service.url}/v2/studies?PatientID=nobody"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert curl.stdout == "204"


@pytest.mark.parametrize(
    ("uid", "name"),
    [
        ("1.2.3", "1.2.3.dcm"),
        ("1.2.3\0", "1.2.3.dcm"),
        ("../../etc/cron.d/x", "instance-4.dcm"),
        ("", "instance-4.dcm"),
    ],
)
def test_retrieved_files_are_named_by_uid_and_never_by_a_path(uid: str, name: str) -> None:
    # The UIDs come from the server's response; a hostile server must not steer where files are written.
    assert instance_file_name(uid, 4) == name


def test_retrieve_asks_for_the_transfer_syntax_given(base_url: str, tmp_path: Path) -> None:
    study, explicit = generate_uid(), "1.2.840.10008.1.2.1"
    stored = tmp_path / "implicit.dcm"
    stored.write_bytes(make_instance(study, transfer_syntax="1.2.840.10008.1.2"))
    assert run(base_url, "upload", str(stored)).returncode == 0
    out = tmp_path / "out"
    result = run(base_url, "retrieve", study, "--out", str(out), "--flat", "--transfer-syntax", explicit)
    assert result.returncode == 0, result.stderr
    (written,) = out.iterdir()
    assert pydicom.dcmread(written).file_meta.TransferSyntaxUID == explicit


@pytest.mark.parametrize(("uid", "name"), [("1.2.3", "1.2.3"), ("../..", "unknown-series"), ("", "unknown-series")])
def test_retrieved_folders_are_named_by_uid_and_never_by_a_path(uid: str, name: str) -> None:
    assert folder_name(uid, "series") == name
