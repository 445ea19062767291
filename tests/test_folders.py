"""Folders (an extension API): owners create, search, rename, describe and delete folders and add studies to them;
readers list them; a folder only refers to studies; a deleted study leaves its folders; a folder's share covers
the folder's studies when the link is opened; folders and shares belong to their data partition.

The real local host over HTTP on Azurite with authentication on (tokens signed by the loopback stand-in for
Entra ID, the one thing faked), and a second one with data partitions on.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from local.azurite import Azurite
from tests.archive import Archive
from tests.conftest import LocalHost
from tests.dicom_factory import make_instance
from tests.entra import SigningKey
from tests.helpers import store
from tests.test_shares_common import Study, create_share, module_fixtures, owner, reader, store_study

archive, host = module_fixtures("folders")


@pytest.fixture(scope="module")
def url(host: LocalHost) -> str:
    return f"{host.url}/v2"


@pytest.fixture()
def as_owner(signing_key: SigningKey) -> dict[str, str]:
    return owner(signing_key)


def new_folder(client: httpx.Client, url: str, headers: dict[str, str], **body: str) -> dict:
    response = client.post(f"{url}/folders", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def folder_studies(client: httpx.Client, url: str, headers: dict[str, str], folder: dict) -> list[str]:
    response = client.get(f"{url}/folders/{folder['id']}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["studies"]


def put_study(client: httpx.Client, url: str, headers: dict[str, str], folder: dict, study: str) -> int:
    return client.put(f"{url}/folders/{folder['id']}/studies/{study}", headers=headers).status_code


def test_a_folder_is_created_with_a_name_description_and_parent(client: httpx.Client, url: str,
                                                                as_owner: dict) -> None:  # fmt: skip
    parent = new_folder(client, url, as_owner, name="Cardiology")
    child = new_folder(client, url, as_owner, name="Echo 2026", description="Second opinions", parent=parent["id"])
    assert (child["name"], child["description"], child["parent"]) == ("Echo 2026", "Second opinions", parent["id"])


def test_a_folder_without_a_name_or_under_an_unknown_parent_is_refused(client: httpx.Client, url: str,
                                                                       as_owner: dict) -> None:  # fmt: skip
    assert client.post(f"{url}/folders", json={"description": "x"}, headers=as_owner).status_code == 400
    assert client.post(f"{url}/folders", json={"name": "x", "parent": "nosuch"}, headers=as_owner).status_code == 404
    assert client.post(f"{url}/folders", content=b"not json", headers=as_owner).status_code == 400


def test_folders_are_found_by_parent_and_by_part_of_their_name_in_any_case(client: httpx.Client, url: str,
                                                                           as_owner: dict) -> None:  # fmt: skip
    top = new_folder(client, url, as_owner, name="Neurology Search")
    inner = new_folder(client, url, as_owner, name="MS follow-up", parent=top["id"])
    by_parent = client.get(f"{url}/folders", params={"parent": top["id"]}, headers=as_owner).json()
    assert [f["id"] for f in by_parent] == [inner["id"]]
    top_level = client.get(f"{url}/folders", params={"parent": ""}, headers=as_owner).json()
    assert top["id"] in [f["id"] for f in top_level] and inner["id"] not in [f["id"] for f in top_level]
    by_name = client.get(f"{url}/folders", params={"name": "rology sea"}, headers=as_owner).json()
    assert [f["id"] for f in by_name] == [top["id"]]


def test_searching_folders_with_their_studies_lists_each_folders_studies(client: httpx.Client, url: str,
                                                                         as_owner: dict) -> None:  # fmt: skip
    study = store_study(client, url, as_owner, series=1, instances=1)
    folder = new_folder(client, url, as_owner, name="With studies listed")
    assert put_study(client, url, as_owner, folder, study.study) == 204
    found = client.get(f"{url}/folders", params={"name": "with studies", "studies": "true"}, headers=as_owner).json()
    assert [f["studies"] for f in found] == [[study.study]]


def test_a_folder_is_renamed_and_described(client: httpx.Client, url: str, as_owner: dict) -> None:
    folder = new_folder(client, url, as_owner, name="Old name")
    body = {"name": "New name", "description": "Now described"}
    response = client.patch(f"{url}/folders/{folder['id']}", json=body, headers=as_owner)
    assert response.status_code == 200
    fetched = client.get(f"{url}/folders/{folder['id']}", headers=as_owner).json()
    assert (fetched["name"], fetched["description"]) == ("New name", "Now described")


def test_only_an_empty_folder_can_be_deleted(client: httpx.Client, url: str, as_owner: dict) -> None:
    study = store_study(client, url, as_owner, series=1, instances=1)
    folder = new_folder(client, url, as_owner, name="To delete")
    child = new_folder(client, url, as_owner, name="Child", parent=folder["id"])
    put_study(client, url, as_owner, folder, study.study)
    assert client.delete(f"{url}/folders/{folder['id']}", headers=as_owner).status_code == 409
    client.delete(f"{url}/folders/{folder['id']}/studies/{study.study}", headers=as_owner)
    assert client.delete(f"{url}/folders/{folder['id']}", headers=as_owner).status_code == 409  # the child
    assert client.delete(f"{url}/folders/{child['id']}", headers=as_owner).status_code == 204
    assert client.delete(f"{url}/folders/{folder['id']}", headers=as_owner).status_code == 204
    assert client.get(f"{url}/folders/{folder['id']}", headers=as_owner).status_code == 404


def test_a_study_is_added_to_several_folders_and_removed_from_one_without_moving_anything(
    client: httpx.Client, url: str, as_owner: dict
) -> None:
    study = store_study(client, url, as_owner, series=1, instances=1)
    first, second = (new_folder(client, url, as_owner, name=name) for name in ("First", "Second"))
    assert [put_study(client, url, as_owner, f, study.study) for f in (first, second)] == [204, 204]
    assert client.delete(f"{url}/folders/{first['id']}/studies/{study.study}", headers=as_owner).status_code == 204
    assert folder_studies(client, url, as_owner, first) == []
    assert folder_studies(client, url, as_owner, second) == [study.study]
    series, sop = study.first()
    accept = {"Accept": "application/dicom; transfer-syntax=*", **as_owner}
    retrieved = client.get(f"{url}/studies/{study.study}/series/{series}/instances/{sop}", headers=accept)
    assert retrieved.content == study.files[series, sop]


def test_a_study_that_is_not_stored_cannot_be_added_to_a_folder(client: httpx.Client, url: str,
                                                                as_owner: dict) -> None:  # fmt: skip
    folder = new_folder(client, url, as_owner, name="Nothing")
    assert put_study(client, url, as_owner, folder, "1.2.3.4.5.6.7") == 404
    assert put_study(client, url, as_owner, folder, "not-a-uid") == 400


def test_deleting_a_study_removes_it_from_its_folders_even_if_its_uid_is_stored_again(
    client: httpx.Client, url: str, as_owner: dict
) -> None:
    study = store_study(client, url, as_owner, series=1, instances=1)
    folder = new_folder(client, url, as_owner, name="Deleted later")
    put_study(client, url, as_owner, folder, study.study)
    assert client.delete(f"{url}/studies/{study.study}", headers=as_owner).status_code == 204
    assert store(client, f"{url}/studies", [make_instance(study.study)], **as_owner).status_code == 200
    assert folder_studies(client, url, as_owner, folder) == []


def test_a_study_emptied_series_by_series_leaves_its_folders_when_they_are_next_read(
    client: httpx.Client, url: str, as_owner: dict
) -> None:
    study = store_study(client, url, as_owner, series=1, instances=1)
    folder = new_folder(client, url, as_owner, name="Emptied")
    put_study(client, url, as_owner, folder, study.study)
    (series,) = study.series
    assert client.delete(f"{url}/studies/{study.study}/series/{series}", headers=as_owner).status_code == 204
    assert folder_studies(client, url, as_owner, folder) == []


def test_readers_list_folders_but_only_owners_change_them(client: httpx.Client, url: str, as_owner: dict,
                                                          signing_key: SigningKey) -> None:  # fmt: skip
    folder = new_folder(client, url, as_owner, name="Read only")
    as_reader = reader(signing_key)
    assert client.get(f"{url}/folders", headers=as_reader).status_code == 200
    assert client.get(f"{url}/folders/{folder['id']}", headers=as_reader).status_code == 200
    assert client.post(f"{url}/folders", json={"name": "x"}, headers=as_reader).status_code == 403
    assert client.patch(f"{url}/folders/{folder['id']}", json={"name": "x"}, headers=as_reader).status_code == 403
    assert client.delete(f"{url}/folders/{folder['id']}", headers=as_reader).status_code == 403
    assert client.get(f"{url}/folders").status_code == 401


def test_a_folder_share_covers_the_folders_studies_when_the_link_is_opened(client: httpx.Client, url: str,
                                                                           as_owner: dict) -> None:  # fmt: skip
    early, late = (store_study(client, url, as_owner, series=1, instances=1) for _ in range(2))
    folder = new_folder(client, url, as_owner, name="Shared folder")
    put_study(client, url, as_owner, folder, early.study)
    share = create_share(client, url, as_owner, folder=folder["id"], title="Folder")
    listed = lambda: [s["study"] for s in client.get(share["url"] + "/studies").json()["studies"]]  # noqa: E731
    assert listed() == [early.study]
    put_study(client, url, as_owner, folder, late.study)
    assert sorted(listed()) == sorted([early.study, late.study])
    client.delete(f"{url}/folders/{folder['id']}/studies/{early.study}", headers=as_owner)
    series, sop = early.first()
    assert listed() == [late.study]
    assert (
        client.get(f"{share['url']}/studies/{early.study}/series/{series}/instances/{sop}/rendered").status_code == 404
    )


def test_a_folder_share_without_an_expiry_gets_the_configured_maximum(client: httpx.Client, url: str,
                                                                      as_owner: dict) -> None:  # fmt: skip
    folder = new_folder(client, url, as_owner, name="No expiry")
    response = client.post(f"{url}/shares", json={"folder": folder["id"]}, headers=as_owner)
    expires = datetime.fromisoformat(response.json()["expires"])
    assert response.status_code == 201
    assert timedelta(days=89) < expires - datetime.now(UTC) <= timedelta(days=91)


# ---- data partitions ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def partitioned(azurite: Azurite) -> Iterator[LocalHost]:
    service = LocalHost(azurite.connection_string, DICOM_DATA_PARTITIONS_ENABLED="true", **Archive(azurite).settings)
    yield service
    service.stop()


def test_folders_and_share_links_belong_to_their_data_partition(client: httpx.Client,
                                                                partitioned: LocalHost) -> None:  # fmt: skip
    one, two = (f"{partitioned.url}/v2/partitions/{name}" for name in ("clinic-one", "clinic-two"))
    study: Study = store_study(client, one, {})
    store_study(client, two, {}, series=1, instances=1)  # creates the second partition
    folder = new_folder(client, one, {}, name="Only in one")
    assert client.get(f"{two}/folders/{folder['id']}").status_code == 404
    assert put_study(client, two, {}, folder, study.study) == 404
    share = create_share(client, one, {}, studies=[study.study])
    assert share["url"].startswith(f"{one}/share/")
    assert client.get(share["url"] + "/studies").status_code == 200
    assert client.get(share["url"].replace("clinic-one", "clinic-two") + "/studies").status_code == 404
