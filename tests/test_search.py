"""QIDO-RS: the six paths, attributes per level, matching, includefield, paging, and 204/400 rules."""

from __future__ import annotations

import secrets
import time

import httpx
import pytest
from azure.data.tables import TableClient
from pydicom.uid import generate_uid

from archive.lookup import ALL_STUDIES, listing_key
from local.azurite import Azurite
from tests.archive import Archive
from tests.dicom_factory import make_instance
from tests.helpers import search, store, values

TOKEN = secrets.token_hex(4).upper()  # keeps this module's data apart from other tests'


@pytest.fixture(scope="module")
def archive(base_url: str) -> dict:
    """Three studies, stored oldest first: A (CT+MR, 2 series), B (CT), C (US)."""
    a, b, c = generate_uid(), generate_uid(), generate_uid()
    a_ct, a_mr, b_ct, c_us = (generate_uid() for _ in range(4))
    patient = f"PID-{TOKEN}"
    common = {"PatientID": patient, "ReferringPhysicianName": "Who^Doctor"}
    studies = [
        [
            make_instance(
                a,
                a_ct,
                PatientName=f"Müller^Jöhn{TOKEN}",
                StudyDate="20200110",
                AccessionNumber=f"acc-{TOKEN}-a",
                StudyTime="101500",
                **common,
            ),
            make_instance(
                a,
                a_mr,
                PatientName=f"Müller^Jöhn{TOKEN}",
                StudyDate="20200110",
                Modality="MR",
                AccessionNumber=f"acc-{TOKEN}-a",
                ManufacturerModelName="Scanner X",
                **common,
            ),
        ],
        [
            make_instance(
                b,
                b_ct,
                PatientName=f"Doe{TOKEN}^Jane",
                StudyDate="20210620",
                AccessionNumber=f"acc-{TOKEN}-b",
                StudyDescription="Chest",
                **common,
            )
        ],
        [
            make_instance(
                c,
                c_us,
                PatientName=f"Roe{TOKEN}^Richard",
                StudyDate="20221231",
                Modality="US",
                AccessionNumber=f"acc-{TOKEN}-c",
                **common,
            )
        ],
    ]
    with httpx.Client() as client:
        for files in studies:  # one request each, so the stored order is known
            assert store(client, f"{base_url}/studies", files).status_code == 200
    return {"a": a, "b": b, "c": c, "a_ct": a_ct, "a_mr": a_mr, "patient": patient}


def uids(results: list[dict], tag: str = "0020000D") -> list[str]:
    return [values(r, tag)[0] for r in results]


def test_results_are_newest_first(client: httpx.Client, base_url: str, archive: dict) -> None:
    results = search(client, f"{base_url}/studies", PatientID=archive["patient"])
    assert uids(results) == [archive["c"], archive["b"], archive["a"]]


def test_person_name_matches_ignoring_case_and_accents(client: httpx.Client, base_url: str, archive: dict) -> None:
    results = search(client, f"{base_url}/studies", PatientName=f"mueller^john{TOKEN}".replace("ue", "u"))
    assert uids(results) == [archive["a"]]


@pytest.mark.parametrize("query", ["joh", "mu", "mu joh"])
def test_fuzzy_matching_matches_word_prefixes(client: httpx.Client, base_url: str, archive: dict, query: str) -> None:
    # Each query word must start a word of the name; the TOKEN keeps other tests' names out.
    name = f"{query} jöhn{TOKEN}" if "joh" not in query else query.replace("joh", f"john{TOKEN}"[:6])
    results = search(
        client, f"{base_url}/studies", PatientName=name, fuzzymatching="true", PatientID=archive["patient"]
    )
    assert uids(results) == [archive["a"]]


def test_fuzzy_matching_does_not_match_the_middle_of_a_word(client: httpx.Client, base_url: str, archive: dict) -> None:
    assert (
        search(client, f"{base_url}/studies", PatientName="ohn", fuzzymatching="true", PatientID=archive["patient"])
        == []
    )


def test_without_fuzzymatching_a_partial_name_does_not_match(
    client: httpx.Client, base_url: str, archive: dict
) -> None:
    assert search(client, f"{base_url}/studies", PatientName=f"Doe{TOKEN}") == []


@pytest.mark.parametrize(
    ("date", "expected"),
    [("20200110", "a"), ("20200101-20211231", "ab"), ("20210101-", "bc"), ("-20210620", "ab")],
)
def test_study_date_exact_and_ranges(
    client: httpx.Client, base_url: str, archive: dict, date: str, expected: str
) -> None:
    results = search(client, f"{base_url}/studies", StudyDate=date, PatientID=archive["patient"])
    assert sorted(uids(results)) == sorted(archive[k] for k in expected)


