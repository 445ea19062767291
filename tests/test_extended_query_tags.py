"""Extended query tags and their reindex operations, as the Azure DICOM service documents them: a tag added
after instances were stored becomes searchable once its operation completes, for old and new instances."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import httpx
import pydicom
import pytest
from azure.data.tables import TableClient
from pydicom.uid import generate_uid

from local.azurite import Azurite
from tests.archive import Archive
from tests.conftest import LocalHost
from tests.dicom_factory import make_instance
from tests.helpers import search, store


@pytest.fixture(scope="module")
def tag_archive(azurite: Azurite) -> Archive:
    return Archive(azurite)


@pytest.fixture(scope="module")
def host(azurite: Azurite, tag_archive: Archive) -> Iterator[LocalHost]:
    service = LocalHost(azurite.connection_string, DICOM_QUEUE_POLL_SECONDS="0.1", **tag_archive.settings)
    yield service
    service.stop()


def pointer_partitions(archive: Archive, keyword: str) -> list[str]:
    table = TableClient.from_connection_string(archive.azurite.connection_string, f"{archive.name}lookup")
    return [e["PartitionKey"] for e in table.list_entities() if e["PartitionKey"].split("|")[0] == keyword]


def add(client: httpx.Client, host: LocalHost, *tags: dict) -> httpx.Response:
    return client.post(f"{host.url}/v2/extendedquerytags", json=list(tags))


def finished(client: httpx.Client, host: LocalHost, response: httpx.Response) -> dict:
    """The operation once done: polled (the local host polls the operations queue every 0.1 s here), 60 s at most."""
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = client.get(response.json()["href"])
        if status.status_code == 200:
            return status.json()
        assert status.status_code == 202 and status.json()["status"] in ("notStarted", "running")
        time.sleep(0.1)
    pytest.fail("the reindex operation did not finish within 60 s")


def series_uids(results: list[dict]) -> set[str]:
    return {r["0020000E"]["Value"][0] for r in results}


def test_a_tag_added_after_the_instances_finds_them_once_its_reindex_completes(
    client: httpx.Client, host: LocalHost
) -> None:
    knee, hand = generate_uid(), generate_uid()
    store(client, f"{host.url}/v2/studies", [make_instance(series=knee, BodyPartExamined="KNEE"),
                                             make_instance(series=hand, BodyPartExamined="HAND")])  # fmt: skip
    assert client.get(f"{host.url}/v2/series", params={"BodyPartExamined": "KNEE"}).status_code == 400
    operation = finished(client, host, add(client, host, {"path": "BodyPartExamined", "vr": "CS", "level": "Series"}))
    assert (operation["status"], operation["percentComplete"], operation["type"]) == ("completed", 100, "reindex")
    assert operation["resources"] == [f"{host.url}/v2/extendedquerytags/00180015"]
    tag = client.get(f"{host.url}/v2/extendedquerytags/BodyPartExamined").json()
    assert (tag["path"], tag["vr"], tag["level"], tag["status"], tag["queryStatus"]) == (
        "00180015", "CS", "Series", "Ready", "Enabled",
    )  # fmt: skip
    assert series_uids(search(client, f"{host.url}/v2/series", BodyPartExamined="KNEE")) == {knee}
    later = generate_uid()
    store(client, f"{host.url}/v2/studies", [make_instance(series=later, BodyPartExamined="KNEE")])
    found = client.get(f"{host.url}/v2/series", params={"00180015": "knee", "includefield": "BodyPartExamined"})
    assert series_uids(found.json()) == {knee, later}, "new stores are indexed at once; matching ignores case"
    assert int(found.headers["X-Table-Entities-Read"]) <= 3 * 2, "served by the index, not by reading every study"


def test_a_private_tag_is_searchable_by_its_hex_path(client: httpx.Client, host: LocalHost) -> None:
    data = make_instance()
    dataset = pydicom.dcmread(io.BytesIO(data))
    dataset.private_block(0x0009, "ACME", create=True).add_new(0x01, "LO", "PROTOCOL-7")
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    store(client, f"{host.url}/v2/studies", [buffer.getvalue()])
    spec = {"path": "00091001", "vr": "LO", "privateCreator": "ACME", "level": "Instance"}
    finished(client, host, add(client, host, spec))
    results = search(client, f"{host.url}/v2/instances", **{"00091001": "PROTOCOL-7"})
    assert [r["00080018"]["Value"][0] for r in results] == [dataset.SOPInstanceUID]


@pytest.mark.parametrize(
    ("tag", "reason"),
    [({"path": "NotAKeyword", "level": "Series"}, "not a tag path"),
     ({"path": "00180015", "vr": "OB", "level": "Series"}, "VR 'OB'"),
     ({"path": "00180015", "level": "Patient"}, "level must be"),
     ({"path": "00091002", "vr": "LO", "level": "Study"}, "privateCreator")],
)  # fmt: skip
def test_an_invalid_tag_is_a_400_saying_why(client: httpx.Client, host: LocalHost, tag: dict, reason: str) -> None:
    response = add(client, host, tag)
    assert response.status_code == 400 and reason in response.json()["detail"]


def test_a_tag_already_searchable_or_already_added_is_a_409(client: httpx.Client, host: LocalHost) -> None:
    assert add(client, host, {"path": "PatientName", "level": "Study"}).status_code == 409
    finished(client, host, add(client, host, {"path": "StationName", "level": "Series"}))
    assert add(client, host, {"path": "StationName", "level": "Series"}).status_code == 409


def test_values_that_break_the_vr_disable_the_tag_until_an_owner_enables_it(
    client: httpx.Client, host: LocalHost
) -> None:
    good, bad = generate_uid(), generate_uid()
    store(client, f"{host.url}/v2/studies", [make_instance(sop=good, AcquisitionDate="20240102"),
                                             make_instance(sop=bad, AcquisitionDate="2024-13-45")])  # fmt: skip
    finished(client, host, add(client, host, {"path": "AcquisitionDate", "level": "Instance"}))
    tag = client.get(f"{host.url}/v2/extendedquerytags/00080022").json()
    assert (tag["queryStatus"], tag["errors"]["count"]) == ("Disabled", 1)
    errors = client.get(tag["errors"]["href"]).json()
    assert [e["sopInstanceUid"] for e in errors] == [bad] and errors[0]["errorMessage"]
    assert client.get(f"{host.url}/v2/instances", params={"AcquisitionDate": "20240102"}).status_code == 400
    enabled = client.patch(f"{host.url}/v2/extendedquerytags/AcquisitionDate", json={"queryStatus": "Enabled"})
    assert enabled.json()["queryStatus"] == "Enabled"
    found = client.get(f"{host.url}/v2/instances", params={"AcquisitionDate": "20240101-20240131"})
    assert [r["00080018"]["Value"][0] for r in found.json()] == [good]
    assert found.headers["erroneous-dicom-attributes"] == "AcquisitionDate"


def test_a_deleted_tag_is_no_longer_searchable_or_listed_and_its_index_entries_are_gone(
    client: httpx.Client, host: LocalHost, tag_archive: Archive
) -> None:
    store(client, f"{host.url}/v2/studies", [make_instance(OperatorsName="Smith^Op")])
    finished(client, host, add(client, host, {"path": "OperatorsName", "level": "Series"}))
    assert "00081070" in [t["path"] for t in client.get(f"{host.url}/v2/extendedquerytags").json()]
    assert pointer_partitions(tag_archive, "OperatorsName")
    assert client.delete(f"{host.url}/v2/extendedquerytags/OperatorsName").status_code == 204
    assert pointer_partitions(tag_archive, "OperatorsName") == []
    assert client.get(f"{host.url}/v2/extendedquerytags/OperatorsName").status_code == 404
    assert client.get(f"{host.url}/v2/series", params={"OperatorsName": "x"}).status_code == 400


def test_an_unknown_operation_is_a_404(client: httpx.Client, host: LocalHost) -> None:
    assert client.get(f"{host.url}/v2/operations/{'0' * 32}").status_code == 404


def test_a_reindex_of_two_thousand_instances_survives_a_killed_host_with_true_progress_figures(
    azurite: Azurite, client: httpx.Client
) -> None:
    archive = Archive(azurite)
    fast = {"DICOM_QUEUE_POLL_SECONDS": "0.1", "DICOM_QUEUE_VISIBILITY_SECONDS": "2",
            "DICOM_OPERATION_LEASE_SECONDS": "2", **archive.settings}  # fmt: skip
    first = LocalHost(azurite.connection_string, **fast)
    studies = [(generate_uid(), generate_uid()) for _ in range(200)]
    for start in range(0, 200, 50):
        files = [make_instance(study, series, ProtocolName="P1")
                 for study, series in studies[start : start + 50] for _ in range(10)]  # fmt: skip
        assert store(client, f"{first.url}/v2/studies", files).status_code == 200
    response = add(client, first, {"path": "ProtocolName", "level": "Series"})
    progress = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not 0 < (progress or [0])[-1] < 100:
        progress.append(client.get(response.json()["href"]).json()["percentComplete"])
        time.sleep(0.05)  # a polling pace that leaves the host's CPU to the reindex
    first.process.kill()  # mid-way: the lease and the message's invisibility must both expire
    first.process.wait(timeout=20)
    assert 0 < progress[-1] < 100, progress[-5:]
    second = LocalHost(azurite.connection_string, **fast)
    try:
        while time.monotonic() < deadline:
            status = client.get(response.json()["href"].replace(first.url, second.url))
            progress.append(status.json()["percentComplete"])
            if status.status_code == 200:
                break
            time.sleep(0.05)
        assert status.json()["status"] == "completed" and progress[-1] == 100
        assert progress == sorted(progress), "percentComplete never goes back"
        found = search(client, f"{second.url}/v2/series", ProtocolName="P1", limit="200")
        assert len(found) == 200, "every series indexed: none lost to the kill"
    finally:
        second.stop()
