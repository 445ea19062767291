"""Store keeps whole files only: a file cut short, pixels other than the header describes, a codestream whose
own dimensions differ from Rows/Columns, or a deflated data set inflating past DICOM_MAX_INFLATED_BYTES is
refused with a failure reason, and nothing of it is stored.

Files are made with pydicom (tests.dicom_factory, pydicom-data) and stored over HTTP through the local host.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import DeflatedExplicitVRLittleEndian, RLELossless, generate_uid

from bench.servers import memory_kib
from local.azurite import Azurite
from tests.conftest import LocalHost
from tests.dicom_factory import make_instance
from tests.helpers import failure_comments, failure_reasons, search, store, with_new_uids

PROCESSING_FAILURE, VALIDATION_FAILURE = 272, 43264
PIXEL_DATA_HEADER = b"\xe0\x7f\x10\x00"  # (7FE0,0010), little endian


def refused(client: httpx.Client, base_url: str, data: bytes) -> tuple[int, str]:
    """Store `data` alone; its failure reason and comment, after checking that nothing of it was stored."""
    sop = str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
              .SOPInstanceUID)  # fmt: skip
    response = store(client, f"{base_url}/studies", [data])
    assert response.status_code == 409, response.text
    assert search(client, f"{base_url}/instances", SOPInstanceUID=sop) == []
    ((reason,), (comment,)) = failure_reasons(response), failure_comments(response)
    return reason, comment


def saved(dataset: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def rle_instance(frames: int = 3) -> bytes:
    dataset = pydicom.dcmread(io.BytesIO(make_instance(rows=64, columns=64, frames=frames)))
    dataset.compress(RLELossless, generate_instance_uid=False)
    return saved(dataset)


@pytest.mark.parametrize("kept", [0.5, 0.9, -3], ids=["half", "90 percent", "all but 3 bytes"])
def test_a_native_file_cut_short_is_refused_with_272_and_not_stored(
    client: httpx.Client, base_url: str, kept: float
) -> None:
    data = make_instance(rows=64, columns=64, frames=3)
    reason, comment = refused(client, base_url, data[: int(len(data) * kept) if kept > 0 else int(kept)])
    assert reason == PROCESSING_FAILURE
    assert "cut short" in comment and "Pixel Data (7FE0,0010)" in comment


def test_an_encapsulated_file_cut_inside_a_fragment_is_refused_with_272(client: httpx.Client, base_url: str) -> None:
    data = rle_instance()
    reason, comment = refused(client, base_url, data[: int(len(data) * 0.9)])
    assert reason == PROCESSING_FAILURE
    assert "fragment" in comment and "cut short" in comment


def test_encapsulated_pixel_data_without_its_sequence_delimiter_is_refused(client: httpx.Client, base_url: str) -> None:
    data = rle_instance()
    assert data.endswith(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    reason, comment = refused(client, base_url, data[:-8])
    assert reason == PROCESSING_FAILURE
    assert "sequence delimiter" in comment


def test_an_element_whose_length_runs_past_the_end_of_the_file_is_refused(client: httpx.Client, base_url: str) -> None:
    """A private value above pydicom's deferred-read size (4 KiB), after the attributes the archive needs: pydicom
    skips it unread and stops at the end of the file, so only its length tells."""
    dataset = pydicom.dcmread(io.BytesIO(make_instance()))
    dataset.private_block(0x0029, "WHOLE FILES TEST", create=True).add_new(0x10, "OB", b"\x01" * 8192)
    data = bytearray(saved(dataset))
    at = data.index(struct.pack("<HH2sH", 0x0029, 0x1010, b"OB", 0))
    data[at + 8 : at + 12] = struct.pack("<I", 8192 + 1_000_000)
    reason, comment = refused(client, base_url, bytes(data))
    assert reason == PROCESSING_FAILURE
    assert "element (0029,1010) declares 1008192 bytes" in comment


def test_an_image_cut_just_before_its_pixel_data_is_refused(client: httpx.Client, base_url: str) -> None:
    data = make_instance(rows=64, columns=64)
    reason, comment = refused(client, base_url, data[: data.rindex(PIXEL_DATA_HEADER)])
    assert reason == PROCESSING_FAILURE
    assert "ends before its Pixel Data" in comment


def test_pixel_data_shorter_than_rows_and_columns_describe_is_refused_with_43264(
    client: httpx.Client, base_url: str
) -> None:
    dataset = pydicom.dcmread(io.BytesIO(make_instance(rows=4, columns=4)))  # 32 bytes of pixels
    dataset.Rows = 8
    reason, comment = refused(client, base_url, saved(dataset))
    assert reason == VALIDATION_FAILURE
    assert "holds 32 bytes but Rows x Columns x SamplesPerPixel x BitsAllocated x NumberOfFrames describe 64" in comment


def test_pixel_data_longer_than_described_is_stored_as_sent(client: httpx.Client, base_url: str) -> None:
    # Real files carry trailing bytes (pydicom-data's MR_small_padded has 128); frames use the declared sizes.
    dataset = pydicom.dcmread(io.BytesIO(make_instance(rows=4, columns=4)))
    dataset.Rows = 2
    response = store(client, f"{base_url}/studies", [saved(dataset)])
    assert response.status_code == 200, failure_comments(response)


@pytest.mark.parametrize(
    "name", ["MR_small_jp2klossless.dcm", "JPEG-lossy.dcm", "MR_small_jpeg_ls_lossless.dcm"],
    ids=["JPEG 2000", "JPEG", "JPEG-LS"],
)  # fmt: skip
def test_a_codestream_larger_than_rows_and_columns_is_refused_with_43264(
    client: httpx.Client, base_url: str, name: str
) -> None:
    """The dataset claims a quarter of the codestream's rows and columns: decoding it would need 16 times
    the memory the dataset announces."""
    data, _ = with_new_uids(Path(get_testdata_file(name)))
    dataset = pydicom.dcmread(io.BytesIO(data))
    real = (dataset.Rows, dataset.Columns)
    dataset.Rows, dataset.Columns = real[0] // 4, real[1] // 4
    reason, comment = refused(client, base_url, saved(dataset))
    assert reason == VALIDATION_FAILURE
    assert f"codestream of {real[0]} rows x {real[1]} columns" in comment


MAX_INFLATED, MAX_ELEMENTS = 1024 * 1024, 1000


@pytest.fixture(scope="module")
def limited_service(azurite: Azurite) -> Iterator[LocalHost]:
    """Its own host, so its peak memory (VmHWM) is that of these requests, with small limits."""
    host = LocalHost(
        azurite.connection_string, DICOM_MAX_INFLATED_BYTES=str(MAX_INFLATED), DICOM_MAX_ELEMENTS=str(MAX_ELEMENTS)
    )
    yield host
    host.stop()


def test_a_header_with_more_elements_than_the_limit_is_refused_with_272(
    client: httpx.Client, limited_service: LocalHost
) -> None:
    """pydicom would hold each of them in memory (about 1 KiB apiece with its DICOM JSON)."""
    dataset = pydicom.dcmread(io.BytesIO(make_instance()))
    dataset.ReferencedImageSequence = [pydicom.Dataset() for _ in range(MAX_ELEMENTS)]
    for number, item in enumerate(dataset.ReferencedImageSequence):
        item.ReferencedSOPInstanceUID = f"1.2.3.{number}"
    reason, comment = refused(client, f"{limited_service.url}/v2", saved(dataset))
    assert reason == PROCESSING_FAILURE
    assert "more than 1,000 elements and items" in comment and "DICOM_MAX_ELEMENTS" in comment


def deflate_bomb(zeros: int) -> bytes:
    """A valid Deflated Explicit VR Little Endian file whose private OB element inflates to `zeros` zero bytes."""
    sop = generate_uid()
    plain, deflated = make_instance(sop=sop), make_instance(sop=sop, transfer_syntax=DeflatedExplicitVRLittleEndian)

    def meta_end(data: bytes) -> int:  # (0002,0000) UL: the group's length after it
        return 144 + struct.unpack("<I", data[140:144])[0]

    data_set = plain[meta_end(plain) :]
    at = data_set.index(b"\x10\x00\x10\x00PN")  # PatientName: the private group 0009 sorts before it
    private = (struct.pack("<HH2sH", 0x0009, 0x0010, b"LO", 4) + b"BOMB"
               + struct.pack("<HH2sHI", 0x0009, 0x1000, b"OB", 0, zeros))  # fmt: skip
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [deflated[: meta_end(deflated)], compressor.compress(data_set[:at] + private)]
    block = bytes(1024 * 1024)
    parts += [compressor.compress(block[: min(len(block), zeros - start)]) for start in range(0, zeros, len(block))]
    parts += [compressor.compress(data_set[at:]), compressor.flush()]
    data = b"".join(parts)
    return data + b"\0" * (len(data) % 2)


def test_a_deflated_data_set_inflating_past_the_cap_is_refused_with_272(
    client: httpx.Client, limited_service: LocalHost
) -> None:
    reason, comment = refused(client, f"{limited_service.url}/v2", deflate_bomb(4 * MAX_INFLATED))
    assert reason == PROCESSING_FAILURE
    assert "inflates to more than 1,048,576 bytes" in comment and "DICOM_MAX_INFLATED_BYTES" in comment


def test_a_deflate_bomb_is_refused_without_growing_the_service_memory(
    client: httpx.Client, limited_service: LocalHost
) -> None:
    """256 MiB of zeros in 256 KiB: the service inflates at most the cap, in 1 MiB steps, and never whole."""
    bomb = deflate_bomb(256 * 1024 * 1024)
    assert len(bomb) < 300 * 1024
    before = memory_kib(limited_service.process.pid)["VmRSS"]
    assert store(client, f"{limited_service.url}/v2/studies", [bomb]).status_code == 409
    growth_mib = (memory_kib(limited_service.process.pid)["VmHWM"] - before) / 1024
    assert growth_mib < 64
