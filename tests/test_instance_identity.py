"""A SOP Instance UID names one instance: it is stored under one study and series only; and an instance whose
patient differs from its study's is stored with a warning, never silently."""

from __future__ import annotations

import httpx
from pydicom.uid import generate_uid

from tests.dicom_factory import make_instance
from tests.helpers import failure_comments, failure_reasons, search, store, stored_uids

ALREADY_EXISTS = 45070
PATIENT_MISMATCH = 45066


def _places(client: httpx.Client, base_url: str, sop: str) -> list[tuple[str, str]]:
    found = search(client, f"{base_url}/instances", SOPInstanceUID=sop, includefield="0020000D,0020000E")
    return [(r["0020000D"]["Value"][0], r["0020000E"]["Value"][0]) for r in found]


def _warnings(response: httpx.Response) -> list[tuple[list[int], list[str]]]:
    items = response.json().get("00081199", {}).get("Value", [])
    return [
        (item.get("00081196", {}).get("Value", []),
         [c["00000902"]["Value"][0] for c in item.get("00741048", {}).get("Value", [])])
        for item in items
    ]  # fmt: skip


def test_a_sop_instance_uid_stored_in_one_study_is_refused_in_another_naming_the_clash(
    client: httpx.Client, base_url: str
) -> None:
    first_study, first_series, sop = generate_uid(), generate_uid(), generate_uid()
    assert store(client, f"{base_url}/studies", [make_instance(first_study, first_series, sop)]).status_code == 200
    response = store(client, f"{base_url}/studies", [make_instance(generate_uid(), generate_uid(), sop)])
    assert response.status_code == 409
    assert failure_reasons(response) == [ALREADY_EXISTS]
    assert first_study in failure_comments(response)[0] and first_series in failure_comments(response)[0]
    assert _places(client, base_url, sop) == [(first_study, first_series)]


def test_a_sop_instance_uid_is_refused_in_another_series_of_the_same_study(client: httpx.Client, base_url: str) -> None:
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    store(client, f"{base_url}/studies", [make_instance(study, series, sop)])
    response = store(client, f"{base_url}/studies", [make_instance(study, generate_uid(), sop)])
    assert failure_reasons(response) == [ALREADY_EXISTS]
    assert _places(client, base_url, sop) == [(study, series)]


def test_an_upsert_cannot_store_a_sop_instance_uid_under_other_parents(client: httpx.Client, base_url: str) -> None:
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    store(client, f"{base_url}/studies", [make_instance(study, series, sop)])
    response = store(client, f"{base_url}/studies", [make_instance(generate_uid(), series, sop)], method="PUT")
    assert failure_reasons(response) == [ALREADY_EXISTS]
    assert _places(client, base_url, sop) == [(study, series)]


def test_a_deleted_instance_frees_its_uid_for_another_study(client: httpx.Client, base_url: str) -> None:
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    store(client, f"{base_url}/studies", [make_instance(study, series, sop)])
    assert client.delete(f"{base_url}/studies/{study}").status_code == 204
    other_study = generate_uid()
    response = store(client, f"{base_url}/studies", [make_instance(other_study, series, sop)])
    assert stored_uids(response) == [sop]
    assert _places(client, base_url, sop) == [(other_study, series)]


def test_an_instance_whose_patient_differs_from_its_study_is_stored_with_a_warning(
    client: httpx.Client, base_url: str
) -> None:
    study = generate_uid()
    store(client, f"{base_url}/studies", [make_instance(study, PatientID="PAT-A", PatientName="Doe^Jane")])
    response = store(client, f"{base_url}/studies", [make_instance(study, PatientID="PAT-B", PatientName="Doe^Jane")])
    assert response.status_code == 202
    ((warnings, comments),) = _warnings(response)
    assert warnings == [PATIENT_MISMATCH]
    assert "PatientID" in comments[0] and "PatientName" not in comments[0]
    assert "PAT-A" not in comments[0] and "PAT-B" not in comments[0]


def test_instances_of_one_request_that_disagree_on_the_patient_are_warned(client: httpx.Client, base_url: str) -> None:
    study = generate_uid()
    files = [make_instance(study, PatientBirthDate="19800101"), make_instance(study, PatientBirthDate="19900101")]
    response = store(client, f"{base_url}/studies", files)
    assert response.status_code == 202
    assert [warnings for warnings, _ in _warnings(response)] == [[], [PATIENT_MISMATCH]]


def test_an_instance_of_the_same_patient_is_stored_without_warning(client: httpx.Client, base_url: str) -> None:
    study = generate_uid()
    store(client, f"{base_url}/studies", [make_instance(study)])
    response = store(client, f"{base_url}/studies", [make_instance(study)])
    assert response.status_code == 200
    assert _warnings(response) == [([], [])]
