"""Who sees and changes workitems: assignment to Entra ID users and groups (`assignedTo=me`), the owner-only
delete extension, and workitems per data partition. Entra ID is the local stand-in (tests/entra.py: real
RS256 tokens checked by the real service against a local key set), since the cloud cannot run here."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from pydicom.uid import generate_uid

from local.azurite import Azurite
from tests.conftest import LocalHost
from tests.entra import OWNER, SigningKey
from tests.test_worklist import DICOM_JSON, HEADERS, create, element, workitem_json

ASSIGNEES = "00404034"


def bearer(key: SigningKey, oid: str, groups: list[str] | None = None) -> dict[str, str]:
    token = key.token([OWNER], oid=oid, **({"groups": groups} if groups else {}))
    return {"Authorization": f"Bearer {token}"}


def entra_code(oid: str, kind: str) -> dict:
    """An Entra object ID as a code: 36 characters, so Long Code Value (Code Value holds 16)."""
    return {
        "00080119": element("UC", oid),
        "00080102": element("SH", "99ENTRA"),
        "00080104": element("LO", f"Entra ID {kind}"),
    }


def performers(*ids: tuple[str, str]) -> dict:
    """Scheduled Human Performers Sequence: one item per Entra object ID (user or group)."""
    items = [{"00404009": element("SQ", entra_code(oid, kind))} for oid, kind in ids]
    return {ASSIGNEES: element("SQ", *items)}


def create_as(client: httpx.Client, url: str, headers: dict[str, str], **extra: dict) -> str:
    uid = generate_uid()
    body = json.dumps(workitem_json(**extra))
    response = client.post(f"{url}/workitems?{uid}", content=body, headers={**HEADERS, **headers})
    assert response.status_code == 201, response.text
    return uid


def mine(client: httpx.Client, url: str, headers: dict[str, str]) -> list[str]:
    response = client.get(f"{url}/workitems", params={"assignedTo": "me"}, headers={"Accept": DICOM_JSON, **headers})
    assert response.status_code in (200, 204), response.text
    return [] if response.status_code == 204 else [r["00080018"]["Value"][0] for r in response.json()]


def test_assigned_to_me_finds_what_is_assigned_to_my_oid(
    client: httpx.Client, secured_service: LocalHost, signing_key: SigningKey
) -> None:
    url, user = f"{secured_service.url}/v2", str(uuid.uuid4())
    uid = create_as(client, url, bearer(signing_key, str(uuid.uuid4())), **performers((user, "user")))
    create_as(client, url, bearer(signing_key, user))  # created by the user, not assigned to them
    assert mine(client, url, bearer(signing_key, user)) == [uid]


def test_assigned_to_me_finds_what_is_assigned_to_any_of_my_groups(
    client: httpx.Client, secured_service: LocalHost, signing_key: SigningKey
) -> None:
    url, team = f"{secured_service.url}/v2", str(uuid.uuid4())
    uid = create_as(client, url, bearer(signing_key, str(uuid.uuid4())), **performers((team, "group")))
    member = bearer(signing_key, str(uuid.uuid4()), groups=[str(uuid.uuid4()), team])
    assert mine(client, url, member) == [uid]
    assert mine(client, url, bearer(signing_key, str(uuid.uuid4()), groups=[str(uuid.uuid4())])) == []


def test_assigned_to_me_without_authentication_is_a_400(client: httpx.Client, base_url: str) -> None:
    response = client.get(f"{base_url}/workitems", params={"assignedTo": "me"}, headers={"Accept": DICOM_JSON})
    assert response.status_code == 400


def test_only_the_creator_of_a_workitem_may_delete_it(
    client: httpx.Client, secured_service: LocalHost, signing_key: SigningKey
) -> None:
    url, creator = f"{secured_service.url}/v2", str(uuid.uuid4())
    uid = create_as(client, url, bearer(signing_key, creator))
    other = client.delete(f"{url}/workitems/{uid}", headers=bearer(signing_key, str(uuid.uuid4())))
    assert other.status_code == 403
    assert client.delete(f"{url}/workitems/{uid}", headers=bearer(signing_key, creator)).status_code == 204


@pytest.fixture(scope="module")
def partitioned(azurite: Azurite) -> Iterator[LocalHost]:
    host = LocalHost(azurite.connection_string, DICOM_DATA_PARTITIONS_ENABLED="true")
    yield host
    host.stop()


def test_workitems_belong_to_their_data_partition(client: httpx.Client, partitioned: LocalHost) -> None:
    first, second = (f"{partitioned.url}/v2/partitions/{name}" for name in ("ward-a", "ward-b"))
    uid = generate_uid()
    response = create(client, first, workitem_json(), uid)
    assert response.status_code == 201
    assert "/partitions/ward-a/workitems/" in response.headers["Location"]
    assert create(client, second, workitem_json(), generate_uid()).status_code == 201
    assert client.get(f"{first}/workitems/{uid}", headers={"Accept": DICOM_JSON}).status_code == 200
    assert client.get(f"{second}/workitems/{uid}", headers={"Accept": DICOM_JSON}).status_code == 404
