"""STOW-RS as the conformance reference describes it: media types, statuses and failure reasons."""

from __future__ import annotations

import httpx
import pytest
from pydicom.uid import generate_uid

from tests.dicom_factory import make_instance, multipart_body
from tests.helpers import RELATED, failure_comments, failure_reasons, search, store, stored_uids


def retrieve_original(client: httpx.Client, base_url: str, study: str, series: str, sop: str) -> bytes:
    url = f"{base_url}/studies/{study}/series/{series}/instances/{sop}"
    response = client.get(url, headers={"Accept": "application/dicom; transfer-syntax=*"})
    assert response.status_code == 200
    return response.content


def instance_count(client: httpx.Client, base_url: str, sop: str) -> int:
    return len(search(client, f"{base_url}/instances", SOPInstanceUID=sop))


@pytest.mark.parametrize(
    "content_type",
    [
        f"{RELATED}; boundary=BOUNDARY-test-1234",
        'multipart/related; type=application/dicom; boundary="BOUNDARY-test-1234"',
        "multipart/related; boundary=BOUNDARY-test-1234",
        "multipart/related",
    ],
)
def test_lenient_multipart_content_types_are_stored(client: httpx.Client, base_url: str, content_type: str) -> None:
    data = make_instance()
    response = client.post(
        f"{base_url}/studies", content=multipart_body([data]), headers={"Content-Type": content_type}
    )
    assert response.status_code == 200, response.text
    assert len(stored_uids(response)) == 1


def test_body_with_leading_crlf_and_no_final_crlf_is_stored(client: httpx.Client, base_url: str) -> None:
    body = b"\r\n" + multipart_body([make_instance()]).rstrip(b"\r\n")
    response = client.post(
        f"{base_url}/studies", content=body, headers={"Content-Type": f'{RELATED}; boundary="BOUNDARY-test-1234"'}
    )
    assert response.status_code == 200, response.text


def test_part_without_content_type_is_accepted(client: httpx.Client, base_url: str) -> None:
    body = b"--B\r\n\r\n" + make_instance() + b"\r\n--B--\r\n"
    response = client.post(f"{base_url}/studies", content=body, headers={"Content-Type": f"{RELATED}; boundary=B"})
    assert response.status_code == 200, response.text


def test_part_of_another_type_fails_the_whole_request_with_415(client: httpx.Client, base_url: str) -> None:
    first = make_instance()
    body = (
        b"--B\r\nContent-Type: application/dicom\r\n\r\n"
        + first
        + b"\r\n--B\r\nContent-Type: text/plain\r\n\r\nhello\r\n--B--\r\n"
    )
    response = client.post(f"{base_url}/studies", content=body, headers={"Content-Type": f"{RELATED}; boundary=B"})
    assert response.status_code == 415
    assert "application/dicom" in response.json()["detail"]


def test_nothing_is_stored_when_a_later_part_is_rejected(client: httpx.Client, base_url: str) -> None:
    sop = generate_uid()
    body = (
        b"--B\r\nContent-Type: application/dicom\r\n\r\n"
        + make_instance(sop=sop)
        + b"\r\n--B\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n--B--\r\n"
    )
    assert (
        client.post(f"{base_url}/studies", content=body, headers={"Content-Type": f"{RELATED}; boundary=B"}).status_code
        == 415
    )
    assert instance_count(client, base_url, sop) == 0


def test_curl_form_data_default_is_refused_not_silently_ignored(client: httpx.Client, base_url: str) -> None:
    sop = generate_uid()
    response = client.post(
        f"{base_url}/studies", files={"file1": ("x.dcm", make_instance(sop=sop), "application/dicom")}
    )
    assert response.status_code == 415
    assert "multipart/related" in response.json()["detail"]
    assert instance_count(client, base_url, sop) == 0


