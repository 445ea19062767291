"""Frames of real multi-frame files (pydicom-data): each served from ranged reads of that frame alone.

X-Storage-Bytes-Read tells how many blob bytes a request read; the expected frames and pixels come
from pydicom reading the whole file.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pydicom
import pytest
from data_store import DataStore
from pydicom.encaps import generate_frames
from pydicom.pixels import pixel_array

from dicom.pixels.render import RenderRequest, render
from tests.helpers import stored

DATA = Path(DataStore().data_path)
OCTET_STREAM_AS_STORED = {"Accept": "application/octet-stream; transfer-syntax=*"}


@pytest.fixture(scope="module")
def jpeg_120_frames(base_url: str) -> dict:
    path = DATA / "color3d_jpeg_baseline.dcm"
    with httpx.Client(timeout=60) as client:
        url = stored(client, base_url, path)
    return {"url": url, "path": path, "dataset": pydicom.dcmread(path)}


def test_one_of_120_jpeg_frames_as_stored_reads_that_frame_only(client: httpx.Client, jpeg_120_frames: dict) -> None:
    dataset = jpeg_120_frames["dataset"]
    expected = list(generate_frames(dataset.PixelData, number_of_frames=120))[59]
    response = client.get(f"{jpeg_120_frames['url']}/frames/60", headers=OCTET_STREAM_AS_STORED)
    assert response.content == expected
    assert int(response.headers["X-Storage-Bytes-Read"]) == len(expected)
    assert len(expected) * 100 < jpeg_120_frames["path"].stat().st_size


def test_one_of_120_jpeg_frames_decoded_equals_pydicoms_decoding(client: httpx.Client, jpeg_120_frames: dict) -> None:
    response = client.get(f"{jpeg_120_frames['url']}/frames/60", headers={"Accept": "application/octet-stream"})
    assert response.content == pixel_array(jpeg_120_frames["dataset"], index=59).tobytes()


def test_one_of_120_jpeg_frames_rendered_reads_the_header_and_that_frame(
    client: httpx.Client, jpeg_120_frames: dict
) -> None:
    response = client.get(f"{jpeg_120_frames['url']}/frames/60/rendered", headers={"Accept": "image/png"})
    assert response.headers["content-type"] == "image/png"
    assert int(response.headers["X-Storage-Bytes-Read"]) * 50 < jpeg_120_frames["path"].stat().st_size


@pytest.mark.parametrize(
    "name",
    ["emri_small.dcm", "emri_small_RLE.dcm", "emri_small_jpeg_ls_lossless.dcm", "emri_small_jpeg_2k_lossless.dcm"],
)
def test_a_frame_of_each_syntax_decoded_is_read_alone(client: httpx.Client, base_url: str, name: str) -> None:
    path = DATA / name
    dataset = pydicom.dcmread(path)
    response = client.get(f"{stored(client, base_url, path)}/frames/5", headers={"Accept": "application/octet-stream"})
    np.testing.assert_array_equal(np.frombuffer(response.content, "<u2").reshape(64, 64), dataset.pixel_array[4])
    assert int(response.headers["X-Storage-Bytes-Read"]) < path.stat().st_size / 5


@pytest.mark.parametrize(("name", "frame"), [("emri_small_big_endian.dcm", 5), ("SC_rgb_expb_32bit_2frame.dcm", 2)])
def test_a_frame_of_big_endian_data_is_read_alone_and_swapped_to_little_endian(
    client: httpx.Client, base_url: str, name: str, frame: int
) -> None:
    path = DATA / name
    expected = pydicom.dcmread(path).pixel_array[frame - 1]
    url = f"{stored(client, base_url, path)}/frames/{frame}"
    response = client.get(url, headers={"Accept": "application/octet-stream"})
    decoded = np.frombuffer(response.content, expected.dtype.newbyteorder("<")).reshape(expected.shape)
    np.testing.assert_array_equal(decoded, expected)
    assert int(response.headers["X-Storage-Bytes-Read"]) == expected.nbytes
    rendered = client.get(f"{url}/rendered", headers={"Accept": "image/png"})
    assert rendered.content == render(path.read_bytes(), frame, RenderRequest("image/png", 90))
