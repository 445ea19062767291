"""DELETE of a study, a series or an instance: 204, then 404; siblings untouched; counts kept right."""

from __future__ import annotations

import httpx
from azure.data.tables import TableClient
from pydicom.uid import generate_uid

from local.azurite import Azurite
from tests.dicom_factory import make_instance
from tests.helpers import search, store, values


def stored_study(client: httpx.Client, base_url: str) -> tuple[str, str, str, list[str]]:
    study, ct, mr = generate_uid(), generate_uid(), generate_uid()
    sops = [generate_uid() for _ in range(3)]
    files = [
        make_instance(study, ct, sops[0]),
        make_instance(study, ct, sops[1]),
        make_instance(study, mr, sops[2], Modality="MR"),
    ]
    assert store(client, f"{base_url}/studies", files).status_code == 200
    return study, ct, mr, sops


def test_delete_instance_answers_204_and_leaves_siblings(client: httpx.Client, base_url: str) -> None:
    study, ct, _, sops = stored_study(client, base_url)
    assert client.delete(f"{base_url}/studies/{study}/series/{ct}/instances/{sops[0]}").status_code == 204
    assert client.get(f"{base_url}/studies/{study}/series/{ct}/instances/{sops[0]}").status_code == 404
    assert client.get(f"{base_url}/studies/{study}/series/{ct}/instances/{sops[1]}").status_code == 200
    (result,) = search(client, f"{base_url}/studies", StudyInstanceUID=study, includefield="all")
    assert values(result, "00201208") == [2]


def test_second_delete_answers_404(client: httpx.Client, base_url: str) -> None:
    study, ct, _, sops = stored_study(client, base_url)
    url = f"{base_url}/studies/{study}/series/{ct}/instances/{sops[0]}"
    assert client.delete(url).status_code == 204
    assert client.delete(url).status_code == 404


def test_delete_series_updates_study_counts_and_modalities(client: httpx.Client, base_url: str) -> None:
    study, _, mr, _ = stored_study(client, base_url)
    assert client.delete(f"{base_url}/studies/{study}/series/{mr}").status_code == 204
    (result,) = search(client, f"{base_url}/studies", StudyInstanceUID=study, includefield="all")
    assert values(result, "00080061") == ["CT"]
    assert values(result, "00201206") == [1]
    assert search(client, f"{base_url}/series", SeriesInstanceUID=mr) == []


def test_delete_study_removes_every_instance_and_its_search_entries(client: httpx.Client, base_url: str) -> None:
    study, _, _, sops = stored_study(client, base_url)
    assert client.delete(f"{base_url}/studies/{study}").status_code == 204
    assert client.get(f"{base_url}/studies/{study}/metadata").status_code == 404
    assert all(search(client, f"{base_url}/instances", SOPInstanceUID=sop) == [] for sop in sops)


def test_delete_unknown_study_answers_404(client: httpx.Client, base_url: str) -> None:
    assert client.delete(f"{base_url}/studies/{generate_uid()}").status_code == 404


def test_delete_with_bad_uid_answers_400(client: httpx.Client, base_url: str) -> None:
    assert client.delete(f"{base_url}/studies/1.2.x").status_code == 400


def pointers_naming(azurite: Azurite, *uids: str) -> list[str]:
    table = TableClient.from_connection_string(azurite.connection_string, "dicomlookup")
    return [f"{e['PartitionKey']} {e['RowKey']}" for e in table.list_entities() if any(u in e["RowKey"] for u in uids)]


def test_delete_study_removes_every_lookup_pointer_of_it(client: httpx.Client, base_url: str, azurite: Azurite) -> None:
    study, *_ = stored_study(client, base_url)
    assert pointers_naming(azurite, study), "the store wrote pointers (PatientID, SOPInstanceUID, ...)"
    assert client.delete(f"{base_url}/studies/{study}").status_code == 204
    assert pointers_naming(azurite, study) == []


def test_delete_series_removes_its_pointers_and_keeps_the_study_s(
    client: httpx.Client, base_url: str, azurite: Azurite
) -> None:
    study, ct, mr, sops = stored_study(client, base_url)
    assert client.delete(f"{base_url}/studies/{study}/series/{mr}").status_code == 204
    assert pointers_naming(azurite, mr) == []
    remaining = pointers_naming(azurite, study)
    assert any(row.endswith(f" {study}") for row in remaining), "study-level pointers stay"
    assert any(ct in row for row in remaining) and any(sops[0] in row for row in remaining)
