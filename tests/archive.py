"""An isolated archive (its own container and tables) in the session's Azurite, for exact counts."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from azure.data.tables import TableClient
from azure.storage.blob import BlobServiceClient, ContainerClient

from local.azurite import Azurite
from tests.conftest import REPO, LocalHost
from tests.fault_proxy import FaultProxy, Rule


class Archive:
    """One isolated archive (its own container and tables) in the session's Azurite."""

    def __init__(self, azurite: Azurite) -> None:
        self.azurite = azurite
        self.name = f"t{uuid.uuid4().hex[:12]}"
        self.settings = {"DICOM_TABLE_PREFIX": self.name, "DICOM_BLOB_CONTAINER": self.name}

    @property
    def container(self) -> ContainerClient:
        return BlobServiceClient.from_connection_string(self.azurite.connection_string).get_container_client(self.name)

    def blobs(self) -> list[str]:
        return sorted(blob.name for blob in self.container.list_blobs())

    def journal(self) -> list[dict]:
        table = TableClient.from_connection_string(self.azurite.connection_string, f"{self.name}journal")
        return list(table.list_entities())

    def journal_once_closed(self, timeout: float = 20) -> list[dict]:
        """The journal once the entries the service closes after answering are closed (a store closes its
        entries just after its response goes out); whatever is still open after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while (entries := self.journal()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return entries

    def service(self) -> LocalHost:
        return LocalHost(self.azurite.connection_string, **self.settings)

    @contextlib.contextmanager
    def behind_proxies(self, **settings: str) -> Iterator[tuple[LocalHost, FaultProxy, FaultProxy]]:
        """A service whose blob and table requests each pass a fault proxy (rules set by the test)."""
        azurite = self.azurite
        with FaultProxy(azurite.blob_port) as blobs, FaultProxy(azurite.table_port) as tables:
            connection = azurite.connection_string.replace(f":{azurite.blob_port}/", f":{blobs.port}/")
            connection = connection.replace(f":{azurite.table_port}/", f":{tables.port}/")
            host = LocalHost(connection, **self.settings, **settings)
            try:
                yield host, blobs, tables
            finally:
                host.stop()

    def crash_at(self, port: int, rule: Rule, action: Callable[[str], object], answered: bool = False) -> None:
        """Run `action(url)` on a service whose storage request picked by `rule` hangs; SIGKILL it there.
        `answered`: that step comes after the response went out, so the caller has its 200."""
        with FaultProxy(port, rule) as proxy:
            connection = self.azurite.connection_string.replace(f":{port}/", f":{proxy.port}/")
            host = LocalHost(connection, **self.settings)
            with ThreadPoolExecutor(max_workers=1) as pool:
                request = pool.submit(action, host.url)
                assert proxy.held.wait(timeout=60), "the request never reached the chosen step"
                host.process.kill()
                host.process.wait(timeout=20)
                if answered:
                    assert request.result(timeout=60).status_code == 200
                    return
                with pytest.raises(httpx.TransportError):
                    request.result(timeout=60)

    def cleanup(self, *options: str) -> tuple[int, dict]:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "archive.admin",
                "cleanup",
                "--grace-minutes",
                "0",
                "--json",
                *options,
            ],
            env={**os.environ, "DICOM_STORAGE_CONNECTION_STRING": self.azurite.connection_string, **self.settings},
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return result.returncode, json.loads(result.stdout)