@pytest.mark.parametrize("content_type", [None, "application/json", 'multipart/related; type="application/dicom+xml"'])
def test_other_content_types_answer_415(client: httpx.Client, base_url: str, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(f"{base_url}/studies", content=b"{}", headers=headers)
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"


def test_single_part_application_dicom_is_stored(client: httpx.Client, base_url: str) -> None:
    response = client.post(
        f"{base_url}/studies", content=make_instance(), headers={"Content-Type": "application/dicom"}
    )
    assert response.status_code == 200


def test_empty_multipart_answers_204(client: httpx.Client, base_url: str) -> None:
    response = client.post(
        f"{base_url}/studies", content=b"--B--\r\n", headers={"Content-Type": f"{RELATED}; boundary=B"}
    )
    assert response.status_code == 204


def test_truncated_multipart_answers_400_and_stores_nothing(client: httpx.Client, base_url: str) -> None:
    sop = generate_uid()
    body = multipart_body([make_instance(sop=sop), make_instance()])
    response = client.post(
        f"{base_url}/studies",
        content=body[: len(body) - 200],
        headers={"Content-Type": f"{RELATED}; boundary=BOUNDARY-test-1234"},
    )
    assert response.status_code == 400
    assert "truncated" in response.json()["detail"]
    assert instance_count(client, base_url, sop) == 0


@pytest.mark.parametrize("accept", ["application/dicom", "text/html"])
def test_accept_other_than_dicom_json_answers_406(client: httpx.Client, base_url: str, accept: str) -> None:
    assert store(client, f"{base_url}/studies", [make_instance()], Accept=accept).status_code == 406


@pytest.mark.parametrize("accept", ["*/*", "application/json", ""])
def test_accept_any_or_json_or_none_is_served(client: httpx.Client, base_url: str, accept: str) -> None:
    assert store(client, f"{base_url}/studies", [make_instance()], Accept=accept).status_code == 200


@pytest.mark.parametrize("study", ["abc.123", "11|", "1." + "2" * 64])
def test_bad_study_uid_in_path_answers_400(client: httpx.Client, base_url: str, study: str) -> None:
    assert store(client, f"{base_url}/studies/{study}", [make_instance()]).status_code == 400


def test_unknown_api_version_answers_404(client: httpx.Client, service) -> None:
    response = store(client, f"{service.url}/v3/studies", [make_instance()])
    assert response.status_code == 404
    assert "/v2/" in response.json()["detail"]


def test_storing_an_existing_instance_fails_with_45070_and_changes_nothing(client: httpx.Client, base_url: str) -> None:
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    original = make_instance(study, series, sop, StudyDescription="first")
    assert store(client, f"{base_url}/studies", [original]).status_code == 200
    again = store(client, f"{base_url}/studies", [make_instance(study, series, sop, StudyDescription="second")])
    assert again.status_code == 409
    assert failure_reasons(again) == [45070]
    assert retrieve_original(client, base_url, study, series, sop)[128:] == original[128:]
    (result,) = search(client, f"{base_url}/studies", StudyInstanceUID=study, includefield="StudyDescription")
    assert result["00081030"]["Value"] == ["first"]


def test_instance_of_another_study_than_the_path_fails_with_43265(client: httpx.Client, base_url: str) -> None:
    response = store(client, f"{base_url}/studies/{generate_uid()}", [make_instance()])
    assert response.status_code == 409
    assert failure_reasons(response) == [43265]
    assert "does not match" in failure_comments(response)[0]


@pytest.mark.parametrize(
    ("attributes", "named"),
    [
        ({"SOPInstanceUID": None}, "SOPInstanceUID"),
        ({"SeriesInstanceUID": "abc.123"}, "SeriesInstanceUID"),
        ({"StudyInstanceUID": "1." + "2" * 64}, "StudyInstanceUID"),
        ({"PatientID": None}, "PatientID"),
    ],
)
def test_invalid_required_attributes_fail_with_43264(
    client: httpx.Client, base_url: str, attributes: dict, named: str
) -> None:
    response = store(client, f"{base_url}/studies", [make_instance(**attributes)])
    assert response.status_code == 409
    assert failure_reasons(response) == [43264]
    assert named in failure_comments(response)[0]


def test_empty_patient_id_is_rejected_by_v1_and_accepted_by_v2(
    client: httpx.Client, base_url: str, v1_url: str
) -> None:
    v1 = store(client, f"{v1_url}/studies", [make_instance(PatientID="")])
    assert v1.status_code == 409
    assert failure_reasons(v1) == [43264]
    assert "00741048" not in v1.json()["00081198"]["Value"][0], "v1 has no FailedAttributesSequence"
    assert store(client, f"{base_url}/studies", [make_instance(PatientID="")]).status_code == 200


def test_some_stored_some_failed_answers_202_with_both_sequences(client: httpx.Client, base_url: str) -> None:
    good_sop = generate_uid()
    response = store(client, f"{base_url}/studies", [make_instance(sop=good_sop), b"\x00" * 200])
    assert response.status_code == 202
    assert stored_uids(response) == [good_sop]
    assert failure_reasons(response) == [272]


def test_a_file_that_is_not_dicom_fails_with_272(client: httpx.Client, base_url: str) -> None:
    response = store(client, f"{base_url}/studies", [b"this is not a DICOM file" * 20])
    assert response.status_code == 409
    assert failure_reasons(response) == [272]
    assert "DICM" in failure_comments(response)[0]


def test_upsert_replaces_the_stored_instance(client: httpx.Client, base_url: str) -> None:
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    store(client, f"{base_url}/studies", [make_instance(study, series, sop, StudyDescription="old")])
    replacement = make_instance(study, series, sop, StudyDescription="new", rows=8, columns=8)
    response = store(client, f"{base_url}/studies", [replacement], method="PUT")
    assert response.status_code == 200
    assert retrieve_original(client, base_url, study, series, sop)[128:] == replacement[128:]
    (result,) = search(client, f"{base_url}/studies", StudyInstanceUID=study, includefield="all")
    assert result["00081030"]["Value"] == ["new"]
    assert result["00201208"]["Value"] == [1], "replacing does not add an instance"


def test_upsert_of_a_new_instance_stores_it(client: httpx.Client, base_url: str) -> None:
    sop = generate_uid()
    assert store(client, f"{base_url}/studies", [make_instance(sop=sop)], method="PUT").status_code == 200
    assert instance_count(client, base_url, sop) == 1


def test_preamble_is_zeroed_and_the_rest_kept_byte_for_byte(client: httpx.Client, base_url: str) -> None:
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    data = bytearray(make_instance(study, series, sop))
    data[:128] = b"MZ" + b"\x90" * 126  # e.g. an executable header hidden in the preamble
    store(client, f"{base_url}/studies", [bytes(data)])
    retrieved = retrieve_original(client, base_url, study, series, sop)
    assert retrieved[:128] == bytes(128)
    assert retrieved[128:] == bytes(data[128:])


def test_retrieve_urls_use_the_configured_base_not_the_host_header(client: httpx.Client, base_url: str) -> None:
    response = store(client, f"{base_url}/studies", [make_instance()], Host="evil.example")
    url = response.json()["00081199"]["Value"][0]["00081190"]["Value"][0]
    assert url.startswith(base_url + "/studies/")


@pytest.mark.parametrize("count", [99, 100, 250])
def test_a_whole_series_in_one_request_is_stored_and_found(client: httpx.Client, base_url: str, count: int) -> None:
    # Each transaction holds the instance rows, their series row and the study row: at most 100 operations.
    # Grouping 99 instances of one series (101 operations) failed 99 of a 100-instance series with 272.
    study, series = generate_uid(), generate_uid()
    response = store(client, f"{base_url}/studies", [make_instance(study, series) for _ in range(count)])
    assert response.status_code == 200, failure_comments(response)
    assert len(stored_uids(response)) == count
    found = search(client, f"{base_url}/studies/{study}/series/{series}/instances", limit="200")
    assert len(found) == min(count, 200)
    (series_result,) = search(client, f"{base_url}/studies/{study}/series", includefield="00201209")
    assert series_result["00201209"]["Value"] == [count]
