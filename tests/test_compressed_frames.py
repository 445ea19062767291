"""Frames of compressed data come from ranged reads of their fragments, located at store time.

The multi-frame files are made here with pydicom's own encoder (RLE, 300 frames); X-Storage-Bytes-Read
tells how many blob bytes a request read.
"""

from __future__ import annotations

import io
import struct

import httpx
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames, parse_fragments
from pydicom.pixels import get_decoder
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless, generate_uid

from dicom.layout import Fragment, frames_from_fragments
from dicom.pixels.render import RenderRequest, render
from tests.dicom_factory import SAMPLES, frame_bytes, make_instance
from tests.helpers import store, stored
from tests.multipart_split import split

ROWS = COLUMNS = 64
FRAMES = 300


def compressed_instance(
    base_url: str, client: httpx.Client, offset_table: bool = True, fragments_per_frame: int = 1,
    syntax: str = RLELossless, frames_count: int = FRAMES, extended: bool = False,
) -> dict:  # fmt: skip
    dataset = pydicom.dcmread(io.BytesIO(make_instance(rows=ROWS, columns=COLUMNS, frames=frames_count)))
    dataset.compress(syntax, generate_instance_uid=False)
    frames = list(generate_frames(dataset.PixelData, number_of_frames=frames_count))
    if not offset_table or fragments_per_frame > 1 or extended:
        dataset.PixelData = encapsulate(frames, fragments_per_frame=fragments_per_frame, has_bot=offset_table)
    if extended:  # 64-bit offsets of each frame's first fragment, beside an empty Basic Offset Table
        _, items = parse_fragments(dataset.PixelData[8:])
        dataset.ExtendedOffsetTable = struct.pack(f"<{frames_count}Q", *items[::fragments_per_frame])
        dataset.ExtendedOffsetTableLengths = struct.pack(f"<{frames_count}Q", *map(len, frames))
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    assert store(client, f"{base_url}/studies", [data]).status_code == 200
    url = (f"{base_url}/studies/{dataset.StudyInstanceUID}/series/{dataset.SeriesInstanceUID}"
           f"/instances/{dataset.SOPInstanceUID}/frames")  # fmt: skip
    return {"url": url, "frames": frames, "size": len(data), "data": data}


@pytest.fixture(scope="module")
def rle(base_url: str) -> dict:
    with httpx.Client() as client:
        return compressed_instance(base_url, client)


def test_one_compressed_frame_as_stored_reads_only_its_fragment(client: httpx.Client, rle: dict) -> None:
    response = client.get(f"{rle['url']}/150", headers={"Accept": "application/octet-stream; transfer-syntax=*"})
    assert response.status_code == 200
    assert response.content == rle["frames"][149]
    assert response.headers["content-type"] == f"application/octet-stream; transfer-syntax={RLELossless}"
    assert int(response.headers["X-Storage-Bytes-Read"]) == len(rle["frames"][149])
    assert len(rle["frames"][149]) * 100 < rle["size"]


def test_one_compressed_frame_decoded_reads_only_its_fragment(client: httpx.Client, rle: dict) -> None:
    response = client.get(f"{rle['url']}/150", headers={"Accept": "application/octet-stream"})
    assert response.content == frame_bytes(ROWS, COLUMNS, 150)
    assert response.headers["content-type"].endswith("transfer-syntax=1.2.840.10008.1.2.1")
    assert int(response.headers["X-Storage-Bytes-Read"]) == len(rle["frames"][149])


def test_several_compressed_frames_in_the_order_asked(client: httpx.Client, rle: dict) -> None:
    response = client.get(
        f"{rle['url']}/300,1", headers={"Accept": "multipart/related; type=application/octet-stream; transfer-syntax=*"}
    )
    assert [c for _, c in split(response.content, response.headers["content-type"])] == [
        rle["frames"][299],
        rle["frames"][0],
    ]


def test_without_an_offset_table_one_fragment_per_frame_is_still_ranged(client: httpx.Client, base_url: str) -> None:
    instance = compressed_instance(base_url, client, offset_table=False)
    response = client.get(f"{instance['url']}/7", headers={"Accept": "application/octet-stream; transfer-syntax=*"})
    assert response.content == instance["frames"][6]
    assert int(response.headers["X-Storage-Bytes-Read"]) == len(instance["frames"][6])


@pytest.mark.parametrize("syntax", [JPEG2000Lossless, JPEGLSLossless])
def test_fragmented_frames_without_an_offset_table_are_found_by_their_start_markers(
    client: httpx.Client, base_url: str, syntax: str
) -> None:
    # JPEG and JPEG 2000 frames may span fragments (RLE frames may not); each begins with its start marker.
    instance = compressed_instance(base_url, client, offset_table=False, fragments_per_frame=2, syntax=syntax,
                                   frames_count=5)  # fmt: skip
    response = client.get(f"{instance['url']}/2", headers={"Accept": "application/octet-stream"})
    assert response.content == frame_bytes(ROWS, COLUMNS, 2)
    assert int(response.headers["X-Storage-Bytes-Read"]) == len(instance["frames"][1])


