"""Patient orders (the PostDICOM operations) through the installed `dicomweb order` command against the real
local service on Azurite: create, get (with the images that arrived), search, assign, tag values, delete."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from pydicom.uid import generate_uid

from local.azurite import Azurite
from tests.conftest import LocalHost
from tests.dicom_factory import make_instance
from tests.helpers import store
from tests.test_cli import run


def order(url: str, *arguments: str) -> dict | list:
    result = run(url, "order", *arguments, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def create_order(url: str, patient: str, *more: str) -> dict:
    created = order(url, "create", "--institution", "General", "--patient-name", "Doe^Jane", "--patient-id", patient,
                    "--birth-date", "1980-06-15", "--modality", "MR", "--accession", f"A-{patient}",
                    "--scheduled", "2035-03-01 08:30", "--procedure-description", "MR knee", *more)  # fmt: skip
    assert isinstance(created, dict)
    return created


def unique() -> str:
    return "ORD" + generate_uid()[-10:]


def test_an_order_is_created_with_a_study_instance_uid_and_got_back(base_url: str) -> None:
    patient = unique()
    created = create_order(base_url, patient, "--other-patient-id", f"O-{patient}", "--sex", "F")
    got = order(base_url, "get", created["order"])
    assert got["study_instance_uid"] == created["study_instance_uid"]
    assert (got["patient_id"], got["modality"], got["birth_date"]) == (patient, "MR", "19800615")
    assert (got["state"], got["institution"], got["scheduled"]) == ("SCHEDULED", "General", "20350301083000")


def test_every_order_field_is_kept_and_shown_by_get(base_url: str) -> None:
    patient = unique()
    more = {"other-patient-id": f"O-{patient}", "sex": "F", "study-description": "Knee MRI", "complaints": "pain",
            "procedure-id": "RP7", "requesting-physician": "Who^Doctor", "referring-physician": "Grey^Meredith",
            "equipment": "MR scanner 3 east wing"}  # fmt: skip
    created = create_order(base_url, patient, *(part for name, value in more.items() for part in (f"--{name}", value)))
    got = order(base_url, "get", created["order"])
    assert {name: got[name.replace("-", "_")] for name in more} == more
    assert (got["procedure_description"], got["accession"]) == ("MR knee", f"A-{patient}")


def test_getting_an_order_counts_the_series_and_instances_that_arrived(client: httpx.Client, base_url: str) -> None:
    created = create_order(base_url, unique())
    study, series = created["study_instance_uid"], generate_uid()
    images = [make_instance(study, series), make_instance(study, series), make_instance(study)]
    assert store(client, f"{base_url}/studies", images).status_code == 200
    got = order(base_url, "get", created["order"])
    assert (got["series"], got["instances"]) == (2, 3)


def test_tags_reads_the_chosen_values_from_an_orders_images(client: httpx.Client, base_url: str) -> None:
    created = create_order(base_url, unique())
    study, series = created["study_instance_uid"], generate_uid()
    images = [make_instance(study, series, InstanceNumber=1), make_instance(study, InstanceNumber=2)]
    assert store(client, f"{base_url}/studies", images).status_code == 200
    rows = order(base_url, "tags", created["order"], "--tag", "InstanceNumber", "--tag", "00080060")
    assert sorted(r["00200013"][0] for r in rows) == [1, 2]
    assert all(set(r) == {"00200013", "00080060"} for r in rows)
    one = order(base_url, "tags", created["order"], "--series", series, "--tag", "InstanceNumber")
    assert one == [{"00200013": [1]}]


def test_search_finds_orders_by_patient_accession_modalities_and_date_ranges(base_url: str) -> None:
    patient = unique()
    mr = create_order(base_url, patient)["order"]
    ct = create_order(base_url, unique(), "--other-patient-id", patient)["order"]
    ids = lambda *a: sorted(r["order"] for r in order(base_url, "search", *a))  # noqa: E731
    assert ids("--patient-id", patient) == [mr]
    assert ids("--other-patient-id", patient) == [ct]
    assert ids("--accession", f"A-{patient}", "--modality", "CT", "--modality", "MR") == [mr]
    assert ids("--accession", f"A-{patient}", "--modality", "CT") == []
    assert ids("--patient-id", patient, "--from", "2035-03-01", "--to", "2035-03-01") == [mr]
    assert ids("--patient-id", patient, "--birth-from", "1981-01-01") == []
    assert ids("--patient-id", patient, "--institution", "General") == [mr]
    assert ids("--patient-id", patient, "--institution", "Elsewhere") == []


def test_an_order_is_assigned_to_a_user_and_a_group(base_url: str) -> None:
    created = create_order(base_url, unique())
    user, group = str(uuid.uuid4()), str(uuid.uuid4())
    result = run(base_url, "order", "assign", created["order"], "--user", user, "--group", group)
    assert result.returncode == 0, result.stderr
    assert order(base_url, "get", created["order"])["assigned_to"] == f"{user}, {group}"


def test_a_deleted_order_is_gone(base_url: str) -> None:
    created = create_order(base_url, unique())
    assert run(base_url, "order", "delete", created["order"], "--yes").returncode == 0
    gone = run(base_url, "order", "get", created["order"])
    assert gone.returncode == 4, "not found"
    assert "404" in gone.stderr


def test_an_order_without_a_required_field_is_refused_by_the_command(base_url: str) -> None:
    result = run(base_url, "order", "create", "--institution", "General", "--patient-name", "Doe", "--patient-id",
                 "X", "--birth-date", "15/06/1980", "--modality", "MR")  # fmt: skip
    assert result.returncode == 2
    assert "YYYY-MM-DD" in result.stderr


@pytest.fixture(scope="module")
def partitioned(azurite: Azurite) -> Iterator[LocalHost]:
    host = LocalHost(azurite.connection_string, DICOM_DATA_PARTITIONS_ENABLED="true")
    yield host
    host.stop()


def test_with_partitions_an_institution_is_a_data_partition(partitioned: LocalHost) -> None:
    url = f"{partitioned.url}/v2"
    created = create_order(url, unique())
    with httpx.Client() as http:
        inside = http.get(
            f"{url}/partitions/General/workitems/{created['order']}", headers={"Accept": "application/dicom+json"}
        )
    assert inside.status_code == 200
    assert order(url, "get", created["order"], "--institution", "General")["institution"] == "General"
