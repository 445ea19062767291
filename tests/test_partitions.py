"""Data partitions (DICOM_DATA_PARTITIONS_ENABLED): several institutions in one service, each isolated from the
others, as the Azure DICOM service documents them, plus access per partition (DICOM_PARTITION_ACCESS)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import httpx
import pydicom
import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from pydicom.uid import generate_uid

from local.azurite import Azurite
from tests.archive import Archive
from tests.conftest import LocalHost, secured
from tests.dicom_factory import make_instance
from tests.entra import Jwks, SigningKey
from tests.helpers import failure_reasons, search, store, stored_uids

ON = {"DICOM_DATA_PARTITIONS_ENABLED": "true"}


@pytest.fixture(scope="module")
def archive(azurite: Azurite) -> Archive:
    return Archive(azurite)


@pytest.fixture(scope="module")
def partitioned(azurite: Azurite, archive: Archive) -> Iterator[LocalHost]:
    host = LocalHost(azurite.connection_string, **ON, **archive.settings)
    yield host
    host.stop()


def url(host: LocalHost, partition: str, path: str = "studies") -> str:
    return f"{host.url}/v2/partitions/{partition}/{path}"


def instance_url(host: LocalHost, partition: str, uids: tuple[str, str, str]) -> str:
    study, series, sop = uids
    return url(host, partition, f"studies/{study}/series/{series}/instances/{sop}")


def new_uids() -> tuple[str, str, str]:
    return generate_uid(), generate_uid(), generate_uid()


def patient_names(client: httpx.Client, host: LocalHost, partition: str, study: str) -> list[str]:
    found = search(client, url(host, partition), StudyInstanceUID=study, includefield="PatientName")
    return [r["00100010"]["Value"][0]["Alphabetic"] for r in found]


# ---- the segment and the setting -------------------------------------------------------------------------


def test_with_partitions_on_a_route_without_the_partition_is_a_400_naming_the_form(
    client: httpx.Client, partitioned: LocalHost
) -> None:
    for response in (
        store(client, f"{partitioned.url}/v2/studies", [make_instance()]),
        client.get(f"{partitioned.url}/v2/studies"),
        client.delete(f"{partitioned.url}/v2/studies/1.2.3"),
    ):
        assert response.status_code == 400
        assert "/v2/partitions/Microsoft.Default/studies" in response.json()["detail"]


def test_with_partitions_off_the_partition_segment_is_a_400(client: httpx.Client, base_url: str) -> None:
    response = client.get(f"{base_url}/partitions/p1/studies")
    assert response.status_code == 400
    assert "DICOM_DATA_PARTITIONS_ENABLED" in response.json()["detail"]
    assert client.get(f"{base_url}/partitions").status_code == 400


@pytest.mark.parametrize("name", ["a" * 65, "two words", "semi;colon", "%C3%A9t%C3%A9"])
def test_an_invalid_partition_name_is_a_400(client: httpx.Client, partitioned: LocalHost, name: str) -> None:
    response = store(client, url(partitioned, name), [make_instance()])
    assert response.status_code == 400
    assert "not a valid partition name" in response.json()["detail"]


def test_a_partition_that_was_never_stored_into_is_a_400_for_anything_but_store(
    client: httpx.Client, partitioned: LocalHost
) -> None:
    missing = f"never-{generate_uid()[-8:]}"
    for response in (
        client.get(url(partitioned, missing)),
        client.get(url(partitioned, missing, "studies/1.2.3/metadata")),
        client.delete(url(partitioned, missing, "studies/1.2.3")),
    ):
        assert response.status_code == 400
        assert f"'{missing}' does not exist" in response.json()["detail"]


def test_the_first_store_creates_the_partition_and_its_retrieve_url_names_it(
    client: httpx.Client, partitioned: LocalHost
) -> None:
    name = f"clinic.{generate_uid()[-6:]}"
    uids = new_uids()
    response = store(client, url(partitioned, name), [make_instance(*uids)])
    assert response.status_code == 200
    retrieve_url = response.json()["00081199"]["Value"][0]["00081190"]["Value"][0]
    assert retrieve_url == instance_url(partitioned, name, uids)
    assert client.get(retrieve_url, headers={"Accept": "application/dicom"}).status_code == 200
    listed = {p["partitionName"]: p for p in client.get(f"{partitioned.url}/v2/partitions").json()}
    assert listed[name]["partitionKey"] > 1 and listed[name]["createdDate"].endswith("Z")


def test_bulk_data_uris_in_metadata_name_the_partition(client: httpx.Client, partitioned: LocalHost) -> None:
    uids = new_uids()
    store(client, url(partitioned, "bulk-p"), [make_instance(*uids)])
    (metadata,) = client.get(instance_url(partitioned, "bulk-p", uids) + "/metadata").json()
    assert metadata["7FE00010"]["BulkDataURI"] == instance_url(partitioned, "bulk-p", uids) + "/bulkdata/7FE00010"


def test_listing_an_archive_without_partitions_answers_204(azurite: Azurite, client: httpx.Client) -> None:
    empty = Archive(azurite)
    host = LocalHost(azurite.connection_string, **ON, **empty.settings)
    try:
        assert client.get(f"{host.url}/v2/partitions").status_code == 204
    finally:
        host.stop()


def test_data_stored_before_partitions_were_on_is_in_microsoft_default(azurite: Azurite, client: httpx.Client) -> None:
    earlier = Archive(azurite)
    uids = new_uids()
    before = LocalHost(azurite.connection_string, **earlier.settings)
    try:
        assert store(client, f"{before.url}/v2/studies", [make_instance(*uids)]).status_code == 200
    finally:
        before.stop()
    after = LocalHost(azurite.connection_string, **ON, **earlier.settings)
    try:
        listed = client.get(f"{after.url}/v2/partitions").json()
        assert [(p["partitionName"], p["partitionKey"]) for p in listed] == [("Microsoft.Default", 1)]
        response = client.get(instance_url(after, "Microsoft.Default", uids), headers={"Accept": "application/dicom"})
        assert response.status_code == 200
    finally:
        after.stop()


# ---- isolation ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def twins(client_module: httpx.Client, partitioned: LocalHost) -> tuple[str, str, str]:
    """The same file (same three UIDs) stored in partitions `north` and `south`."""
    uids = new_uids()
    data = make_instance(*uids, PatientName="Twin^North", rows=4, columns=4, frames=2)
    for partition in ("north", "south"):
        assert store(client_module, url(partitioned, partition), [data]).status_code == 200
    return uids


@pytest.fixture(scope="module")
def client_module() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as http:
        yield http


def test_the_same_uids_in_two_partitions_are_two_copies_not_a_conflict(
    client: httpx.Client, partitioned: LocalHost, twins: tuple[str, str, str]
) -> None:
    for partition in ("north", "south"):
        assert patient_names(client, partitioned, partition, twins[0]) == ["Twin^North"]
    again = store(client, url(partitioned, "north"), [make_instance(*twins)])
    assert failure_reasons(again) == [45070], "already stored in north itself"


def test_an_upsert_in_one_partition_leaves_the_other_unchanged(
    client: httpx.Client, partitioned: LocalHost, twins: tuple[str, str, str]
) -> None:
    changed = make_instance(*twins, PatientName="Changed^South", rows=4, columns=4, frames=2)
    assert store(client, url(partitioned, "south"), [changed], method="PUT").status_code in (200, 202)
    assert patient_names(client, partitioned, "south", twins[0]) == ["Changed^South"]
    assert patient_names(client, partitioned, "north", twins[0]) == ["Twin^North"]
    north = client.get(instance_url(partitioned, "north", twins), headers={"Accept": "application/dicom"})
    assert pydicom.dcmread(io.BytesIO(north.content)).PatientName == "Twin^North"


@pytest.mark.parametrize(
    ("suffix", "accept"),
    [("", "application/dicom"), ("/metadata", "application/dicom+json"), ("/frames/2", "application/octet-stream"),
     ("/rendered", "image/png"), ("/thumbnail", "image/jpeg")],
)  # fmt: skip
def test_every_retrieve_reads_its_own_partition(
    client: httpx.Client, partitioned: LocalHost, twins: tuple[str, str, str], suffix: str, accept: str
) -> None:
    for partition in ("north", "south"):
        response = client.get(instance_url(partitioned, partition, twins) + suffix, headers={"Accept": accept})
        assert response.status_code == 200, (partition, response.text[:200])
    other = instance_url(partitioned, "west", twins)
    store(client, url(partitioned, "west"), [make_instance()])  # west exists, without these UIDs
    assert client.get(other + suffix, headers={"Accept": accept}).status_code == 404


def test_a_delete_in_one_partition_leaves_the_other_copy(client: httpx.Client, partitioned: LocalHost) -> None:
    uids = new_uids()
    for partition in ("east", "west"):
        store(client, url(partitioned, partition), [make_instance(*uids)])
    assert client.delete(url(partitioned, "east", f"studies/{uids[0]}")).status_code == 204
    assert client.get(instance_url(partitioned, "east", uids) + "/metadata").status_code == 404
    assert client.get(instance_url(partitioned, "west", uids) + "/metadata").status_code == 200
    assert search(client, url(partitioned, "west"), StudyInstanceUID=uids[0]) != []


def test_a_search_reads_only_its_own_partitions_entities(client: httpx.Client, partitioned: LocalHost) -> None:
    crowded, quiet = f"crowded-{generate_uid()[-6:]}", f"quiet-{generate_uid()[-6:]}"
    assert (
        store(client, url(partitioned, crowded), [make_instance(PatientID="SHARED-ID") for _ in range(60)]).status_code
        == 200
    )
    study = generate_uid()
    store(client, url(partitioned, quiet), [make_instance(study, PatientID="SHARED-ID")])
    for params in ({"PatientID": "SHARED-ID"}, {}):
        response = client.get(url(partitioned, quiet), params=params)
        assert [r["0020000D"]["Value"][0] for r in response.json()] == [study]
        assert int(response.headers["X-Table-Entities-Read"]) <= 2


# ---- access per partition ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(azurite: Azurite) -> Iterator[tuple[LocalHost, SigningKey]]:
    """Auth on, with hospital-a open to group G-A (or app role HospitalA.Users), hospital-b to group G-B."""
    key = SigningKey()
    jwks = Jwks(key)
    access = {"hospital-a": ["G-A", "HospitalA.Users"], "hospital-b": ["G-B"]}
    host = LocalHost(azurite.connection_string, **ON, **Archive(azurite).settings, **secured(jwks),
                     DICOM_PARTITION_ACCESS=json.dumps(access))  # fmt: skip
    yield host, key
    host.stop()
    jwks.close()


def bearer(key: SigningKey, groups: list[str], extra_roles: list[str] | None = None) -> dict[str, str]:
    token = key.token(roles=["Dicom.Data.Owner", *(extra_roles or [])], groups=groups)
    return {"Authorization": f"Bearer {token}"}


def test_a_token_without_the_partitions_group_gets_403_there(
    client: httpx.Client, guarded: tuple[LocalHost, SigningKey]
) -> None:
    host, key = guarded
    uids = new_uids()
    stored = store(client, url(host, "hospital-a"), [make_instance(*uids)], **bearer(key, ["G-A"]))
    assert stored_uids(stored) == [uids[2]]
    outsider = bearer(key, ["G-B"])
    assert store(client, url(host, "hospital-a"), [make_instance()], **outsider).status_code == 403
    response = client.get(instance_url(host, "hospital-a", uids) + "/metadata", headers=outsider)
    assert response.status_code == 403 and "hospital-a" in response.json()["detail"]
    assert client.delete(url(host, "hospital-a", f"studies/{uids[0]}"), headers=outsider).status_code == 403


def test_an_app_role_opens_a_partition_as_a_group_does(
    client: httpx.Client, guarded: tuple[LocalHost, SigningKey]
) -> None:
    host, key = guarded
    response = store(client, url(host, "hospital-a"), [make_instance()], **bearer(key, [], ["HospitalA.Users"]))
    assert response.status_code == 200


def test_a_partition_the_map_does_not_name_is_closed(
    client: httpx.Client, guarded: tuple[LocalHost, SigningKey]
) -> None:
    host, key = guarded
    assert store(client, url(host, "hospital-c"), [make_instance()], **bearer(key, ["G-A", "G-B"])).status_code == 403


def test_the_partition_list_shows_only_the_callers_partitions(
    client: httpx.Client, guarded: tuple[LocalHost, SigningKey]
) -> None:
    host, key = guarded
    store(client, url(host, "hospital-a"), [make_instance()], **bearer(key, ["G-A"]))
    store(client, url(host, "hospital-b"), [make_instance()], **bearer(key, ["G-B"]))
    listed = client.get(f"{host.url}/v2/partitions", headers=bearer(key, ["G-B"])).json()
    assert [p["partitionName"] for p in listed] == ["hospital-b"]


def test_a_partitions_name_never_reaches_a_container_or_table_name(
    client: httpx.Client, partitioned: LocalHost, archive: Archive
) -> None:
    name = "Saint.Mary-Hospital_2"
    store(client, url(partitioned, name), [make_instance()])
    key = {p["partitionName"]: p["partitionKey"] for p in client.get(f"{partitioned.url}/v2/partitions").json()}[name]
    service = BlobServiceClient.from_connection_string(archive.azurite.connection_string)
    containers = [c.name for c in service.list_containers(name_starts_with=archive.name)]
    tables = [
        t.name for t in TableServiceClient.from_connection_string(archive.azurite.connection_string).list_tables()
    ]
    assert f"{archive.name}-p{key}" in containers and f"{archive.name}p{key}studies" in tables
    assert not [n for n in containers + tables if "mary" in n.lower()]


def test_the_change_feed_stays_at_the_base_uri_and_names_each_entrys_partition(
    client: httpx.Client, partitioned: LocalHost
) -> None:
    uids = new_uids()
    store(client, url(partitioned, "feed-clinic"), [make_instance(*uids)])
    latest = client.get(f"{partitioned.url}/v2/changefeed/latest").json()
    assert (latest["SopInstanceUid"], latest["PartitionName"]) == (uids[2], "feed-clinic")
    assert latest["Metadata"]["7FE00010"]["BulkDataURI"].startswith(url(partitioned, "feed-clinic", "studies/"))
