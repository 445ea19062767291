"""Whole series in one request: every index transaction stays within Table Storage's limits (100 operations
and a 4 MiB body, which Azurite enforces as Azure does), however many instances or however large their rows."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import RLELossless, generate_uid

from local.azurite import Azurite
from tests.conftest import LocalHost
from tests.dicom_factory import CT_IMAGE, make_instance
from tests.helpers import failure_comments, search, store, stored_uids


def _one_pixel_rle_frame(value: int) -> bytes:
    """An RLE Lossless frame of one 8-bit pixel: a 64-byte header naming one segment, then a literal run."""
    header = struct.pack("<16I", 1, 64, *([0] * 14))
    return header + bytes([0, value])


def instance_with_a_large_index_row(study: str, series: str, frames: int = 1_400, binaries: int = 1_100) -> bytes:
    """A file whose index row is about 50 KB: a long fragment table (one per frame) and many small binary
    elements (each gets a byte range for its BulkDataURI). 98 such rows are over 4 MiB."""
    dataset = Dataset()
    dataset.SOPClassUID = CT_IMAGE
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.SOPInstanceUID = study, series, generate_uid()
    dataset.PatientID, dataset.Modality = "PAT-ROWS", "CT"
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
    dataset.Rows = dataset.Columns = 1
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 8, 8, 7, 0
    dataset.NumberOfFrames = frames
    for index in range(binaries):
        block, element = divmod(index, 256)
        group = 0x0009 + 2 * (block // 200)
        dataset.private_block(group, f"ROWS TEST {block}", create=True).add_new(element, "OB", b"\x01\x02")
    dataset.PixelData = encapsulate([_one_pixel_rle_frame(i % 256) for i in range(frames)])
    dataset["PixelData"].VR = "OB"
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.MediaStorageSOPClassUID = CT_IMAGE
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.file_meta.TransferSyntaxUID = RLELossless
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _series_count(client: httpx.Client, base_url: str, study: str) -> int:
    (series_result,) = search(client, f"{base_url}/studies/{study}/series", includefield="00201209")
    return series_result["00201209"]["Value"][0]


def test_a_thousand_instances_of_one_series_in_one_request_are_all_stored_and_found(
    client: httpx.Client, base_url: str
) -> None:
    study, series = generate_uid(), generate_uid()
    response = store(client, f"{base_url}/studies", [make_instance(study, series) for _ in range(1_000)])
    assert response.status_code == 200, failure_comments(response)[:3]
    assert len(set(stored_uids(response))) == 1_000
    assert _series_count(client, base_url, study) == 1_000
    found = []
    for offset in range(0, 1_000, 200):
        found += search(client, f"{base_url}/studies/{study}/instances", limit="200", offset=str(offset))
    assert len({result["00080018"]["Value"][0] for result in found}) == 1_000


def test_a_series_whose_index_rows_are_large_is_grouped_under_the_4_mib_transaction_limit(
    client: httpx.Client, base_url: str
) -> None:
    # Grouping by operation count alone put 98 of these ~55 KB rows in one transaction (over 5 MiB): the
    # Table service refused it and every instance failed with 272.
    study, series = generate_uid(), generate_uid()
    files = [instance_with_a_large_index_row(study, series) for _ in range(100)]
    response = store(client, f"{base_url}/studies", files)
    assert response.status_code == 200, failure_comments(response)[:3]
    assert len(stored_uids(response)) == 100
    assert _series_count(client, base_url, study) == 100


@pytest.fixture(scope="module")
def logged_service(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalHost, Path]]:
    log_file = tmp_path_factory.mktemp("stow-log") / "service.log"
    host = LocalHost(azurite.connection_string, log_file=log_file)
    yield host, log_file
    host.stop()


def test_each_failed_instance_is_logged_with_its_reason_and_no_patient_data(
    client: httpx.Client, logged_service: tuple[LocalHost, Path]
) -> None:
    host, log_file = logged_service
    study, other_study = generate_uid(), generate_uid()
    files = [
        make_instance(study, PatientName="Secret^Patient"),
        b"not a DICOM file at all" * 10,
        make_instance(other_study, PatientName="Secret^Patient"),
    ]
    response = store(client, f"{host.url}/v2/studies/{study}", files)
    assert response.status_code == 202
    log = log_file.read_text()
    assert "store: part 2 failed with reason 272 (0x0110)" in log
    assert "store: part 3 failed with reason 43265 (0xA901), cause a rule of the standard" in log
    assert "Secret" not in log and study not in log and other_study not in log
