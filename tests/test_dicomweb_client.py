"""The same store/search/retrieve/delete flow driven by a real client library: dicomweb-client (PyPI).

It quotes the boundary, starts the body with CRLF, sends bodies over 1 MB chunked without
Content-Length, and sends Accept: */* - all of which the service must take as they come.
"""

from __future__ import annotations

import io

import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.uid import generate_uid

from tests.dicom_factory import frame_bytes, make_instance

ROWS = COLUMNS = 512
FRAMES = 3  # 1.5 MiB: large enough that dicomweb-client streams it with chunked transfer encoding


@pytest.fixture(scope="module")
def dicomweb(base_url: str) -> DICOMwebClient:
    return DICOMwebClient(url=base_url)


@pytest.fixture(scope="module")
def study() -> dict:
    study_uid, series_a, series_b = generate_uid(), generate_uid(), generate_uid()
    patient = f"DWC-{generate_uid()[-8:]}"
    files = [
        make_instance(
            study_uid, series_a, rows=ROWS, columns=COLUMNS, frames=FRAMES, PatientID=patient, InstanceNumber=1
        ),
        make_instance(study_uid, series_a, PatientID=patient, InstanceNumber=2),
        make_instance(study_uid, series_b, PatientID=patient, Modality="MR"),
    ]
    datasets = [pydicom.dcmread(io.BytesIO(data)) for data in files]
    return {"uid": study_uid, "series": (series_a, series_b), "patient": patient, "datasets": datasets}


def test_store_instances_reports_every_instance_stored(dicomweb: DICOMwebClient, study: dict) -> None:
    response = dicomweb.store_instances(study["datasets"])
    stored = [item.ReferencedSOPInstanceUID for item in response.ReferencedSOPSequence]
    assert sorted(stored) == sorted(ds.SOPInstanceUID for ds in study["datasets"])
    assert "FailedSOPSequence" not in response


def test_search_for_studies_by_patient_id(dicomweb: DICOMwebClient, study: dict) -> None:
    (result,) = dicomweb.search_for_studies(search_filters={"PatientID": study["patient"]})
    assert result["0020000D"]["Value"] == [study["uid"]]


def test_search_for_series_of_the_study(dicomweb: DICOMwebClient, study: dict) -> None:
    results = dicomweb.search_for_series(study["uid"], fields=["NumberOfSeriesRelatedInstances"])
    counts = {r["0020000E"]["Value"][0]: r["00201209"]["Value"][0] for r in results}
    assert counts == {study["series"][0]: 2, study["series"][1]: 1}


def test_search_for_instances_of_a_series(dicomweb: DICOMwebClient, study: dict) -> None:
    results = dicomweb.search_for_instances(study["uid"], study["series"][0])
    assert len(results) == 2


def test_retrieve_study_returns_every_instance_with_its_pixels(dicomweb: DICOMwebClient, study: dict) -> None:
    retrieved = {ds.SOPInstanceUID: ds for ds in dicomweb.retrieve_study(study["uid"])}
    assert retrieved.keys() == {ds.SOPInstanceUID for ds in study["datasets"]}
    for original in study["datasets"]:
        assert retrieved[original.SOPInstanceUID].PixelData == original.PixelData


def test_retrieve_series_metadata(dicomweb: DICOMwebClient, study: dict) -> None:
    metadata = dicomweb.retrieve_series_metadata(study["uid"], study["series"][1])
    assert [m["00080060"]["Value"] for m in metadata] == [["MR"]]


def test_retrieve_instance_frames(dicomweb: DICOMwebClient, study: dict) -> None:
    multiframe = study["datasets"][0]
    frames = dicomweb.retrieve_instance_frames(
        study["uid"], study["series"][0], multiframe.SOPInstanceUID, frame_numbers=[3, 1]
    )
    assert frames == [frame_bytes(ROWS, COLUMNS, 3), frame_bytes(ROWS, COLUMNS, 1)]


def test_delete_study_removes_it(dicomweb: DICOMwebClient, study: dict) -> None:
    dicomweb.delete_study(study["uid"])
    assert dicomweb.search_for_studies(search_filters={"PatientID": study["patient"]}) == []
