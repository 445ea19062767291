"""Real parts only: a real Azurite over HTTP and the real function handlers behind a real HTTP server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from local.azurite import Azurite, free_port, wait_for_port
from tests.entra import AUDIENCE, CLIENT_ID, TENANT, Jwks, SigningKey

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    emulator = Azurite().start()
    yield emulator
    emulator.stop()


class LocalHost:
    """The local host (python -m local.host) as a subprocess, on a free port."""

    def __init__(self, connection_string: str, log_file: Path | None = None, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DICOM_STORAGE_CONNECTION_STRING": connection_string,
            "DICOM_PUBLIC_BASE_URL": self.url,
            "PYTHONUNBUFFERED": "1",
            "DICOM_AUTH_ENABLED": "false",  # the secured tests turn it on with their own settings
            **settings,
        }
        output = open(log_file, "w") if log_file else None  # noqa: SIM115 - closed in stop()
        self.output = output
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local.host", "--port", str(self.port)],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
        )
        wait_for_port(self.port, self.process)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)
        if self.output:
            self.output.close()


@pytest.fixture(scope="session")
def service(azurite: Azurite) -> Iterator[LocalHost]:
    host = LocalHost(azurite.connection_string)
    yield host
    host.stop()


@pytest.fixture(scope="session")
def base_url(service: LocalHost) -> str:
    return f"{service.url}/v2"


@pytest.fixture(scope="session")
def v1_url(service: LocalHost) -> str:
    return f"{service.url}/v1"


@pytest.fixture()
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as http:
        yield http


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return SigningKey()


@pytest.fixture(scope="session")
def jwks(signing_key: SigningKey) -> Iterator[Jwks]:
    keys = Jwks(signing_key)
    yield keys
    keys.close()


def secured(jwks: Jwks) -> dict[str, str]:
    """Settings that turn authentication on, trusting the local stand-in for Entra ID."""
    return {
        "DICOM_AUTH_ENABLED": "true",
        "DICOM_AUTH_TENANT_ID": TENANT,
        "DICOM_AUTH_AUDIENCE": f"{AUDIENCE},{CLIENT_ID}",
        "DICOM_AUTH_JWKS_URL": jwks.url,
    }


def audited_host(connection_string: str, jwks: Jwks, folder: Path, **settings: str) -> LocalHost:
    """A secured service whose audit trail is a file (host.audit_log) and whose log is folder/service.log."""
    audit_log = folder / "audit.jsonl"
    host = LocalHost(connection_string, log_file=folder / "service.log", DICOM_AUDIT_LOG=str(audit_log),
                     **secured(jwks), **settings)  # fmt: skip
    host.audit_log = audit_log  # type: ignore[attr-defined]
    return host


@pytest.fixture(scope="session")
def secured_service(azurite: Azurite, jwks: Jwks, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    """The service with authentication on, trusting the local stand-in for Entra ID."""
    host = LocalHost(
        azurite.connection_string,
        log_file=tmp_path_factory.mktemp("secured") / "service.log",
        LOG_LEVEL="DEBUG",
        DICOM_AUTH_JWKS_REFRESH_COOLDOWN="0",  # so the key-rollover test need not wait 30 s
        **secured(jwks),
    )
    yield host
    host.stop()
