"""WADO-RS: instances, metadata and frames, with the reference's media types and error codes."""

from __future__ import annotations

import json

import httpx
import pytest
from pydicom.uid import ImplicitVRLittleEndian, generate_uid

from tests.dicom_factory import frame_bytes, make_instance
from tests.helpers import store
from tests.multipart_split import split

ROWS, COLUMNS, FRAMES = 6, 5, 4


@pytest.fixture(scope="module")
def stored(base_url: str) -> dict:
    study, series, sop, implicit_sop = generate_uid(), generate_uid(), generate_uid(), generate_uid()
    data = make_instance(study, series, sop, rows=ROWS, columns=COLUMNS, frames=FRAMES)
    implicit = make_instance(study, series, implicit_sop, transfer_syntax=ImplicitVRLittleEndian)
    with httpx.Client() as client:
        assert store(client, f"{base_url}/studies", [data, implicit]).status_code == 200
    instance_url = f"{base_url}/studies/{study}/series/{series}/instances/{sop}"
    return {
        "study": study,
        "series": series,
        "sop": sop,
        "data": data,
        "instance": instance_url,
        "implicit": f"{base_url}/studies/{study}/series/{series}/instances/{implicit_sop}",
    }


def get(client: httpx.Client, url: str, accept: str | None) -> httpx.Response:
    return client.get(url, headers={"Accept": accept} if accept is not None else {})


def test_instance_as_application_dicom_is_the_stored_file(client: httpx.Client, stored: dict) -> None:
    response = get(client, stored["instance"], "application/dicom; transfer-syntax=*")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"
    assert response.content[128:] == stored["data"][128:]


def test_instance_without_accept_defaults_to_explicit_vr_little_endian(client: httpx.Client, stored: dict) -> None:
    response = get(client, stored["instance"], None)
    assert response.status_code == 200
    assert "transfer-syntax=1.2.840.10008.1.2.1" in response.headers["content-type"]


def test_instance_as_multipart(client: httpx.Client, stored: dict) -> None:
    response = get(client, stored["instance"], 'multipart/related; type="application/dicom"')
    ((headers, content),) = split(response.content, response.headers["content-type"])
    assert headers["content-type"] == "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"
    assert content[128:] == stored["data"][128:]


def test_study_as_single_part_answers_406(client: httpx.Client, base_url: str, stored: dict) -> None:
    response = get(client, f"{base_url}/studies/{stored['study']}", "application/dicom")
    assert response.status_code == 406
    assert "multipart/related" in response.json()["detail"]


def test_series_with_any_accept_returns_the_originals(client: httpx.Client, base_url: str, stored: dict) -> None:
    response = get(client, f"{base_url}/studies/{stored['study']}/series/{stored['series']}", "*/*")
    parts = split(response.content, response.headers["content-type"])
    assert sorted(h["content-type"] for h, _ in parts) == [
        "application/dicom; transfer-syntax=1.2.840.10008.1.2",
        "application/dicom; transfer-syntax=1.2.840.10008.1.2.1",
    ]


def test_stored_implicit_vr_is_converted_for_the_default_accept(client: httpx.Client, stored: dict) -> None:
    response = get(client, stored["implicit"], "application/dicom")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"
    assert get(client, stored["implicit"], "application/dicom; transfer-syntax=*").status_code == 200


@pytest.mark.parametrize("path", ["", "/series/1.2.3", "/series/1.2.3/instances/1.2.3"])
def test_unknown_resources_answer_404(client: httpx.Client, base_url: str, path: str) -> None:
    assert get(client, f"{base_url}/studies/1.2.3{path}", "*/*").status_code == 404


def test_bad_uid_answers_400(client: httpx.Client, base_url: str) -> None:
    assert get(client, f"{base_url}/studies/1.2.abc", "*/*").status_code == 400


