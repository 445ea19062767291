"""A service killed (SIGKILL) in the middle of a workitem change leaves nothing half-done: the workitem entity
is the one truth and is written in one ETag-guarded request; pointers written before it are only hints."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from pydicom.uid import generate_uid

from local.azurite import Azurite
from tests.archive import Archive
from tests.conftest import LocalHost
from tests.test_worklist import DICOM_JSON, HEADERS, change_state, create, element, workitem_json


@pytest.fixture()
def archive(azurite: Azurite) -> Archive:
    return Archive(azurite)


@pytest.fixture()
def healthy(archive: Archive) -> Iterator[LocalHost]:
    host = archive.service()
    yield host
    host.stop()


def is_item_insert(method: str, path: str) -> str | None:
    """The workitem entity's insert (pointer rows are upserts, PUT to their keys)."""
    return "hold" if method == "POST" and path.split("?")[0].endswith("workitems") else None


def is_item_write(method: str, path: str) -> str | None:
    return "hold" if method == "PUT" and "PartitionKey='item'" in path.replace("%27", "'") else None


def creating(uid: str, patient: str) -> Callable[[str], object]:
    body = json.dumps(workitem_json(patient_id=patient))
    return lambda url: httpx.Client(timeout=120).post(f"{url}/v2/workitems?{uid}", content=body, headers=HEADERS)


def claiming(uid: str) -> Callable[[str], object]:
    body = json.dumps({"00741000": element("CS", "IN PROGRESS"), "00081195": element("UI", generate_uid())})
    return lambda url: httpx.Client(timeout=120).put(f"{url}/v2/workitems/{uid}/state", content=body, headers=HEADERS)


def test_a_create_killed_before_the_workitem_is_written_leaves_no_workitem_and_no_match(
    archive: Archive, healthy: LocalHost, client: httpx.Client
) -> None:
    uid, patient = generate_uid(), "CRASH" + generate_uid()[-8:]
    archive.crash_at(archive.azurite.table_port, is_item_insert, creating(uid, patient))
    url = f"{healthy.url}/v2"
    assert client.get(f"{url}/workitems/{uid}", headers={"Accept": DICOM_JSON}).status_code == 404
    found = client.get(f"{url}/workitems", params={"PatientID": patient}, headers={"Accept": DICOM_JSON})
    assert found.status_code == 204, "its pointers were written, but they only lead to a workitem that is not there"
    assert create(client, url, workitem_json(patient_id=patient), uid).status_code == 201


def test_a_claim_killed_before_it_is_written_leaves_the_workitem_scheduled_and_claimable(
    archive: Archive, healthy: LocalHost, client: httpx.Client
) -> None:
    url = f"{healthy.url}/v2"
    uid = generate_uid()
    assert create(client, url, workitem_json(), uid).status_code == 201
    archive.crash_at(archive.azurite.table_port, is_item_write, claiming(uid))
    item = client.get(f"{url}/workitems/{uid}", headers={"Accept": DICOM_JSON}).json()
    assert item["00741000"]["Value"] == ["SCHEDULED"]
    assert change_state(client, url, uid, "IN PROGRESS", generate_uid()).status_code == 200