def test_fragmented_frames_with_an_extended_offset_table_are_ranged(client: httpx.Client, base_url: str) -> None:
    instance = compressed_instance(base_url, client, offset_table=False, fragments_per_frame=2,
                                   syntax=JPEG2000Lossless, frames_count=4, extended=True)  # fmt: skip
    response = client.get(f"{instance['url']}/3", headers={"Accept": "application/octet-stream; transfer-syntax=*"})
    assert response.content == instance["frames"][2]
    assert int(response.headers["X-Storage-Bytes-Read"]) == len(instance["frames"][2])


def test_an_offset_table_maps_fragments_to_frames_before_any_marker() -> None:
    fragments = [Fragment(relative=i * 20, offset=100 + i * 20, length=12, starts_frame=False) for i in range(4)]
    assert frames_from_fragments(fragments, offsets=[0, 60], count=2) == [
        [(100, 12), (120, 12), (140, 12)],
        [(160, 12)],
    ]


def test_fragments_that_do_not_begin_frames_are_not_mapped_to_frames() -> None:
    # Then the whole instance is decoded on request rather than a wrong frame served.
    fragments = [Fragment(relative=i * 20, offset=100 + i * 20, length=12, starts_frame=i == 0) for i in range(4)]
    assert frames_from_fragments(fragments, offsets=[], count=2) is None


def test_uncompressed_frames_are_ranged_too(client: httpx.Client, base_url: str) -> None:
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    store(client, f"{base_url}/studies", [make_instance(study, series, sop, rows=ROWS, columns=COLUMNS, frames=50)])
    response = client.get(f"{base_url}/studies/{study}/series/{series}/instances/{sop}/frames/25",
                          headers={"Accept": "application/octet-stream"})  # fmt: skip
    assert response.content == frame_bytes(ROWS, COLUMNS, 25)
    assert int(response.headers["X-Storage-Bytes-Read"]) == ROWS * COLUMNS * 2


def test_jpeg_2000_frames_as_image_jp2(client: httpx.Client, base_url: str) -> None:
    path = SAMPLES / "transcoding" / "JPEG2000Lossless.dcm"
    url = stored(client, base_url, path) + "/frames/1"
    codestream = next(generate_frames(pydicom.dcmread(path).PixelData, number_of_frames=1))
    single = client.get(url, headers={"Accept": "image/jp2"})
    assert (single.headers["content-type"], single.content) == ("image/jp2", codestream)
    multipart = client.get(url, headers={"Accept": 'multipart/related; type="image/jp2"'})
    ((headers, content),) = split(multipart.content, multipart.headers["content-type"])
    assert (headers["content-type"], content) == ("image/jp2", codestream)


def test_image_jp2_is_encoded_on_request_from_other_data(client: httpx.Client, rle: dict) -> None:
    response = client.get(f"{rle['url']}/5", headers={"Accept": "image/jp2"})
    assert response.headers["content-type"] == "image/jp2"
    assert response.content[:4] == b"\xff\x4f\xff\x51"  # a JPEG 2000 codestream
    module = {
        "rows": ROWS, "columns": COLUMNS, "samples_per_pixel": 1, "bits_allocated": 16, "bits_stored": 16,
        "pixel_representation": 0, "photometric_interpretation": "MONOCHROME2", "number_of_frames": 1,
    }  # fmt: skip
    decoded, _ = get_decoder(JPEG2000Lossless).as_buffer(encapsulate([response.content]), **module)
    assert bytes(decoded) == frame_bytes(ROWS, COLUMNS, 5), "lossless"


def test_image_jp2_of_uncompressed_data(client: httpx.Client, base_url: str) -> None:
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    store(client, f"{base_url}/studies", [make_instance(study, series, sop, rows=ROWS, columns=COLUMNS, frames=3)])
    url = f"{base_url}/studies/{study}/series/{series}/instances/{sop}/frames/2"
    response = client.get(url, headers={"Accept": 'multipart/related; type="image/jp2"'})
    ((headers, content),) = split(response.content, response.headers["content-type"])
    assert headers["content-type"] == "image/jp2" and content[:2] == b"\xff\x4f"


@pytest.mark.parametrize("compressed", [True, False])
def test_a_rendered_frame_reads_the_header_and_that_frame_only(
    client: httpx.Client, base_url: str, rle: dict, compressed: bool
) -> None:
    if compressed:
        url, data, frame_size = rle["url"], rle["data"], len(rle["frames"][149])
    else:
        study, series, sop = generate_uid(), generate_uid(), generate_uid()
        data = make_instance(study, series, sop, rows=ROWS, columns=COLUMNS, frames=FRAMES)
        store(client, f"{base_url}/studies", [data])
        url, frame_size = f"{base_url}/studies/{study}/series/{series}/instances/{sop}/frames", ROWS * COLUMNS * 2
    response = client.get(f"{url}/150/rendered", headers={"Accept": "image/png"})
    assert response.content == render(data, 150, RenderRequest("image/png", 90)), "as rendered from the whole file"
    header_size = int(response.headers["X-Storage-Bytes-Read"]) - frame_size
    assert 0 < header_size < 2048 and frame_size * 100 < len(data)