def test_study_date_range_alone_uses_the_date_index(client: httpx.Client, base_url: str, archive: dict) -> None:
    results = search(client, f"{base_url}/studies", StudyDate="20221231")
    assert archive["c"] in uids(results)


@pytest.mark.parametrize("date", ["-", "20220101-20210101", "2022-01-01", "20221345"])
def test_invalid_dates_and_ranges_answer_400(client: httpx.Client, base_url: str, date: str) -> None:
    response = client.get(f"{base_url}/studies", params={"StudyDate": date})
    assert response.status_code == 400
    assert "StudyDate" in response.json()["detail"]


def test_accession_number_matches_case_insensitively(client: httpx.Client, base_url: str, archive: dict) -> None:
    results = search(client, f"{base_url}/studies", AccessionNumber=f"ACC-{TOKEN}-B")
    assert uids(results) == [archive["b"]]


def test_modalities_in_study_finds_studies_with_a_series_of_that_modality(
    client: httpx.Client, base_url: str, archive: dict
) -> None:
    results = search(
        client,
        f"{base_url}/studies",
        ModalitiesInStudy="MR",
        PatientID=archive["patient"],
        includefield="ModalitiesInStudy",
    )
    assert uids(results) == [archive["a"]]
    assert values(results[0], "00080061") == ["CT", "MR"]


def test_modality_search_at_series_level_carries_study_attributes(
    client: httpx.Client, base_url: str, archive: dict
) -> None:
    (result,) = search(client, f"{base_url}/series", Modality="MR", PatientID=archive["patient"])
    assert values(result, "0020000E") == [archive["a_mr"]]
    assert values(result, "0020000D") == [archive["a"]]
    assert values(result, "00081090") == ["Scanner X"]
    assert values(result, "00100020") == [archive["patient"]]


def test_series_in_study_path(client: httpx.Client, base_url: str, archive: dict) -> None:
    results = search(client, f"{base_url}/studies/{archive['a']}/series")
    assert sorted(uids(results, "0020000E")) == sorted([archive["a_ct"], archive["a_mr"]])


def test_instances_at_every_path(client: httpx.Client, base_url: str, archive: dict) -> None:
    assert len(search(client, f"{base_url}/instances", PatientID=archive["patient"])) == 4
    assert len(search(client, f"{base_url}/studies/{archive['a']}/instances")) == 2
    assert len(search(client, f"{base_url}/studies/{archive['a']}/series/{archive['a_mr']}/instances")) == 1


def test_instance_results_carry_series_and_study_attributes(client: httpx.Client, base_url: str, archive: dict) -> None:
    (result,) = search(client, f"{base_url}/studies/{archive['a']}/series/{archive['a_mr']}/instances")
    assert values(result, "00080060") == ["MR"]
    assert values(result, "0020000D") == [archive["a"]]
    assert "00080018" in result


def test_uid_lists_match_any(client: httpx.Client, base_url: str, archive: dict) -> None:
    results = search(client, f"{base_url}/studies", StudyInstanceUID=f"{archive['a']},{archive['c']}")
    assert sorted(uids(results)) == sorted([archive["a"], archive["c"]])


def test_v2_returns_the_default_study_attributes_the_study_has(
    client: httpx.Client, base_url: str, archive: dict
) -> None:
    (result,) = search(client, f"{base_url}/studies", StudyInstanceUID=archive["a"])
    # StudyDescription and PatientBirthDate are defaults too, but study A's files do not have them.
    stored = {"00080020", "00080050", "00080090", "00100010", "00100020", "0020000D"}
    assert set(result) == stored | {"00080061", "00201206", "00201208"}


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_study_results_carry_modalities_and_counts_by_default(
    client: httpx.Client, base_url: str, archive: dict, version: str
) -> None:
    """What every viewer's study list shows (PS3.18 lists them among a study's QIDO attributes)."""
    (result,) = search(client, f"{base_url.replace('/v2', '/' + version)}/studies", StudyInstanceUID=archive["a"])
    assert values(result, "00080061") == ["CT", "MR"]
    assert values(result, "00201206") == [2]
    assert values(result, "00201208") == [2]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_series_results_carry_their_instance_count_by_default(
    client: httpx.Client, base_url: str, archive: dict, version: str
) -> None:
    url = f"{base_url.replace('/v2', '/' + version)}/studies/{archive['a']}/series"
    results = search(client, url, SeriesInstanceUID=archive["a_mr"])
    assert [values(r, "00201209") for r in results] == [[1]]
    assert "00201208" not in results[0]  # the study's counts only when asked for


