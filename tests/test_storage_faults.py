"""Storage failing mid-request (500s, 503s, dropped connections, hangs, slowness, injected by a proxy in
front of the real Azurite): a clear 503 with Retry-After or a per-instance 272, never a 500 or a hang;
nothing half-stored visible; and the same request succeeds once storage is back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from pydicom.uid import generate_uid

from local.azurite import Azurite
from tests.archive import Archive
from tests.conftest import LocalHost
from tests.dicom_factory import make_instance
from tests.fault_proxy import FaultProxy, never
from tests.helpers import failure_reasons, search, store

FAULTS = ["500", "503", "reset"]
DICOM_ANY = {"Accept": "application/dicom; transfer-syntax=*"}


@pytest.fixture()
def archive(azurite: Azurite) -> Archive:
    return Archive(azurite)


@pytest.fixture()
def faulty(archive: Archive) -> Iterator[tuple[LocalHost, FaultProxy, FaultProxy]]:
    with archive.behind_proxies(DICOM_STORAGE_READ_TIMEOUT="2") as proxies:
        yield proxies


def on(method: str, marker: str, fault: str):
    return lambda m, path: fault if m == method and marker in path else None


def instance_url(host: LocalHost, uids: tuple[str, ...]) -> str:
    return f"{host.url}/v2/studies/{uids[0]}/series/{uids[1]}/instances/{uids[2]}"


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "5"
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("fault", FAULTS)
def test_a_store_whose_upload_fails_answers_503_stores_nothing_and_succeeds_on_retry(
    archive: Archive, faulty, client: httpx.Client, fault: str
) -> None:
    host, blobs, _ = faulty
    uids = (generate_uid(), generate_uid(), generate_uid())
    data = make_instance(*uids)
    blobs.rule = on("PUT", "instance.dcm", fault)
    assert_unavailable(store(client, f"{host.url}/v2/studies", [data]))
    assert client.get(instance_url(host, uids)).status_code == 404
    assert archive.blobs() == [] and archive.journal_once_closed() == []
    blobs.rule = never
    assert store(client, f"{host.url}/v2/studies", [data]).status_code == 200
    assert client.get(instance_url(host, uids), headers=DICOM_ANY).content[128:] == data[128:]


@pytest.mark.parametrize("fault", FAULTS)
def test_a_store_whose_index_commit_fails_answers_503_keeps_no_file_and_succeeds_on_retry(
    archive: Archive, faulty, client: httpx.Client, fault: str
) -> None:
    host, _, tables = faulty
    uids = (generate_uid(), generate_uid(), generate_uid())
    data = make_instance(*uids)
    tables.rule = on("POST", "$batch", fault)
    assert_unavailable(store(client, f"{host.url}/v2/studies", [data]))
    assert search(client, f"{host.url}/v2/studies", StudyInstanceUID=uids[0]) == []
    assert archive.blobs() == [] and archive.journal_once_closed() == []
    tables.rule = never
    assert store(client, f"{host.url}/v2/studies", [data]).status_code == 200


def test_a_study_that_fails_to_commit_gets_272_while_the_other_study_of_the_request_is_stored(
    archive: Archive, faulty, client: httpx.Client
) -> None:
    host, _, tables = faulty
    first, second = make_instance(), make_instance()
    batches = iter(range(1000))
    tables.rule = lambda method, path: "503" if "$batch" in path and next(batches) > 0 else None
    response = store(client, f"{host.url}/v2/studies", [first, second])
    assert response.status_code == 202
    assert failure_reasons(response) == [272]
    assert len(response.json()["00081199"]["Value"]) == 1
    assert len(archive.blobs()) == 2, "the stored instance's file and metadata; the failed one's removed"
    tables.rule = never
    archive.cleanup()  # journal entries whose closing met the fault too
    assert len(archive.blobs()) == 2 and archive.journal_once_closed() == []


@pytest.mark.parametrize("fault", FAULTS)
def test_an_upsert_that_fails_leaves_the_previous_version_whole(
    archive: Archive, faulty, client: httpx.Client, fault: str
) -> None:
    host, blobs, _ = faulty
    uids = (generate_uid(), generate_uid(), generate_uid())
    old, new = make_instance(*uids, StudyDescription="old"), make_instance(*uids, StudyDescription="new")
    assert store(client, f"{host.url}/v2/studies", [old]).status_code == 200
    blobs.rule = on("PUT", "instance.dcm", fault)
    assert_unavailable(store(client, f"{host.url}/v2/studies", [new], method="PUT"))
    assert client.get(instance_url(host, uids), headers=DICOM_ANY).content[128:] == old[128:]
    assert len(archive.blobs()) == 2
    blobs.rule = never
    assert store(client, f"{host.url}/v2/studies", [new], method="PUT").status_code == 200
    assert client.get(instance_url(host, uids), headers=DICOM_ANY).content[128:] == new[128:]
    assert len(archive.blobs()) == 2 and archive.journal_once_closed() == []


@pytest.mark.parametrize("fault", FAULTS)
def test_a_delete_whose_index_commit_fails_answers_503_keeps_the_study_and_succeeds_on_retry(
    faulty, client: httpx.Client, fault: str
) -> None:
    host, _, tables = faulty
    uids = (generate_uid(), generate_uid(), generate_uid())
    assert store(client, f"{host.url}/v2/studies", [make_instance(*uids)]).status_code == 200
    tables.rule = on("POST", "$batch", fault)
    assert_unavailable(client.delete(f"{host.url}/v2/studies/{uids[0]}"))
    assert client.get(instance_url(host, uids)).status_code == 200
    tables.rule = never
    assert client.delete(f"{host.url}/v2/studies/{uids[0]}").status_code == 204
    assert client.get(instance_url(host, uids)).status_code == 404


@pytest.mark.parametrize("fault", FAULTS)
def test_a_retrieve_whose_download_fails_answers_503_before_any_byte(faulty, client: httpx.Client, fault: str) -> None:
    host, blobs, _ = faulty
    uids = (generate_uid(), generate_uid(), generate_uid())
    data = make_instance(*uids)
    assert store(client, f"{host.url}/v2/studies", [data]).status_code == 200
    blobs.rule = on("GET", "instance.dcm", fault)
    assert_unavailable(client.get(instance_url(host, uids), headers=DICOM_ANY))
    blobs.rule = never
    assert client.get(instance_url(host, uids), headers=DICOM_ANY).content[128:] == data[128:]


@pytest.mark.parametrize("fault", FAULTS)
def test_a_search_whose_table_read_fails_answers_503(faulty, client: httpx.Client, fault: str) -> None:
    host, _, tables = faulty
    tables.rule = on("GET", "lookup", fault)
    assert_unavailable(client.get(f"{host.url}/v2/studies", params={"PatientID": "X"}))


def test_a_storage_that_hangs_answers_503_within_the_configured_timeouts(faulty, client: httpx.Client) -> None:
    host, blobs, _ = faulty
    uids = (generate_uid(), generate_uid(), generate_uid())
    assert store(client, f"{host.url}/v2/studies", [make_instance(*uids)]).status_code == 200
    blobs.rule = on("GET", "instance.dcm", "hold")
    started = time.monotonic()
    assert_unavailable(client.get(instance_url(host, uids), headers=DICOM_ANY))
    elapsed = time.monotonic() - started
    assert elapsed < 30, f"a 2 s read timeout with 3 retries must not hang ({elapsed:.1f} s)"


def test_a_slow_storage_slows_requests_down_but_fails_none(faulty, client: httpx.Client) -> None:
    host, blobs, tables = faulty
    blobs.rule = tables.rule = lambda method, path: "slow"
    uids = (generate_uid(), generate_uid(), generate_uid())
    data = make_instance(*uids)
    assert store(client, f"{host.url}/v2/studies", [data]).status_code == 200
    assert client.get(instance_url(host, uids), headers=DICOM_ANY).content[128:] == data[128:]
    assert client.delete(f"{host.url}/v2/studies/{uids[0]}").status_code == 204
