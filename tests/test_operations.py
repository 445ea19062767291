"""What an operator needs: a health probe, request logs without PHI, telemetry, and storage configured by settings."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydicom.uid import generate_uid

from archive.clients import Storage
from archive.settings import StorageSettings
from local.azurite import Azurite, free_port
from tests.conftest import LocalHost
from tests.dicom_factory import make_instance
from tests.entra import OWNER, SigningKey
from tests.helpers import store

REPO = Path(__file__).resolve().parent.parent


def test_health_answers_200_when_storage_answers(client: httpx.Client, service: LocalHost) -> None:
    response = client.get(f"{service.url}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "checks": {"blob": "ok", "table": "ok"}}


def test_health_needs_no_token_even_when_auth_is_on(client: httpx.Client, secured_service: LocalHost) -> None:
    assert client.get(f"{secured_service.url}/health").status_code == 200


@pytest.fixture()
def service_without_storage(azurite: Azurite) -> Iterator[LocalHost]:
    dead = free_port()  # nothing listens here
    connection = azurite.connection_string.replace(f":{azurite.blob_port}/", f":{dead}/").replace(
        f":{azurite.table_port}/", f":{dead}/"
    )
    host = LocalHost(connection)
    yield host
    host.stop()


def test_health_answers_503_when_storage_is_unreachable(
    client: httpx.Client, service_without_storage: LocalHost
) -> None:
    response = client.get(f"{service_without_storage.url}/health")
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.json()["status"] == "unhealthy"


def test_operations_answer_503_with_retry_after_when_storage_is_unreachable(
    client: httpx.Client, service_without_storage: LocalHost
) -> None:
    response = client.get(f"{service_without_storage.url}/v2/studies")
    assert response.status_code == 503
    assert response.headers["retry-after"]


def test_request_logs_carry_facts_and_no_phi(
    client: httpx.Client, secured_service: LocalHost, signing_key: SigningKey
) -> None:
    patient_name, patient_id = "Phi^Sensitive", f"MRN-{generate_uid()[-8:]}"
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    headers = {"Authorization": f"Bearer {signing_key.token([OWNER])}", "X-Request-Id": "trace-42"}
    api = f"{secured_service.url}/v2"
    stored = store(client, f"{api}/studies", [make_instance(study, series, sop, PatientName=patient_name,
                                                             PatientID=patient_id)], **headers)  # fmt: skip
    assert stored.headers["x-request-id"] == "trace-42"
    assert client.get(f"{api}/studies", params={"PatientID": patient_id}, headers=headers).status_code == 200
    retrieved = client.get(f"{api}/studies/{study}", headers={"Authorization": headers["Authorization"]})
    assert retrieved.status_code == 200
    secured_service.output.flush()
    log = Path(secured_service.output.name).read_text()
    store_line = next(line for line in log.splitlines() if "request_id=trace-42" in line)
    for field in ("operation=store", "status=200", "duration_ms=", "bytes_in=", "instances_stored=1", "api=v2"):
        assert field in store_line
    retrieve_line = next(line for line in log.splitlines() if retrieved.headers["x-request-id"] in line)
    assert "instances=1" in retrieve_line and f"bytes_out={len(retrieved.content)}" in retrieve_line
    for phi in (patient_name, "Phi", patient_id, study, series, sop):
        assert phi not in log


def test_storage_clients_for_azurite_use_the_connection_string() -> None:
    settings = StorageSettings(
        connection_string="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;TableEndpoint=http://127.0.0.1:2/devstoreaccount1;",
        blob_account_url=None, table_account_url=None, container="dicom", table_prefix="dicom",
    )  # fmt: skip
    urls, credential = asyncio.run(_describe(settings))
    assert urls == ["http://127.0.0.1:1/devstoreaccount1/dicom", "http://127.0.0.1:2/devstoreaccount1"]
    assert credential == "AzureNamedKeyCredential"


def test_storage_clients_for_azure_use_account_urls_and_the_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DICOM_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.setenv("DICOM_STORAGE_ACCOUNT_NAME", "dicomdata")
    urls, credential = asyncio.run(_describe(StorageSettings.from_environment()))
    assert urls == ["https://dicomdata.blob.core.windows.net/dicom", "https://dicomdata.table.core.windows.net"]
    assert credential == "DefaultAzureCredential"


async def _describe(settings: StorageSettings) -> tuple[list[str], str]:
    """Build the clients (no request is sent) and report where they point and how they sign in."""
    storage = Storage(settings)
    try:
        credential = storage.studies.credential
        table_url = storage.studies.url.split("/dicomstudies")[0].rstrip("/")
        return [storage.container.url, table_url], type(credential).__name__
    finally:
        await storage.close()


TELEMETRY_PROBE = textwrap.dedent(
    """
    import gzip, json, logging, os, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    received = []

    class Ingestion(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            received.append(body.decode())
            reply = json.dumps({"itemsReceived": 1, "itemsAccepted": 1, "errors": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ingestion)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if os.environ.get("WITH_CONNECTION_STRING"):
        os.environ["APPLICATIONINSIGHTS_CONNECTION_STRING"] = (
            "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
            f"IngestionEndpoint=http://127.0.0.1:{server.server_address[1]}/"
        )
    from shared.telemetry import configure_telemetry
    print("configured", configure_telemetry())
    logging.getLogger("dicomweb").info("operation=probe status=200")
    from opentelemetry._logs import get_logger_provider
    flush = getattr(get_logger_provider(), "force_flush", None)
    if flush:
        flush()
    print("received", any("operation=probe" in body for body in received))
    """
)


@pytest.mark.parametrize(("configured", "expected"), [(True, "configured True\nreceived True"),
                                                      (False, "configured False\nreceived False")])  # fmt: skip
def test_logs_reach_application_insights_only_when_configured(configured: bool, expected: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true", "HOME": str(REPO)}
    if configured:
        env["WITH_CONNECTION_STRING"] = "1"
    result = subprocess.run([sys.executable, "-c", TELEMETRY_PROBE], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.stdout.strip() == expected, result.stderr[-2000:]