def test_v2_series_results_carry_series_number_and_description_by_default(client: httpx.Client, base_url: str) -> None:
    """What a viewer labels each series with (OHIF's series cards); beyond the reference's defaults."""
    study, series = generate_uid(), generate_uid()
    instance = make_instance(study, series, SeriesNumber="7", SeriesDescription="Axial 5mm")
    assert store(client, f"{base_url}/studies", [instance]).status_code == 200
    (result,) = search(client, f"{base_url}/studies/{study}/series")
    assert values(result, "00200011") == [7]
    assert values(result, "0008103E") == ["Axial 5mm"]


def test_modality_asked_of_a_study_answers_its_series_modalities(
    client: httpx.Client, base_url: str, archive: dict
) -> None:
    """OHIF's study list asks includefield=00080060 at study level and reads Modality."""
    (result,) = search(client, f"{base_url}/studies", StudyInstanceUID=archive["a"], includefield="00080060")
    assert values(result, "00080060") == ["CT", "MR"]


def test_v1_returns_more_attributes_by_default(client: httpx.Client, v1_url: str, archive: dict) -> None:
    (result,) = search(client, f"{v1_url}/studies", StudyInstanceUID=archive["a"])
    assert values(result, "00080030") == ["101500"]


def test_includefield_all_adds_computed_counts(client: httpx.Client, base_url: str, archive: dict) -> None:
    (result,) = search(client, f"{base_url}/studies", StudyInstanceUID=archive["a"], includefield="all")
    assert values(result, "00201206") == [2]
    assert values(result, "00201208") == [2]
    assert values(result, "00080030") == ["101500"]


def test_includefield_by_keyword_and_by_tag(client: httpx.Client, base_url: str, archive: dict) -> None:
    (result,) = search(client, f"{base_url}/studies", StudyInstanceUID=archive["a"], includefield="StudyTime,00201208")
    assert values(result, "00080030") == ["101500"]
    assert values(result, "00201208") == [2]


def test_limit_and_offset_page_through_results(client: httpx.Client, base_url: str, archive: dict) -> None:
    pages = [
        search(client, f"{base_url}/studies", PatientID=archive["patient"], limit="2", offset=str(o)) for o in (0, 2)
    ]
    assert [len(p) for p in pages] == [2, 1]
    assert uids(pages[0] + pages[1]) == [archive["c"], archive["b"], archive["a"]]


def test_paging_is_stable_when_results_were_stored_together(client: httpx.Client, base_url: str) -> None:
    # One request commits its instances in one transaction, with one timestamp: the UIDs break the tie.
    study, series = generate_uid(), generate_uid()
    assert store(client, f"{base_url}/studies", [make_instance(study, series) for _ in range(7)]).status_code == 200
    url = f"{base_url}/studies/{study}/series/{series}/instances"
    everything = [values(r, "00080018")[0] for r in search(client, url)]
    paged = [values(r, "00080018")[0] for o in range(0, 7, 3) for r in search(client, url, limit="3", offset=str(o))]
    assert paged == everything and len(set(paged)) == 7


def test_the_unfiltered_worklist_lists_studies_newest_first_by_their_first_store(
    client: httpx.Client, base_url: str
) -> None:
    first, second, deleted = generate_uid(), generate_uid(), generate_uid()
    for study in (first, second, deleted):
        assert store(client, f"{base_url}/studies", [make_instance(study)]).status_code == 200
    assert store(client, f"{base_url}/studies", [make_instance(first)]).status_code == 200, "a later instance"
    assert client.delete(f"{base_url}/studies/{deleted}").status_code == 204
    listed = uids(search(client, f"{base_url}/studies", limit="200"))
    assert [uid for uid in listed if uid in (first, second, deleted)] == [second, first]


