"""Every request leaves an audit event: who (token oid and client app), what (operation, UIDs of the path), when,
from where, and the outcome; never the token, never query values.

The real local host with authentication on, its audit trail kept in a file (DICOM_AUDIT_LOG); tokens are signed
by the loopback stand-in for Entra ID (tests/entra.py), the one thing faked.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydicom.uid import generate_uid

from local.azurite import Azurite
from tests.conftest import LocalHost, audited_host
from tests.dicom_factory import make_instance
from tests.entra import OWNER, READER, Jwks, SigningKey
from tests.helpers import store

PATIENT_NAME = "Quimby^Audit"


@pytest.fixture(scope="module")
def audited(azurite: Azurite, jwks: Jwks, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    host = audited_host(azurite.connection_string, jwks, tmp_path_factory.mktemp("audited"))
    yield host
    host.stop()


class Caller:
    """A principal of the tenant using one client application, as Entra ID would issue its tokens."""

    def __init__(self, key: SigningKey, roles: list[str], version: int = 2) -> None:
        self.oid, self.app_id = str(uuid.uuid4()), str(uuid.uuid4())
        application = {"azp": self.app_id} if version == 2 else {"appid": self.app_id}
        self.token = key.token(roles, oid=self.oid, **application)

    def headers(self, request_id: str, **more: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Request-Id": request_id, **more}


def audit_event(host: LocalHost, request_id: str) -> dict:
    """The one audit event of a request (the audit trail is JSON lines)."""
    lines = host.audit_log.read_text().splitlines()  # type: ignore[attr-defined]
    (event,) = [e for e in map(json.loads, lines) if e["request_id"] == request_id]
    return event


def what_and_who(event: dict) -> dict:
    """The event without the fields that vary from run to run (checked on their own)."""
    return {k: v for k, v in event.items() if k not in ("time", "duration_ms", "bytes_out")}


@pytest.fixture(scope="module")
def owner(signing_key: SigningKey) -> Caller:
    return Caller(signing_key, [OWNER])


@pytest.fixture(scope="module")
def stored(client_module: httpx.Client, audited: LocalHost, owner: Caller) -> tuple[str, str, str]:
    uids = generate_uid(), generate_uid(), generate_uid()
    instance = make_instance(*uids, PatientName=PATIENT_NAME)
    response = store(client_module, f"{audited.url}/v2/studies", [instance], **owner.headers("audit-store"))
    assert response.status_code == 200
    return uids


@pytest.fixture(scope="module")
def client_module() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as http:
        yield http


def expected(request_id: str, operation: str, method: str, caller: Caller | None, status: int,
             uids: tuple[str, ...] = (), query_level: str = "", client_ip: str = "127.0.0.1",
             forwarded_for: str = "") -> dict:  # fmt: skip
    study, series, instance = (*uids, "", "", "")[:3]
    return {
        "request_id": request_id, "operation": operation, "method": method, "api_version": "v2",
        "query_level": query_level, "partition": "", "study_uid": study, "series_uid": series, "instance_uid": instance,
        "client_ip": client_ip, "forwarded_for": forwarded_for,
        "oid": caller.oid if caller else "", "app_id": caller.app_id if caller else "",
        "status": status, "outcome": "success" if status < 400 else "denied" if status in (401, 403) else "failure",
    }  # fmt: skip


def test_a_store_is_audited_with_who_what_and_the_outcome(
    audited: LocalHost, owner: Caller, stored: tuple[str, str, str]
) -> None:
    event = audit_event(audited, "audit-store")
    assert what_and_who(event) == expected("audit-store", "store", "POST", owner, 200)


def test_a_search_is_audited_without_its_query_values(
    client_module: httpx.Client, audited: LocalHost, signing_key: SigningKey, stored: tuple[str, str, str]
) -> None:
    reader = Caller(signing_key, [READER], version=1)
    response = client_module.get(
        f"{audited.url}/v2/studies", params={"PatientName": PATIENT_NAME}, headers=reader.headers("audit-search")
    )
    assert response.status_code == 200
    event = audit_event(audited, "audit-search")
    assert what_and_who(event) == expected("audit-search", "search", "GET", reader, 200, query_level="study")
    assert "Quimby" not in json.dumps(event)


def test_a_retrieve_is_audited_with_the_uids_it_read_and_the_bytes_sent(
    client_module: httpx.Client, audited: LocalHost, owner: Caller, stored: tuple[str, str, str]
) -> None:
    study, series, instance = stored
    url = f"{audited.url}/v2/studies/{study}/series/{series}/instances/{instance}"
    response = client_module.get(url, headers=owner.headers("audit-retrieve"))
    assert response.status_code == 200
    event = audit_event(audited, "audit-retrieve")
    assert what_and_who(event) == expected("audit-retrieve", "retrieve", "GET", owner, 200, stored)
    assert event["bytes_out"] == len(response.content)


def deleted(client: httpx.Client, host: LocalHost, caller: Caller, study: str, request_id: str) -> tuple[int, dict]:
    """A study deleted by `caller`: the status, and the request's audit event."""
    response = client.delete(f"{host.url}/v2/studies/{study}", headers=caller.headers(request_id))
    return response.status_code, what_and_who(audit_event(host, request_id))


