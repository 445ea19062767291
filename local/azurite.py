"""Start and stop the Azurite storage emulator (pinned in package.json) for `make run` and the tests."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PortsInUse(RuntimeError):
    """Azurite's ports are held by another process: starting would serve (and write into) someone else's emulator."""


def port_in_use(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port (SO_REUSEADDR like Node, so TIME_WAIT leftovers do not count)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def wait_for_port(port: int, process: subprocess.Popen | None = None, timeout: float = 60) -> None:
    """Poll until something accepts connections on the port (readiness, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with code {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class Azurite:
    def __init__(self, location: Path | None = None, blob_port: int = 0, table_port: int = 0, queue_port: int = 0):
        self.location = location
        self.blob_port = blob_port or free_port()
        self.table_port = table_port or free_port()
        self.queue_port = queue_port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def connection_string(self) -> str:
        return (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/devstoreaccount1;"
            f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/devstoreaccount1;"
            f"TableEndpoint=http://127.0.0.1:{self.table_port}/devstoreaccount1;"
        )

    def ports(self) -> dict[str, int]:
        return {"blob": self.blob_port, "queue": self.queue_port, "table": self.table_port}

    def check_ports_free(self) -> None:
        """Refuse to start when a port is taken: Azurite would die of EADDRINUSE while the holder answers instead."""
        taken = {service: port for service, port in self.ports().items() if port_in_use(port)}
        if taken:
            listed = ", ".join(f"127.0.0.1:{port} ({service})" for service, port in taken.items())
            raise PortsInUse(
                f"Azurite cannot start: {listed} {'is' if len(taken) == 1 else 'are'} already in use, perhaps by "
                "another Azurite or another `make run`. Stop what holds it, or choose other ports, e.g. "
                "AZURITE_BLOB_PORT=20000 AZURITE_QUEUE_PORT=20001 AZURITE_TABLE_PORT=20002 make run"
            )

    def start(self) -> Azurite:
        self.check_ports_free()
        executable = REPO / "node_modules" / ".bin" / "azurite"
        if not executable.exists():
            raise FileNotFoundError(f"{executable} is missing: run `npm install` (make does it for you)")
        command = [
            str(executable),
            "--silent",
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(self.blob_port),
            "--tableHost",
            "127.0.0.1",
            "--tablePort",
            str(self.table_port),
            "--queueHost",
            "127.0.0.1",
            "--queuePort",
            str(self.queue_port),
        ]
        if self.location is None:
            command.append("--inMemoryPersistence")
        else:
            self.location.mkdir(parents=True, exist_ok=True)
            command += ["--location", str(self.location)]
        self.process = subprocess.Popen(command, cwd=self.location or REPO, stdout=subprocess.DEVNULL)
        for port in (self.blob_port, self.table_port):
            wait_for_port(port, self.process)
        if self.process.poll() is not None:
            raise RuntimeError(f"Azurite exited with code {self.process.returncode} while starting")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