def test_a_study_pointer_left_by_a_lost_creation_race_neither_duplicates_nor_moves_the_study(
    client: httpx.Client, base_url: str, azurite: Azurite
) -> None:
    study, later = generate_uid(), generate_uid()
    store(client, f"{base_url}/studies", [make_instance(study)])
    store(client, f"{base_url}/studies", [make_instance(later)])
    # The loser of two concurrent first stores wrote its pointer with its own (here: newest) time.
    lookup = TableClient.from_connection_string(azurite.connection_string, "dicomlookup")
    partition, row = listing_key(study, f"{time.time_ns():020d}")
    lookup.upsert_entity({"PartitionKey": partition, "RowKey": row})
    listed = uids(search(client, f"{base_url}/studies", limit="200"))
    assert [uid for uid in listed if uid in (study, later)] == [later, study]


def test_studies_indexed_before_the_newest_first_keys_are_still_listed(azurite: Azurite) -> None:
    # Before 2026-11-23 a study's row in the partition of every study was keyed by its UID alone.
    archive = Archive(azurite)
    host = archive.service()
    try:
        with httpx.Client(timeout=60) as client:
            old, new = generate_uid(), generate_uid()
            for study in (old, new):
                assert store(client, f"{host.url}/v2/studies", [make_instance(study)]).status_code == 200
            lookup = TableClient.from_connection_string(azurite.connection_string, f"{archive.name}lookup")
            (pointer,) = [
                p for p in lookup.query_entities(f"PartitionKey eq '{ALL_STUDIES}'") if p["RowKey"].endswith(old)
            ]
            lookup.delete_entity(ALL_STUDIES, pointer["RowKey"])
            lookup.upsert_entity({"PartitionKey": ALL_STUDIES, "RowKey": str(old)})
            assert sorted(uids(search(client, f"{host.url}/v2/studies"))) == sorted([old, new])
    finally:
        host.stop()


def test_unfiltered_pages_follow_one_another(client: httpx.Client, base_url: str) -> None:
    for _ in range(9):
        store(client, f"{base_url}/studies", [make_instance()])
    whole = uids(search(client, f"{base_url}/studies", limit="9"))
    paged = [uid for offset in (0, 3, 6) for uid in uids(search(client, f"{base_url}/studies", limit="3",
                                                                   offset=str(offset)))]  # fmt: skip
    assert paged == whole and len(set(whole)) == 9


def test_offset_past_the_end_answers_204(client: httpx.Client, base_url: str, archive: dict) -> None:
    response = client.get(f"{base_url}/studies", params={"PatientID": archive["patient"], "offset": "3"})
    assert response.status_code == 204


def test_no_match_answers_204(client: httpx.Client, base_url: str) -> None:
    assert client.get(f"{base_url}/studies", params={"PatientID": f"nobody-{TOKEN}"}).status_code == 204


def test_query_values_are_percent_decoded_and_plus_is_a_space(
    client: httpx.Client, base_url: str, archive: dict
) -> None:
    response = client.get(f"{base_url}/series?ManufacturerModelName=Scanner+X&PatientID={archive['patient']}")
    assert response.status_code == 200
    response = client.get(f"{base_url}/studies?PatientName=Doe{TOKEN}%5EJane")
    assert uids(response.json()) == [archive["b"]]


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("studies", "limit=0"),
        ("studies", "limit=201"),
        ("studies", "offset=-1"),
        ("studies", "Unknown=1"),
        ("studies", "patientid=1"),  # keywords are case-sensitive
        ("studies", "PatientID=1&PatientID=2"),
        ("studies", "SOPInstanceUID=1.2.3"),  # an instance attribute at study level
        ("studies", "Modality=CT"),  # a series attribute at study level
        ("series", "SOPInstanceUID=1.2.3"),
        ("studies", "includefield=NotAKeyword"),
        ("studies", "StudyInstanceUID=1.2.x"),
        ("studies", "fuzzymatching=maybe"),
    ],
)
def test_bad_queries_answer_400_with_a_reason(client: httpx.Client, base_url: str, path: str, query: str) -> None:
    response = client.get(f"{base_url}/{path}?{query}")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_tags_work_as_query_keys(client: httpx.Client, base_url: str, archive: dict) -> None:
    results = search(client, f"{base_url}/studies", **{"00100020": archive["patient"]})
    assert len(results) == 3


def test_empty_value_matches_everything_and_returns_the_attribute(
    client: httpx.Client, base_url: str, archive: dict
) -> None:
    results = search(client, f"{base_url}/studies", PatientID=archive["patient"], StudyDescription="")
    assert len(results) == 3
    assert all("00081030" in r for r in results)


def test_search_accepts_application_json(client: httpx.Client, base_url: str, archive: dict) -> None:
    response = client.get(
        f"{base_url}/studies", params={"PatientID": archive["patient"]}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 200