def test_a_delete_is_audited_with_the_study_it_removed(
    client_module: httpx.Client, audited: LocalHost, owner: Caller
) -> None:
    study = generate_uid()
    headers = owner.headers("audit-store-2")
    assert store(client_module, f"{audited.url}/v2/studies", [make_instance(study)], **headers).status_code == 200
    status, event = deleted(client_module, audited, owner, study, "audit-delete")
    assert (status, event) == (204, expected("audit-delete", "delete", "DELETE", owner, 204, (study,)))


def test_a_refused_caller_is_audited_with_the_identity_its_valid_token_proves(
    client_module: httpx.Client, audited: LocalHost, signing_key: SigningKey
) -> None:
    reader, study = Caller(signing_key, [READER]), generate_uid()
    status, event = deleted(client_module, audited, reader, study, "audit-denied")
    assert (status, event) == (403, expected("audit-denied", "delete", "DELETE", reader, 403, (study,)))


def test_a_request_without_a_valid_token_is_audited_as_denied_to_nobody(
    client_module: httpx.Client, audited: LocalHost, signing_key: SigningKey
) -> None:
    forged = SigningKey().token([OWNER])
    headers = {"Authorization": f"Bearer {forged}", "X-Request-Id": "audit-forged"}
    assert client_module.get(f"{audited.url}/v2/studies", headers=headers).status_code == 401
    event = audit_event(audited, "audit-forged")
    assert what_and_who(event) == expected("audit-forged", "search", "GET", None, 401, query_level="study")
    assert forged.split(".")[2] not in audited.audit_log.read_text()  # type: ignore[attr-defined]


def test_the_client_address_is_the_one_the_front_end_saw(
    client_module: httpx.Client, audited: LocalHost, owner: Caller
) -> None:
    # App Service appends the address it saw (with its port); addresses left of it are what the caller claimed.
    headers = owner.headers("audit-forwarded", **{"X-Forwarded-For": "10.9.8.7, not-an-ip, 203.0.113.9:50112"})
    assert client_module.get(f"{audited.url}/v2/studies", headers=headers).status_code in (200, 204)
    event = audit_event(audited, "audit-forwarded")
    assert (event["client_ip"], event["forwarded_for"]) == ("203.0.113.9", "10.9.8.7, 203.0.113.9")


def test_an_event_says_when_the_request_arrived_in_utc(
    client_module: httpx.Client, audited: LocalHost, owner: Caller
) -> None:
    before = datetime.now(UTC).replace(microsecond=datetime.now(UTC).microsecond // 1000 * 1000)
    client_module.get(f"{audited.url}/v2/studies", headers=owner.headers("audit-when"))
    after = datetime.now(UTC)
    assert before <= datetime.fromisoformat(audit_event(audited, "audit-when")["time"]) <= after


def test_the_audit_trail_stays_out_of_the_operational_log(audited: LocalHost, stored: tuple[str, str, str]) -> None:
    audited.output.flush()
    log = Path(audited.output.name).read_text()
    assert "request_id=audit-store" in log, "the operational log is written"
    assert not any(uid in log for uid in stored)


def test_the_audit_file_is_readable_by_its_owner_only(audited: LocalHost, stored: tuple[str, str, str]) -> None:
    assert audited.audit_log.stat().st_mode & 0o777 == 0o600  # type: ignore[attr-defined]
