"""/rendered and /thumbnail: JPEG by default or PNG, quality, windowing, photometric handling."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.uid import generate_uid

from tests.dicom_factory import SAMPLES, TUTORIAL, make_instance
from tests.helpers import store, stored


def instance_url(client: httpx.Client, base_url: str, **attributes: object) -> str:
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    assert store(client, f"{base_url}/studies", [make_instance(study, series, sop, **attributes)]).status_code == 200
    return f"{base_url}/studies/{study}/series/{series}/instances/{sop}"


def image(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    return np.asarray(Image.open(io.BytesIO(response.content)))


def png(client: httpx.Client, url: str) -> np.ndarray:
    return image(client.get(url, headers={"Accept": "image/png"}))


def standard_window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 linear windowing to 8 bits, written out independently of the service."""
    return np.clip(np.rint(((values - (center - 0.5)) / (width - 1) + 0.5) * 255), 0, 255).astype(np.uint8)


def test_rendered_defaults_to_jpeg_of_the_instance_size(client: httpx.Client, base_url: str) -> None:
    url = stored(client, base_url, TUTORIAL / "red-triangle.dcm")
    response = client.get(url + "/rendered")
    assert response.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).size == (985, 979)


def test_png_reproduces_rgb_pixels_exactly(client: httpx.Client, base_url: str) -> None:
    url = stored(client, base_url, TUTORIAL / "red-triangle.dcm")
    np.testing.assert_array_equal(
        png(client, url + "/rendered"), pydicom.dcmread(TUTORIAL / "red-triangle.dcm").pixel_array
    )


def test_ybr_jpeg_is_rendered_as_rgb(client: httpx.Client, base_url: str) -> None:
    path = SAMPLES / "transcoding" / "JPEGProcess1.dcm"
    np.testing.assert_array_equal(
        png(client, stored(client, base_url, path) + "/rendered"), pydicom.dcmread(path).pixel_array
    )


def test_quality_changes_the_jpeg(client: httpx.Client, base_url: str) -> None:
    url = stored(client, base_url, TUTORIAL / "red-triangle.dcm") + "/rendered"
    low, high = (len(client.get(url, params={"quality": q}).content) for q in ("5", "95"))
    assert low < high


def test_the_files_window_is_applied(client: httpx.Client, base_url: str) -> None:
    url = instance_url(client, base_url, WindowCenter=1007, WindowWidth=10)
    raw = np.arange(1000, 1016, dtype=np.float64).reshape(4, 4)  # frame 1 of the factory's pixels
    np.testing.assert_array_equal(png(client, url + "/rendered"), standard_window(raw, 1007, 10))


def test_without_a_window_the_frames_range_is_used(client: httpx.Client, base_url: str) -> None:
    rendered = png(client, instance_url(client, base_url) + "/rendered")
    assert (rendered.min(), rendered.max()) == (0, 255)
    assert rendered[0, 0] == 0 and rendered[3, 3] == 255


def test_monochrome1_is_inverted(client: httpx.Client, base_url: str) -> None:
    mono2 = png(client, instance_url(client, base_url) + "/rendered")
    mono1 = png(client, instance_url(client, base_url, PhotometricInterpretation="MONOCHROME1") + "/rendered")
    np.testing.assert_array_equal(mono1, 255 - mono2)


def test_rescale_slope_and_intercept_apply_before_the_window(client: httpx.Client, base_url: str) -> None:
    url = instance_url(client, base_url, RescaleSlope=2, RescaleIntercept=-1000, WindowCenter=1010, WindowWidth=20)
    raw = np.arange(1000, 1016, dtype=np.float64).reshape(4, 4) * 2 - 1000
    np.testing.assert_array_equal(png(client, url + "/rendered"), standard_window(raw, 1010, 20))


def test_a_frame_is_rendered_on_its_own(client: httpx.Client, base_url: str) -> None:
    url = instance_url(client, base_url, frames=3, WindowCenter=2007, WindowWidth=10)
    raw = np.arange(2000, 2016, dtype=np.float64).reshape(4, 4)  # frame 2
    np.testing.assert_array_equal(png(client, url + "/frames/2/rendered"), standard_window(raw, 2007, 10))


@pytest.mark.parametrize(("path", "status"), [("/frames/4/rendered", 404), ("/frames/1,2/rendered", 400),
                                              ("/frames/0/rendered", 400)])  # fmt: skip
def test_bad_frames_for_rendering(client: httpx.Client, base_url: str, path: str, status: int) -> None:
    assert client.get(instance_url(client, base_url, frames=3) + path).status_code == status


def test_unsupported_image_types_answer_406(client: httpx.Client, base_url: str) -> None:
    response = client.get(instance_url(client, base_url) + "/rendered", headers={"Accept": "image/gif"})
    assert response.status_code == 406
    assert "image/png" in response.json()["detail"]


@pytest.mark.parametrize(
    "quality", ["0", "101", "high", "\u00b2", "9" * 5000], ids=["0", "101", "word", "superscript", "5000-digits"]
)
def test_bad_quality_answers_400(client: httpx.Client, base_url: str, quality: str) -> None:
    assert client.get(instance_url(client, base_url) + "/rendered", params={"quality": quality}).status_code == 400


@pytest.mark.parametrize("level", ["instance", "series", "study"])
def test_thumbnails_are_small_jpegs_at_every_level(client: httpx.Client, base_url: str, level: str) -> None:
    url = stored(client, base_url, TUTORIAL / "red-triangle.dcm")
    url = {"instance": url, "series": url.rsplit("/instances/", 1)[0], "study": url.rsplit("/series/", 1)[0]}[level]
    response = client.get(url + "/thumbnail")
    assert response.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(response.content)).size) == 128


def test_palette_colour_goes_through_its_lut(client: httpx.Client, base_url: str) -> None:
    """An 8-bit palette image whose 16-bit LUTs map index i to (i, 255 - i, 128) in 8-bit terms."""
    entries = np.arange(256, dtype=np.uint16)
    lut = {"Red": entries * 257, "Green": (255 - entries) * 257, "Blue": np.full(256, 128 * 257, dtype=np.uint16)}
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    data = make_instance(study, series, sop, PhotometricInterpretation="PALETTE COLOR", BitsAllocated=8,
                         BitsStored=8, HighBit=7)  # fmt: skip
    dataset = pydicom.dcmread(io.BytesIO(data))
    dataset.PixelData = bytes(range(0, 256, 16))  # a 4x4 image of indexes 0, 16, ..., 240
    for offset, values in enumerate(lut.values()):  # Red, Green, Blue descriptors and data
        dataset.add_new(0x00281101 + offset, "US", [256, 0, 16])
        dataset.add_new(0x00281201 + offset, "OW", values.astype("<u2").tobytes())
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    store(client, f"{base_url}/studies", [buffer.getvalue()])
    rendered = png(client, f"{base_url}/studies/{study}/series/{series}/instances/{sop}/rendered")
    index = np.arange(0, 256, 16).reshape(4, 4)
    np.testing.assert_array_equal(rendered, np.stack([index, 255 - index, np.full((4, 4), 128)], axis=-1))
