"""The servers a benchmark drives: ours (local host on Azurite) and, for comparison, Orthanc."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from local.azurite import Azurite, free_port, wait_for_port

REPO = Path(__file__).resolve().parent.parent


def memory_kib(pid: int) -> dict[str, int]:
    """Resident (VmRSS) and peak resident (VmHWM) memory of a process, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def cpu_seconds(pid: int) -> float:
    """A process's user + system CPU time so far, all threads (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def azurite_version() -> str:
    """The Azurite that package.json pinned and npm installed."""
    package = REPO / "node_modules" / "azurite" / "package.json"
    return json.loads(package.read_text())["version"] if package.exists() else "(version unknown)"


@dataclass
class Server:
    name: str
    base_url: str  # with the API version, e.g. http://127.0.0.1:7071/v2
    pid: int | None  # the process whose memory is reported, when it is visible
    storage: str = ""  # the connection string of the storage it runs on, when it is ours


@contextlib.contextmanager
def _process(command: list[str], port: int, **popen: object) -> Iterator[subprocess.Popen]:
    """A server process, ready once it listens on `port`, stopped on exit."""
    process = subprocess.Popen(command, **popen)  # type: ignore[call-overload]
    try:
        wait_for_port(port, process)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=60)


@contextlib.contextmanager
def local_host(connection_string: str, workdir: Path | None = None, **settings: str) -> Iterator[Server]:
    """Our service (python -m local.host) on a free port, on the given storage."""
    port = free_port()
    env = {
        **os.environ,
        "DICOM_STORAGE_CONNECTION_STRING": connection_string,
        "DICOM_AUTH_ENABLED": "false",
        "DICOM_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "LOG_LEVEL": "WARNING",
        **({"TMPDIR": str(workdir)} if workdir else {}),  # where the server spools large parts
        **settings,
    }
    command = [sys.executable, "-m", "local.host", "--port", str(port)]
    with _process(command, port, cwd=REPO, env=env) as server:
        yield Server("ours", f"http://127.0.0.1:{port}/v2", server.pid)


@contextlib.contextmanager
def our_service(workdir: Path | None = None, **settings: str) -> Iterator[Server]:
    """Azurite (on disk in workdir, else in memory) and the local host, both stopped on exit."""
    azurite = Azurite(location=workdir / "azurite" if workdir else None).start()
    try:
        with local_host(azurite.connection_string, workdir, **settings) as server:
            server.storage = azurite.connection_string
            yield server
    finally:
        azurite.stop()


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A folder on disk for one run, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def azurite_storage(mode: str) -> Iterator[Azurite]:
    """Azurite persisting on disk in a scratch folder (as `make run` does in .azurite/) or in memory."""
    with scratch() as folder:
        azurite = Azurite(location=folder / "azurite" if mode == "disk" else None).start()
        try:
            yield azurite
        finally:
            azurite.stop()


def add_azurite_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--azurite", choices=("disk", "memory"), default="disk",
                        help="Azurite persisting to a scratch folder on disk (as make run) or in memory")  # fmt: skip


ORTHANC_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def orthanc_installed() -> bool:
    return shutil.which("Orthanc") is not None and ORTHANC_PLUGIN.exists()


@contextlib.contextmanager
def orthanc(workdir: Path) -> Iterator[Server]:
    """Orthanc with its DICOMweb plugin, storing under workdir. It listens on every interface (it has no
    bind-address option), so callers run it inside a network namespace of their own (see bench.run)."""
    port = free_port()
    config = {
        "Name": "bench",
        "StorageDirectory": str(workdir / "orthanc-storage"),
        "IndexDirectory": str(workdir / "orthanc-index"),
        "HttpPort": port,
        "DicomServerEnabled": False,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "StorageCompression": False,
        "Plugins": [str(ORTHANC_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
    }
    (workdir / "orthanc.json").write_text(json.dumps(config))
    with (
        (workdir / "orthanc.log").open("w") as log,
        _process(["Orthanc", str(workdir / "orthanc.json")], port, stdout=log, stderr=subprocess.STDOUT) as process,
    ):
        yield Server("orthanc", f"http://127.0.0.1:{port}/dicom-web", process.pid)