def test_metadata_is_dicom_json_without_bulk_data(client: httpx.Client, stored: dict) -> None:
    response = get(client, stored["instance"] + "/metadata", "application/dicom+json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/dicom+json"
    (metadata,) = response.json()
    assert metadata["00080018"] == {"vr": "UI", "Value": [stored["sop"]]}
    assert metadata["00280008"] == {"vr": "IS", "Value": [FRAMES]}
    assert metadata["7FE00010"]["BulkDataURI"] == stored["instance"] + "/bulkdata/7FE00010"
    assert not any(key.startswith("0002") for key in metadata), "file meta is not part of metadata"


def test_study_metadata_lists_every_instance(client: httpx.Client, base_url: str, stored: dict) -> None:
    metadata = json.loads(get(client, f"{base_url}/studies/{stored['study']}/metadata", None).content)
    assert len(metadata) == 2


def test_metadata_with_accept_application_dicom_answers_406(client: httpx.Client, stored: dict) -> None:
    assert get(client, stored["instance"] + "/metadata", "application/dicom").status_code == 406


def test_frames_are_multipart_octet_stream_in_the_order_asked(client: httpx.Client, stored: dict) -> None:
    response = get(client, stored["instance"] + "/frames/3,1", 'multipart/related; type="application/octet-stream"')
    assert response.status_code == 200
    parts = split(response.content, response.headers["content-type"])
    assert [content for _, content in parts] == [frame_bytes(ROWS, COLUMNS, 3), frame_bytes(ROWS, COLUMNS, 1)]
    assert parts[0][0]["content-type"] == "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"


@pytest.mark.parametrize(
    "accept",
    [
        "multipart/related; type=application/octet-stream",
        'multipart/related; type="application/octet-stream";',
        "multipart/related; type=application/octet-stream; transfer-syntax=*",
        None,
    ],
)
def test_frames_accept_variants_clients_send(client: httpx.Client, stored: dict, accept: str | None) -> None:
    response = get(client, stored["instance"] + "/frames/2", accept)
    assert response.status_code == 200
    ((_, content),) = split(response.content, response.headers["content-type"])
    assert content == frame_bytes(ROWS, COLUMNS, 2)


def test_one_frame_as_single_octet_stream(client: httpx.Client, stored: dict) -> None:
    response = get(client, stored["instance"] + "/frames/4", "application/octet-stream")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/octet-stream")
    assert response.content == frame_bytes(ROWS, COLUMNS, 4)


def test_several_frames_as_single_octet_stream_answer_406(client: httpx.Client, stored: dict) -> None:
    assert get(client, stored["instance"] + "/frames/1,2", "application/octet-stream").status_code == 406


@pytest.mark.parametrize(
    "frames", ["0", "-1", "1,x", "\u00b2", "1" + "0" * 5000], ids=["0", "-1", "1,x", "superscript", "5001-digits"]
)
def test_frame_zero_negative_or_malformed_answers_400(client: httpx.Client, stored: dict, frames: str) -> None:
    response = get(client, stored["instance"] + f"/frames/{frames}", None)
    assert response.status_code == 400
    assert "Frame numbers start at 1" in response.json()["detail"]


def test_a_frame_asked_twice_answers_400_naming_the_rule(client: httpx.Client, stored: dict) -> None:
    response = get(client, stored["instance"] + "/frames/1,2,1", None)
    assert response.status_code == 400
    assert "each be asked once" in response.json()["detail"]


def test_more_frames_than_a_request_may_ask_answer_400(client: httpx.Client, stored: dict) -> None:
    response = get(client, stored["instance"] + "/frames/" + ",".join(str(n) for n in range(1, 258)), None)
    assert response.status_code == 400
    assert "At most 256 frames" in response.json()["detail"]


def test_frame_past_the_last_answers_404(client: httpx.Client, stored: dict) -> None:
    response = get(client, stored["instance"] + f"/frames/{FRAMES + 1}", None)
    assert response.status_code == 404
    assert f"{FRAMES} frame" in response.json()["detail"]


def test_metadata_carries_an_etag_and_if_none_match_gives_304(client: httpx.Client, stored: dict) -> None:
    first = get(client, stored["instance"] + "/metadata", None)
    etag = first.headers["etag"]
    again = client.get(stored["instance"] + "/metadata", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag


def test_metadata_etag_changes_when_an_instance_is_added_or_deleted(client: httpx.Client, base_url: str) -> None:
    study, series = generate_uid(), generate_uid()
    store(client, f"{base_url}/studies", [make_instance(study, series)])
    url = f"{base_url}/studies/{study}/metadata"
    before = client.get(url).headers["etag"]
    added = generate_uid()
    store(client, f"{base_url}/studies", [make_instance(study, series, added)])
    after_add = client.get(url, headers={"If-None-Match": before})
    assert after_add.status_code == 200
    assert after_add.headers["etag"] != before
    client.delete(f"{base_url}/studies/{study}/series/{series}/instances/{added}")
    after_delete = client.get(url, headers={"If-None-Match": after_add.headers["etag"]})
    assert after_delete.status_code == 200
    assert after_delete.headers["etag"] not in (after_add.headers["etag"],)
