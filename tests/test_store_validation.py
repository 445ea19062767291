"""v1 rejects invalid searchable attributes; v2 stores the file, leaves them out and warns (202)."""

from __future__ import annotations

import httpx
import pytest
from pydicom.uid import generate_uid

from tests.dicom_factory import make_instance
from tests.helpers import failure_comments, failure_reasons, search, store, stored_uids


def with_meta_sop_class_of_mr(data: bytes) -> bytes:
    """pydicom always writes the data set's SOP class into the file meta, so patch the meta's copy (same length)."""
    ct, mr = b"1.2.840.10008.5.1.4.1.1.2\x00", b"1.2.840.10008.5.1.4.1.1.4\x00"
    meta_end = data.index(ct) + len(ct)
    assert meta_end < 300, "the first copy is the file meta's"
    return data.replace(ct, mr, 1)


def warnings_of(response: httpx.Response) -> tuple[list[int], list[str]]:
    (item,) = response.json()["00081199"]["Value"]
    comments = [c["00000902"]["Value"][0] for c in item.get("00741048", {}).get("Value", [])]
    return item.get("00081196", {}).get("Value", []), comments


@pytest.mark.parametrize(
    ("attributes", "named"),
    [
        ({"StudyDate": "2020-01-01"}, "StudyDate"),
        ({"StudyDate": "20200230"}, "StudyDate"),
        ({"AccessionNumber": "A" * 17}, "AccessionNumber"),
        ({"Modality": "ct"}, "Modality"),
        ({"PatientName": "Doe^" + "J" * 70}, "PatientName"),
    ],
)
def test_v1_rejects_invalid_searchable_attributes_with_43264(
    client: httpx.Client, v1_url: str, attributes: dict, named: str
) -> None:
    response = store(client, f"{v1_url}/studies", [make_instance(**attributes)])
    assert response.status_code == 409
    assert failure_reasons(response) == [43264]


@pytest.mark.parametrize(
    ("attributes", "named"),
    [({"StudyDate": "2020-01-01"}, "StudyDate"), ({"AccessionNumber": "A" * 17}, "AccessionNumber")],
)
def test_v2_stores_with_a_warning_naming_the_attribute(
    client: httpx.Client, base_url: str, attributes: dict, named: str
) -> None:
    response = store(client, f"{base_url}/studies", [make_instance(**attributes)])
    assert response.status_code == 202
    reasons, comments = warnings_of(response)
    assert reasons == [1]
    assert named in comments[0] and "(0008," in comments[0]


def test_v2_leaves_the_invalid_value_out_of_index_and_metadata_but_keeps_the_file(
    client: httpx.Client, base_url: str
) -> None:
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    data = make_instance(study, series, sop, StudyDate="2020-01-01", PatientID=f"V2-{sop[-8:]}")
    assert store(client, f"{base_url}/studies", [data]).status_code == 202
    (result,) = search(client, f"{base_url}/studies", PatientID=f"V2-{sop[-8:]}")
    assert "00080020" not in result
    url = f"{base_url}/studies/{study}/series/{series}/instances/{sop}"
    (metadata,) = client.get(url + "/metadata").json()
    assert "00080020" not in metadata
    original = client.get(url, headers={"Accept": "application/dicom; transfer-syntax=*"}).content
    assert original[128:] == data[128:]


def test_a_valid_instance_has_no_warning(client: httpx.Client, base_url: str) -> None:
    response = store(client, f"{base_url}/studies", [make_instance()])
    assert response.status_code == 200
    assert warnings_of(response) == ([], [])


def test_sop_class_mismatch_between_file_meta_and_data_set_warns_45063(client: httpx.Client, base_url: str) -> None:
    data = with_meta_sop_class_of_mr(make_instance())
    response = store(client, f"{base_url}/studies", [data])
    assert response.status_code == 202
    reasons, comments = warnings_of(response)
    assert reasons == [45063]
    assert "MediaStorageSOPClassUID" in comments[0]
    assert len(stored_uids(response)) == 1


def test_v1_reports_45063_but_answers_200(client: httpx.Client, v1_url: str) -> None:
    response = store(client, f"{v1_url}/studies", [with_meta_sop_class_of_mr(make_instance())])
    assert response.status_code == 200
    assert warnings_of(response) == ([45063], [])


def test_required_attributes_still_fail_in_v2(client: httpx.Client, base_url: str) -> None:
    response = store(client, f"{base_url}/studies", [make_instance(SeriesInstanceUID="abc.123")])
    assert response.status_code == 409
    assert "SeriesInstanceUID" in failure_comments(response)[0]
