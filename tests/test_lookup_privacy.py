"""Patient attributes are never readable in the lookup table's keys: whoever reads the table, or a trace of
its request URLs, sees at most a short prefix and a keyed hash (HMAC under DICOM_INDEX_KEY)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from azure.data.tables import TableClient
from pydicom.uid import generate_uid

from local.azurite import Azurite
from tests.archive import Archive
from tests.conftest import LocalHost
from tests.dicom_factory import make_instance
from tests.helpers import search, store

PATIENT = {
    "PatientName": "Smithers^Annabelle",
    "PatientID": "MRN-7734211",
    "PatientBirthDate": "19610417",
    "AccessionNumber": "ACC-99120",
    "ReferringPhysicianName": "Hibbert^Julius",
    "StudyDescription": "Knee MRI left",
}
READABLE = ["smithers", "annabelle", "7734211", "19610417", "99120", "hibbert", "julius", "knee", "mri"]


@pytest.fixture(scope="module")
def archive(azurite: Azurite) -> Iterator[tuple[Archive, LocalHost]]:
    isolated = Archive(azurite)
    host = LocalHost(azurite.connection_string, DICOM_INDEX_KEY="a-test-secret-of-the-deployment-0001",
                     **isolated.settings)  # fmt: skip
    yield isolated, host
    host.stop()


def _lookup_keys(archive: Archive) -> list[str]:
    table = TableClient.from_connection_string(archive.azurite.connection_string, f"{archive.name}lookup")
    return [f"{e['PartitionKey']} {e['RowKey']}".lower() for e in table.list_entities()]


def test_no_patient_value_is_readable_in_any_lookup_key(
    client: httpx.Client, archive: tuple[Archive, LocalHost]
) -> None:
    isolated, host = archive
    # Fixed UIDs and key, so no random digits in a key can look like a leak.
    instance = make_instance("1.2.3.9", "1.2.3.9.1", "1.2.3.9.1.1", **PATIENT)
    assert store(client, f"{host.url}/v2/studies", [instance]).status_code == 200
    keys = _lookup_keys(isolated)
    assert len(keys) > 10
    leaked = [(value, key) for value in READABLE for key in keys if value in key]
    assert leaked == []


@pytest.mark.parametrize(
    "query",
    [
        {"PatientName": "Smithers^Annabelle"},
        {"PatientName": "smith", "fuzzymatching": "true"},
        {"PatientName": "Smithe*"},
        {"PatientID": "MRN-7734211"},
        {"PatientID": "MRN-77*"},
        {"PatientBirthDate": "19610417"},
        {"PatientBirthDate": "19610101-19611231", "PatientID": "MRN-7734211"},
        {"AccessionNumber": "acc-99120"},
        {"ReferringPhysicianName": "Hibbert^Julius"},
        {"StudyDescription": "knee mri left"},
    ],
)
def test_patient_attributes_are_still_found_through_their_hashed_keys(
    client: httpx.Client, archive: tuple[Archive, LocalHost], query: dict[str, str]
) -> None:
    _, host = archive
    study = generate_uid()
    store(client, f"{host.url}/v2/studies", [make_instance(study, **PATIENT)])
    found = {r["0020000D"]["Value"][0] for r in search(client, f"{host.url}/v2/studies", limit="200", **query)}
    assert study in found


def test_another_index_key_gives_other_keys(azurite: Azurite, client: httpx.Client) -> None:
    # The hash is keyed: without the deployment's secret, a guessed name cannot be confirmed from the table.
    first, second = Archive(azurite), Archive(azurite)
    for isolated, secret in (
        (first, "secret-one-of-at-least-32-characters"),
        (second, "secret-two-of-at-least-32-chars"),
    ):
        host = LocalHost(azurite.connection_string, DICOM_INDEX_KEY=secret, **isolated.settings)
        try:
            store(client, f"{host.url}/v2/studies", [make_instance("1.2.3.4", "1.2.3.4.5", "1.2.3.4.5.6", **PATIENT)])
        finally:
            host.stop()
    patient_keys = [{k for k in _lookup_keys(a) if k.startswith("patientid|")} for a in (first, second)]
    assert patient_keys[0] and patient_keys[1] and patient_keys[0].isdisjoint(patient_keys[1])
