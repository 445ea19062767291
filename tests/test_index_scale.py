"""Searches by indexed attributes read O(matches) table entities, not O(archive).

The service reports the entities each search read in the X-Table-Entities-Read header. With an
archive of a few hundred studies, each indexed search below must read a small constant per match.
An unfiltered search is the control: it must read every study, proving the counter counts reads.
"""

from __future__ import annotations

import secrets

import httpx
import pytest
from pydicom.uid import generate_uid

from tests.dicom_factory import make_instance
from tests.helpers import store

STUDIES = 300
TARGETS = 3
TOKEN = secrets.token_hex(3).upper()


@pytest.fixture(scope="module")
def archive(base_url: str) -> dict:
    target = {
        "PatientID": f"SCALE-{TOKEN}",
        "PatientName": f"Target{TOKEN}^Scale",
        "AccessionNumber": f"SCALE-ACC-{TOKEN}",
        "StudyDate": "19990707",
        "Modality": f"Z{TOKEN}",
    }
    files = []
    for number in range(STUDIES):
        if number % (STUDIES // TARGETS) == 0:
            files.append(make_instance(**target))
        else:
            files.append(
                make_instance(
                    PatientID=f"OTHER-{TOKEN}-{number}",
                    PatientName=f"Other{number}^Person",
                    AccessionNumber=f"O-{TOKEN}-{number}",
                    StudyDate="20230301",
                )
            )
    with httpx.Client(timeout=120) as client:
        for start in range(0, STUDIES, 50):
            assert store(client, f"{base_url}/studies", files[start : start + 50]).status_code == 200
    return target


def entities_read(client: httpx.Client, url: str, **params: str) -> tuple[int, int]:
    response = client.get(url, params={"limit": "200", **params})
    assert response.status_code == 200, response.text
    return len(response.json()), int(response.headers["X-Table-Entities-Read"])


@pytest.mark.parametrize(
    ("path", "attribute", "per_match"),
    [
        ("studies", "PatientID", 2),  # one pointer + one study row per match
        ("studies", "AccessionNumber", 2),
        ("studies", "PatientName", 2),
        ("studies", "StudyDate", 2),
        ("studies", "ModalitiesInStudy", 2),
        ("series", "Modality", 3),  # pointer + study row + series row
        ("instances", "PatientID", 4),  # pointer + the study's partition (study, series, instance rows)
    ],
)
def test_indexed_search_reads_a_constant_per_match(
    client: httpx.Client, base_url: str, archive: dict, path: str, attribute: str, per_match: int
) -> None:
    value = archive["Modality" if attribute == "ModalitiesInStudy" else attribute]
    matches, read = entities_read(client, f"{base_url}/{path}", **{attribute: value})
    assert matches == TARGETS
    assert read <= per_match * matches, f"{read} entities read for {matches} matches"


def test_fuzzy_name_search_reads_a_constant_per_match(client: httpx.Client, base_url: str, archive: dict) -> None:
    matches, read = entities_read(client, f"{base_url}/studies", PatientName=f"target{TOKEN}", fuzzymatching="true")
    assert matches == TARGETS
    assert read <= 2 * matches


@pytest.mark.parametrize(
    ("attribute", "pattern"),
    [
        ("PatientID", f"SCALE-{TOKEN}*"),
        ("PatientID", f"scale-{TOKEN[:-1]}?"),  # case-insensitive, ? for one character
        ("AccessionNumber", f"SCALE-ACC-{TOKEN[:2]}*{TOKEN[-1]}"),
    ],
)
def test_wildcard_search_with_a_literal_start_reads_a_constant_per_match(
    client: httpx.Client, base_url: str, archive: dict, attribute: str, pattern: str
) -> None:
    matches, read = entities_read(client, f"{base_url}/studies", **{attribute: pattern})
    assert matches == TARGETS
    assert read <= 2 * matches, f"{read} entities read for {matches} matches"


def test_control_a_search_no_index_serves_reads_the_whole_archive(
    client: httpx.Client, base_url: str, archive: dict
) -> None:
    # A leading wildcard (what OHIF sends with wildcards on) matches nothing here, after reading every study.
    response = client.get(f"{base_url}/studies", params={"PatientName": f"*nobody{TOKEN}*"})
    assert response.status_code == 204
    assert int(response.headers["X-Table-Entities-Read"]) >= STUDIES


def test_an_unfiltered_worklist_reads_only_the_page_asked(client: httpx.Client, base_url: str, archive: dict) -> None:
    matches, read = entities_read(client, f"{base_url}/studies", limit="10")
    assert matches == 10
    assert read <= 2 * 10, f"{read} entities read for a page of 10: one pointer and one study row each"


def test_a_search_no_index_serves_stops_once_its_page_is_full(
    client: httpx.Client, base_url: str, archive: dict
) -> None:
    # Most studies here match, so the walk newest first ends long before the archive does.
    matches, read = entities_read(client, f"{base_url}/studies", PatientName="*person", limit="10")
    assert matches == 10
    assert read < STUDIES


def test_point_lookup_by_uid_reads_one_row(client: httpx.Client, base_url: str, archive: dict) -> None:
    study = generate_uid()
    store(client, f"{base_url}/studies", [make_instance(study)])
    matches, read = entities_read(client, f"{base_url}/studies", StudyInstanceUID=study)
    assert (matches, read) == (1, 1)


def test_a_bounded_date_drives_rather_than_a_modality_every_study_shares(
    client: httpx.Client, base_url: str, archive: dict
) -> None:
    response = client.get(f"{base_url}/studies", params={"ModalitiesInStudy": "CT", "StudyDate": archive["StudyDate"]})
    assert response.status_code == 204, "the targets are not CT"
    assert int(response.headers["X-Table-Entities-Read"]) <= 2 * TARGETS, "not one pointer per CT study"


@pytest.mark.parametrize(("path", "limit", "per_result"), [("instances", 1, 4), ("series", 5, 4)])
def test_an_unfiltered_series_or_instance_search_reads_the_newest_studies_not_the_archive(
    client: httpx.Client, base_url: str, archive: dict, path: str, limit: int, per_result: int
) -> None:
    # Before, `/instances?limit=1` read every study partition (4,183 entities in a 3,600-instance archive).
    matches, read = entities_read(client, f"{base_url}/{path}", limit=str(limit))
    assert matches == limit
    assert read <= per_result * limit, f"{read} entities read for {matches} results"


def test_unfiltered_instance_pages_neither_repeat_nor_skip_results(client: httpx.Client, base_url: str) -> None:
    pages = [client.get(f"{base_url}/instances", params={"limit": "7", "offset": str(o)}).json() for o in (0, 7, 14)]
    whole = client.get(f"{base_url}/instances", params={"limit": "21"}).json()
    assert [r["00080018"]["Value"] for page in pages for r in page] == [r["00080018"]["Value"] for r in whole]


def test_a_uid_repeated_thousands_of_times_is_read_once(client: httpx.Client, base_url: str, archive: dict) -> None:
    study = f"1.2.3.{secrets.randbelow(10**9)}"  # short, so 2,000 copies fit in a query value
    store(client, f"{base_url}/studies", [make_instance(study)])
    for path, keyword in (("studies", "StudyInstanceUID"), ("instances", "StudyInstanceUID")):
        response = client.get(f"{base_url}/{path}", params={keyword: ",".join([study] * 2_000)})
        assert response.status_code == 200 and len(response.json()) == 1
        assert int(response.headers["X-Table-Entities-Read"]) <= 3


def test_a_sop_uid_list_reads_each_pointer_partition_once(client: httpx.Client, base_url: str, archive: dict) -> None:
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    store(client, f"{base_url}/studies", [make_instance(study, series, sop)])
    matches, read = entities_read(client, f"{base_url}/instances", SOPInstanceUID=",".join([sop] * 500))
    assert matches == 1
    assert read <= 4


def test_more_distinct_uids_than_allowed_is_a_400_saying_the_limit(client: httpx.Client, base_url: str) -> None:
    response = client.get(f"{base_url}/studies", params={"StudyInstanceUID": ",".join(f"1.2.{n}" for n in range(501))})
    assert response.status_code == 400
    assert "at most 500" in response.json()["detail"]


def test_an_offset_past_the_maximum_is_a_400_not_a_walk_through_the_archive(
    client: httpx.Client, base_url: str
) -> None:
    assert client.get(f"{base_url}/studies", params={"offset": "10000"}).status_code in (200, 204)
    response = client.get(f"{base_url}/studies", params={"offset": "999999999"})
    assert response.status_code == 400
    assert "narrow the search" in response.json()["detail"]
