"""Searching workitems through real HTTP on an isolated archive in Azurite: the attributes the reference service
documents (sequence paths included), ranges, fuzzy names, includefield, limit/offset, 204; O(matches) reads;
no patient value readable in a table key."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from azure.data.tables import TableClient
from pydicom.uid import generate_uid

from local.azurite import Azurite
from tests.archive import Archive
from tests.conftest import LocalHost
from tests.test_worklist import DICOM_JSON, change_state, code, create, element, update, workitem_json


@pytest.fixture(scope="module")
def archive(azurite: Azurite) -> Archive:
    return Archive(azurite)


@pytest.fixture(scope="module")
def host(archive: Archive) -> Iterator[LocalHost]:
    service = archive.service()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def url(host: LocalHost) -> str:
    return f"{host.url}/v2"


def unique() -> str:
    return generate_uid()[-12:]


def add(client: httpx.Client, url: str, **fields: object) -> str:
    uid = generate_uid()
    assert create(client, url, workitem_json(**fields), uid).status_code == 201  # type: ignore[arg-type]
    return uid


def find(client: httpx.Client, url: str, **params: str) -> httpx.Response:
    return client.get(f"{url}/workitems", params=params, headers={"Accept": DICOM_JSON})


def uids(response: httpx.Response) -> list[str]:
    return [] if response.status_code == 204 else [r["00080018"]["Value"][0] for r in response.json()]


def test_search_by_patient_id_returns_only_its_workitems(client: httpx.Client, url: str) -> None:
    patient = unique()
    mine = add(client, url, patient_id=patient)
    add(client, url, patient_id=unique())
    assert uids(find(client, url, PatientID=patient)) == [mine]


def test_a_search_without_matches_answers_204(client: httpx.Client, url: str) -> None:
    assert find(client, url, PatientID=unique()).status_code == 204


def test_search_by_a_sequence_path_keyword_or_tags(client: httpx.Client, url: str) -> None:
    patient = unique()
    uid = add(client, url, patient_id=patient)
    assert uids(find(client, url, **{"ReferencedRequestSequence.AccessionNumber": f"ACC-{patient}"})) == [uid]
    assert uids(find(client, url, **{"0040A370.00080050": f"acc-{patient}"})) == [uid]


def test_search_by_scheduled_station_class_code(client: httpx.Client, url: str) -> None:
    modality = "X" + unique()[-6:]
    uid = add(client, url, **{"00404026": element("SQ", code(modality, "DCM"))})
    assert uids(find(client, url, **{"ScheduledStationClassCodeSequence.CodeValue": modality})) == [uid]


def test_search_by_a_range_of_scheduled_start(client: httpx.Client, url: str) -> None:
    patient = unique()
    early = add(client, url, patient_id=patient, start="20410101080000")
    late = add(client, url, patient_id=patient, start="20410301080000")
    add(client, url, patient_id=patient, start="20410601080000")
    found = find(client, url, ScheduledProcedureStepStartDateTime="20410101-20410331")
    assert uids(found) == [early, late]


def test_fuzzy_matching_finds_a_name_by_the_prefix_of_any_part(client: httpx.Client, url: str) -> None:
    surname = "Zq" + unique()[-6:].translate(str.maketrans("0123456789.", "abcdefghijk"))
    uid = add(client, url, name=f"{surname}^Johanna")
    assert uids(find(client, url, PatientName="joh", fuzzymatching="true")).count(uid) == 1
    assert uids(find(client, url, PatientName=surname[:5].lower(), fuzzymatching="true")) == [uid]
    assert uid not in uids(find(client, url, PatientName=surname[:5]))


def test_names_match_without_regard_to_case_or_accents(client: httpx.Client, url: str) -> None:
    surname = "Qé" + unique()[-6:].translate(str.maketrans("0123456789.", "abcdefghijk"))
    uid = add(client, url, name=f"{surname}^Zoë")
    plain = surname.replace("é", "e").upper()
    assert uids(find(client, url, PatientName=f"{plain}^ZOE")) == [uid]


def test_search_by_procedure_step_state(client: httpx.Client, url: str) -> None:
    patient = unique()
    scheduled = add(client, url, patient_id=patient)
    cancelled = add(client, url, patient_id=patient)
    client.post(f"{url}/workitems/{cancelled}/cancelrequest", content=b"", headers={"Accept": DICOM_JSON})
    assert uids(find(client, url, PatientID=patient, ProcedureStepState="CANCELED")) == [cancelled]
    assert uids(find(client, url, PatientID=patient, ProcedureStepState="scheduled")) == [scheduled]


def test_includefield_adds_an_attribute_and_all_returns_everything(client: httpx.Client, url: str) -> None:
    patient = unique()
    add(client, url, patient_id=patient, **{"00400400": element("LT", "fasting")})
    assert "00400400" not in find(client, url, PatientID=patient).json()[0]
    assert (
        "00400400" in find(client, url, PatientID=patient, includefield="CommentsOnTheScheduledProcedureStep").json()[0]
    )
    assert "00400400" in find(client, url, PatientID=patient, includefield="all").json()[0]


def test_limit_and_offset_page_through_matches_in_scheduled_order(client: httpx.Client, url: str) -> None:
    patient = unique()
    made = [add(client, url, patient_id=patient, start=f"2042010{day}090000") for day in range(1, 6)]
    assert uids(find(client, url, PatientID=patient, limit="2", offset="1")) == made[1:3]
    assert find(client, url, PatientID=patient, offset="5").status_code == 204


def test_a_limit_over_200_or_an_unknown_attribute_is_a_400_saying_what_is_allowed(
    client: httpx.Client, url: str
) -> None:
    assert find(client, url, limit="201").status_code == 400
    response = find(client, url, Modality="CT")
    assert response.status_code == 400
    assert "ScheduledStationClassCodeSequence.CodeValue" in response.json()["detail"]


def test_a_search_reads_only_the_pointers_and_workitems_it_matches(client: httpx.Client, url: str) -> None:
    patient = unique()
    for _ in range(5):
        add(client, url, patient_id=unique())
    mine = add(client, url, patient_id=patient)
    response = find(client, url, PatientID=patient)
    assert uids(response) == [mine]
    assert int(response.headers["X-Table-Entities-Read"]) == 2  # its pointer and the workitem


def test_an_updated_value_is_found_by_the_new_value_only(client: httpx.Client, url: str) -> None:
    old, new = unique(), unique()
    uid = add(client, url, patient_id=old)
    assert update(client, url, uid, {"00100020": element("LO", new)}).status_code == 200
    assert uids(find(client, url, PatientID=new)) == [uid]
    assert find(client, url, PatientID=old).status_code == 204


def test_search_by_other_patient_id_and_birth_date_range_additions(client: httpx.Client, url: str) -> None:
    other = unique()
    others = element("SQ", {"00100020": element("LO", other)})
    uid = add(client, url, **{"00101002": others, "00100030": element("DA", "19800615")})
    assert uids(find(client, url, **{"OtherPatientIDsSequence.PatientID": other})) == [uid]
    found = find(client, url, **{"OtherPatientIDsSequence.PatientID": other, "PatientBirthDate": "19800101-19801231"})
    assert uids(found) == [uid]
    assert (
        find(client, url, **{"OtherPatientIDsSequence.PatientID": other, "PatientBirthDate": "1990-"}).status_code
        == 204
    )


def test_no_table_key_holds_a_patient_name_or_id(client: httpx.Client, url: str, archive: Archive) -> None:
    patient, surname = "SECRETID" + unique(), "Secretname"
    add(client, url, patient_id=patient, name=f"{surname}^Ann")
    table = TableClient.from_connection_string(archive.azurite.connection_string, f"{archive.name}workitems")
    keys = " ".join(
        f"{e['PartitionKey']} {e['RowKey']}" for e in table.list_entities(select=["PartitionKey", "RowKey"])
    )
    assert patient.lower() not in keys.lower()
    assert surname.lower()[:4] not in keys.lower()


def test_a_fuzzy_name_search_reads_only_the_workitems_whose_names_have_that_prefix(
    client: httpx.Client, url: str
) -> None:
    stem = "Pq" + unique()[-6:].translate(str.maketrans("0123456789.", "abcdefghijk"))
    mine = add(client, url, name=f"{stem}aa^Ann")
    add(client, url, name=f"{stem}bb^Ann")
    add(client, url, name=f"{stem}cc^Ann")
    response = find(client, url, PatientName=f"{stem}a", fuzzymatching="true")
    assert uids(response) == [mine]
    assert int(response.headers["X-Table-Entities-Read"]) == 2  # one pointer, one workitem


def documented(value: str, study: str) -> dict[str, str]:
    """Each search attribute the reference service documents, with the value the workitem below has."""
    return {
        "PatientName": f"Doc{value}^Ann", "PatientID": value,
        "ReferencedRequestSequence.AccessionNumber": f"ACC-{value}",
        "ReferencedRequestSequence.RequestedProcedureID": f"RP{value}",
        "ScheduledStationNameCodeSequence.CodeValue": f"N{value}",
        "ScheduledStationClassCodeSequence.CodeValue": f"C{value}",
        "ScheduledStationGeographicLocationCodeSequence.CodeValue": f"G{value}", "StudyInstanceUID": study,
    }  # fmt: skip


@pytest.mark.parametrize("attribute", documented("x", "1").keys())
def test_each_documented_search_attribute_finds_its_workitem(client: httpx.Client, url: str, attribute: str) -> None:
    value, study = unique()[-8:], generate_uid()
    request = {"00080050": element("SH", f"ACC-{value}"), "00401001": element("SH", f"RP{value}")}
    uid = add(client, url, patient_id=value, name=f"Doc{value}^Ann", **{
        "0020000D": element("UI", study), "0040A370": element("SQ", request),
        "00404025": element("SQ", code(f"N{value}")), "00404026": element("SQ", code(f"C{value}")),
        "00404027": element("SQ", code(f"G{value}")),
    })  # fmt: skip
    assert uids(find(client, url, **{attribute: documented(value, study)[attribute]})) == [uid]


def test_a_result_holds_the_return_keys_and_never_the_transaction_uid(client: httpx.Client, url: str) -> None:
    patient = unique()
    uid = add(client, url, patient_id=patient)
    change_state(client, url, uid, "IN PROGRESS", generate_uid())
    (result,) = find(client, url, PatientID=patient, includefield="all").json()
    assert "00081195" not in result
    (result,) = find(client, url, PatientID=patient).json()
    assert {"00741200", "00741204", "00404005", "00404041", "00741000", "0040A370", "00100010"} <= set(result)


def test_an_empty_search_key_matches_everything_and_is_returned(client: httpx.Client, url: str) -> None:
    patient = unique()
    uid = add(client, url, patient_id=patient, **{"00400400": element("LT", "fasting")})
    response = find(client, url, PatientID=patient, CommentsOnTheScheduledProcedureStep="")
    assert uids(response) == [uid]
    assert response.json()[0]["00400400"]["Value"] == ["fasting"]
