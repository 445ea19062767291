"""Retrieve stays bounded and answers a reason, never a 500, whatever the stored pixel data announces (issue 12).

A service of its own decodes at most 256 x 256 pixel values per request (DICOM_MAX_DECODE_PIXELS) and inflates
at most 1 MiB (DICOM_MAX_INFLATED_BYTES), so images just over those limits stand for the gigapixel bombs.
Instances as the store accepted them before it checked them (codestreams larger than Rows/Columns, files cut
short, lying Rows) are made by storing a whole file, then writing the damaged bytes into its blob and, where
the old store would have recorded them so, its index row's Size and frame layout (tests.stored_as).
"""

from __future__ import annotations

import contextlib
import io
import struct
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import httpx
import numpy as np
import openjpeg
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    generate_uid,
)

from local.azurite import Azurite
from tests.archive import Archive
from tests.conftest import LocalHost
from tests.dicom_factory import frame_bytes, make_instance, pixel_data
from tests.helpers import store
from tests.helpers import stored as stored_file
from tests.multipart_split import split
from tests.stored_as import Stored, encapsulated_instance, replace_stored

CAP = 256 * 256
AS_STORED_FRAMES = {"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'}
DECODED_FRAMES = {"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1'}
CONVERTED = {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1'}
TO_JPEG_2000 = {"Accept": f'multipart/related; type="application/dicom"; transfer-syntax={JPEG2000Lossless}'}


@pytest.fixture(scope="module")
def archive(azurite: Azurite) -> Archive:
    return Archive(azurite)


@pytest.fixture(scope="module")
def service(archive: Archive) -> Iterator[LocalHost]:
    host = LocalHost(
        archive.azurite.connection_string,
        **archive.settings,
        DICOM_MAX_DECODE_PIXELS=str(CAP),
        DICOM_MAX_INFLATED_BYTES=str(1024 * 1024),
    )
    yield host
    host.stop()


@pytest.fixture(scope="module")
def base(service: LocalHost) -> str:
    return f"{service.url}/v2"


def stored(client: httpx.Client, base: str, data: bytes, uids: tuple[str, str, str]) -> Stored:
    assert store(client, f"{base}/studies", [data]).status_code == 200
    return Stored(*uids, f"{base}/studies/{uids[0]}/series/{uids[1]}/instances/{uids[2]}")


def new_uids() -> tuple[str, str, str]:
    return generate_uid(), generate_uid(), generate_uid()


def damaged(
    client: httpx.Client,
    base: str,
    archive: Archive,
    make: Callable[..., bytes],
    damage: Callable[[bytes], bytes],
    **row: object,
) -> Stored:
    """A whole file made by `make(study, series, sop)` is stored, then its blob becomes `damage(file)` as an
    older store kept it."""
    uids = new_uids()
    data = make(*uids)
    instance = stored(client, base, data, uids)
    replace_stored(archive, instance, damage(data), **row)  # type: ignore[arg-type]
    return instance


def refusal(response: httpx.Response, *words: str) -> str:
    """The 406 problem detail, checked to name each of `words`."""
    assert response.status_code == 406, (response.status_code, response.text[:300])
    detail = response.json()["detail"]
    for word in words:
        assert word in detail, detail
    return detail


def gradient(rows: int, columns: int, top: int) -> np.ndarray:
    return (np.add.outer(np.arange(rows), np.arange(columns)) * top // (rows + columns - 2)).astype(np.uint16)


@pytest.fixture(scope="module")
def large_j2k(client_module: httpx.Client, base: str) -> Stored:
    """1024 x 1024 12-bit JPEG 2000: 16 times the service's cap."""
    uids = new_uids()
    codestream = bytes(openjpeg.encode(gradient(1024, 1024, 4095), bits_stored=12))
    return stored(
        client_module, base, encapsulated_instance([codestream], 1024, 1024, 16, JPEG2000Lossless, uids), uids
    )


@pytest.fixture(scope="module")
def client_module() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=120) as http:
        yield http


# Point 1: decompression bombs


def test_rendering_more_pixels_than_the_cap_answers_406_naming_the_setting_and_the_as_stored_alternative(
    client: httpx.Client, large_j2k: Stored
) -> None:
    response = client.get(f"{large_j2k.url}/rendered", headers={"Accept": "image/jpeg"})
    refusal(response, "1024 x 1024", "DICOM_MAX_DECODE_PIXELS", "transfer-syntax=*")


def test_decoded_frames_over_the_cap_answer_406_while_the_stored_frame_is_served(
    client: httpx.Client, large_j2k: Stored
) -> None:
    refusal(client.get(f"{large_j2k.url}/frames/1", headers=DECODED_FRAMES), "DICOM_MAX_DECODE_PIXELS")
    assert client.get(f"{large_j2k.url}/frames/1", headers=AS_STORED_FRAMES).status_code == 200


def test_a_thumbnail_of_a_jpeg_2000_image_over_the_cap_is_decoded_at_reduced_resolution(
    client: httpx.Client, large_j2k: Stored
) -> None:
    response = client.get(f"{large_j2k.url}/thumbnail", headers={"Accept": "image/png"})
    assert response.status_code == 200, response.text[:300]
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (128, 128)


def test_a_reduced_resolution_thumbnail_keeps_the_stored_values_so_the_window_applies_as_at_full_size(
    client: httpx.Client, base: str
) -> None:
    """Left half 1000, right half 3000 (12 bits): the window 2000/2000 makes them black and white."""
    pixels = np.full((1024, 1024), 1000, np.uint16)
    pixels[:, 512:] = 3000
    codestream = bytes(openjpeg.encode(pixels, bits_stored=12))
    uids = new_uids()
    instance = encapsulated_instance([codestream], 1024, 1024, 16, JPEG2000Lossless, uids,
                                     WindowCenter=2000, WindowWidth=2000)  # fmt: skip
    url = stored(client, base, instance, uids).url
    thumbnail = np.asarray(
        Image.open(io.BytesIO(client.get(f"{url}/thumbnail", headers={"Accept": "image/png"}).content))
    )
    assert thumbnail[64, 10] == 0 and thumbnail[64, 118] == 255


def test_a_thumbnail_of_a_jpeg_over_the_cap_is_decoded_at_reduced_resolution(client: httpx.Client, base: str) -> None:
    output = io.BytesIO()
    Image.fromarray((gradient(1024, 1024, 255)).astype(np.uint8)).save(output, format="JPEG")
    uids = new_uids()
    instance = encapsulated_instance([output.getvalue()], 1024, 1024, 8, JPEGBaseline8Bit, uids)
    url = stored(client, base, instance, uids).url
    response = client.get(f"{url}/thumbnail", headers={"Accept": "image/png"})
    assert response.status_code == 200, response.text[:300]
    assert Image.open(io.BytesIO(response.content)).size == (128, 128)
    refusal(client.get(f"{url}/rendered"), "DICOM_MAX_DECODE_PIXELS")


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/frames/1", {"Accept": 'multipart/related; type="image/jp2"'}), ("", TO_JPEG_2000)],
    ids=["image/jp2 frame", "to JPEG 2000"],
)
def test_encoding_more_pixels_than_the_cap_as_jpeg_2000_answers_406(
    client: httpx.Client, base: str, path: str, headers: dict[str, str]
) -> None:
    uids = new_uids()
    url = stored(client, base, make_instance(*uids, rows=512, columns=512), uids).url
    refusal(client.get(url + path, headers=headers), "512 x 512", "DICOM_MAX_DECODE_PIXELS")
    assert client.get(f"{url}/frames/1", headers=AS_STORED_FRAMES).status_code == 200


@pytest.fixture(scope="module")
def lying_codestream(client_module: httpx.Client, base: str, archive: Archive) -> Stored:
    """A 64 x 64 instance whose stored frame is a 2048 x 2048 codestream of the same length (as stored
    before the store checked codestream headers)."""
    honest = bytes(openjpeg.encode(np.full((64, 64), 100, np.uint8)))
    bomb = bytes(openjpeg.encode(np.full((2048, 2048), 100, np.uint8)))
    honest += bytes(len(bomb) - len(honest))  # decoders stop at the end-of-codestream marker
    uids = new_uids()
    data = encapsulated_instance([honest], 64, 64, 8, JPEG2000Lossless, uids)
    instance = stored(client_module, base, data, uids)
    start = data.index(honest)
    replace_stored(archive, instance, data[:start] + bomb + data[start + len(bomb) :])
    return instance


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/rendered", {}), ("/thumbnail", {}), ("/frames/1", DECODED_FRAMES), ("", CONVERTED)],
    ids=["rendered", "thumbnail", "decoded frame", "converted"],
)
def test_a_codestream_announcing_more_than_rows_and_columns_is_refused_without_decoding(
    client: httpx.Client, lying_codestream: Stored, path: str, headers: dict[str, str]
) -> None:
    response = client.get(lying_codestream.url + path, headers=headers)
    refusal(response, "2048 x 2048", "64 x 64")


# Point 3: frames stream one at a time


def test_a_frames_response_starts_after_reading_only_its_first_frame(client: httpx.Client, base: str) -> None:
    uids = new_uids()
    url = stored(client, base, make_instance(*uids, rows=64, columns=64, frames=10), uids).url
    response = client.get(f"{url}/frames/1,2,3,4,5,6,7,8,9,10", headers=AS_STORED_FRAMES)
    parts = split(response.content, response.headers["content-type"])
    assert [content for _, content in parts] == [frame_bytes(64, 64, n) for n in range(1, 11)]
    assert int(response.headers["X-Storage-Bytes-Read"]) == 64 * 64 * 2


@pytest.mark.parametrize("accept", ["application/octet-stream; transfer-syntax=*", AS_STORED_FRAMES["Accept"]])
def test_a_frame_over_8_mib_passes_through_in_chunks_the_response_starting_before_it_is_read(
    client: httpx.Client, base: str, accept: str
) -> None:
    uids = new_uids()
    url = stored(client, base, make_instance(*uids, rows=2100, columns=2048, frames=2), uids).url
    response = client.get(f"{url}/frames/2", headers={"Accept": accept})
    content = response.content
    if accept.startswith("multipart"):
        ((_, content),) = split(response.content, response.headers["content-type"])
    assert content == frame_bytes(2100, 2048, 2)
    assert response.headers["X-Storage-Bytes-Read"] == "0"


def test_a_frame_found_cut_short_mid_response_ends_it_without_a_closing_boundary_never_as_a_short_part(
    client: httpx.Client, base: str, archive: Archive
) -> None:
    """The blob was cut after the response began (its index row still has the whole size)."""
    make = partial(make_instance, rows=64, columns=64, frames=3)
    instance = damaged(client, base, archive, make, lambda data: data[: -64 * 64], keep_size=True)  # half frame 3
    received = b""
    frames = client.stream("GET", f"{instance.url}/frames/1,2,3", headers=AS_STORED_FRAMES)
    with contextlib.suppress(httpx.HTTPError), frames as response:  # the server breaks the response off
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            received += chunk
    assert frame_bytes(64, 64, 1) in received and frame_bytes(64, 64, 2) in received
    assert received.count(b"Content-Type: application/octet-stream") == 2, "no part for the short frame"
    assert not received.rstrip().endswith(b"--"), "no closing boundary: the response is visibly incomplete"


# Point 6: files stored cut short (before the store refused them)


@pytest.fixture(scope="module")
def cut_native(client_module: httpx.Client, base: str, archive: Archive) -> Stored:
    """Implicit VR, 3 frames of 64 x 64, cut in the middle of its pixel data."""
    make = partial(make_instance, rows=64, columns=64, frames=3, transfer_syntax=ImplicitVRLittleEndian)
    return damaged(client_module, base, archive, make, lambda data: data[: -3 * 64 * 64])


@pytest.fixture(scope="module")
def cut_compressed(client_module: httpx.Client, base: str, archive: Archive) -> Stored:
    """JPEG 2000, 2 frames, cut a few bytes before its end (inside the last fragment)."""
    frames = [bytes(openjpeg.encode(gradient(64, 64, 255).astype(np.uint8) + n)) for n in range(2)]
    make = lambda *uids: encapsulated_instance(frames, 64, 64, 8, JPEG2000Lossless, uids)  # noqa: E731
    return damaged(client_module, base, archive, make, lambda data: data[:-20])


CUT_REQUESTS = {
    "frame as stored": ("/frames/1", AS_STORED_FRAMES),
    "decoded frame": ("/frames/1", DECODED_FRAMES),
    "rendered": ("/rendered", {}),
    "thumbnail": ("/thumbnail", {}),
    "converted": ("", CONVERTED),
    "to JPEG 2000": ("", TO_JPEG_2000),
}


@pytest.mark.parametrize("request_name", list(CUT_REQUESTS))
def test_an_uncompressed_file_stored_cut_short_answers_406_saying_so(
    client: httpx.Client, cut_native: Stored, request_name: str
) -> None:
    path, headers = CUT_REQUESTS[request_name]
    refusal(client.get(cut_native.url + path, headers=headers), "cut short")


@pytest.mark.parametrize("request_name", [name for name in CUT_REQUESTS if name != "to JPEG 2000"])
def test_a_compressed_file_stored_cut_short_answers_406_saying_so(
    client: httpx.Client, cut_compressed: Stored, request_name: str
) -> None:
    path, headers = CUT_REQUESTS[request_name]
    refusal(client.get(cut_compressed.url + path, headers=headers), "cut short")


CUT_KINDS = {
    "explicit": partial(make_instance, rows=64, columns=64, frames=3),
    "implicit": partial(make_instance, rows=64, columns=64, frames=3, transfer_syntax=ImplicitVRLittleEndian),
    "deflated": partial(make_instance, rows=64, columns=64, frames=3, transfer_syntax=DeflatedExplicitVRLittleEndian),
    "jpeg 2000": lambda *uids: encapsulated_instance(
        [bytes(openjpeg.encode(gradient(64, 64, 255).astype(np.uint8) + n)) for n in range(3)],
        64, 64, 8, JPEG2000Lossless, uids,
    ),
}  # fmt: skip


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9, -12], ids=["10%", "50%", "90%", "12 bytes before the end"])
@pytest.mark.parametrize("kind", list(CUT_KINDS))
def test_a_file_cut_anywhere_answers_406_with_a_reason_never_500_nor_a_short_frame(
    client: httpx.Client, base: str, archive: Archive, kind: str, cut: float
) -> None:
    """Every request that reads pixels (the instance as stored, no conversion, is served as stored); 12 bytes
    before the end is inside the last frame (an encapsulated file ends with an 8-byte delimiter)."""
    keep = (lambda data: data[: int(len(data) * cut)]) if cut > 0 else (lambda data: data[: int(cut)])
    instance = damaged(client, base, archive, CUT_KINDS[kind], keep)
    as_stored = {"explicit": "converted", "jpeg 2000": "to JPEG 2000"}.get(kind)
    requests = [request for name, request in CUT_REQUESTS.items() if name != as_stored]
    for path, headers in [*requests, ("/frames/1,3", DECODED_FRAMES), ("/frames/3/rendered", {})]:
        response = client.get(instance.url + path, headers=headers)
        assert response.status_code == 406 and response.json()["detail"], (path, headers, response.status_code)


def test_a_frame_cut_off_after_indexing_answers_406_not_a_short_frame(
    client: httpx.Client, base: str, archive: Archive
) -> None:
    make = partial(make_instance, rows=64, columns=64, frames=2)
    instance = damaged(client, base, archive, make, lambda data: data[:-100], keep_size=True)
    refusal(client.get(f"{instance.url}/frames/2", headers=AS_STORED_FRAMES), "Frame 2 is cut short")


# Point 7: uncompressed files whose Rows lie


def with_rows(data: bytes, stored_rows: int, claimed_rows: int) -> bytes:
    """The same file (same length) with another Rows value: explicit VR (0028,0010) US."""
    element = b"\x28\x00\x10\x00US\x02\x00"
    assert data.count(element + struct.pack("<H", stored_rows)) == 1
    return data.replace(element + struct.pack("<H", stored_rows), element + struct.pack("<H", claimed_rows))


@pytest.mark.parametrize("path", ["/rendered", "/thumbnail", "/frames/1"])
def test_rows_claiming_more_pixels_than_stored_answer_406_not_500(
    client: httpx.Client, base: str, archive: Archive, path: str
) -> None:
    """80 rows claimed, 64 stored: the old store found no frame layout (too short for one frame)."""
    make = partial(make_instance, rows=64, columns=64)
    instance = damaged(client, base, archive, make, lambda data: with_rows(data, 64, 80), frames="")
    refusal(client.get(instance.url + path, headers=AS_STORED_FRAMES if "frames" in path else {}), "fewer than")


@pytest.mark.parametrize("request_name", list(CUT_REQUESTS))
def test_pixel_data_longer_than_declared_is_served_by_the_declared_sizes_as_the_store_keeps_it(
    client: httpx.Client, base: str, request_name: str
) -> None:
    """pydicom-data's MR_small_padded: 64 x 64 x 16 bits and 128 bytes more (not a lie to refuse)."""
    url = stored_file(client, base, Path(get_testdata_file("MR_small_padded.dcm")))
    path, headers = CUT_REQUESTS[request_name]
    assert client.get(url + path, headers=headers).status_code == 200


# Point 2: deflate bombs already stored


def test_a_stored_deflated_instance_inflating_past_the_cap_is_refused_when_converted(
    client: httpx.Client, base: str, archive: Archive
) -> None:
    """2 MiB of pixels deflate to a few KiB; this service inflates 1 MiB at most (and so stores no such file
    now: this one is written as an older store kept it)."""
    uids = new_uids()
    instance = stored(client, base, make_instance(*uids, transfer_syntax=DeflatedExplicitVRLittleEndian), uids)
    dataset = pydicom.dcmread(io.BytesIO(make_instance(*uids, rows=1024, columns=1024)))
    dataset.PixelData = bytes(1024 * 1024 * 2)
    dataset.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    output = io.BytesIO()
    dataset.save_as(output, enforce_file_format=True)
    data = output.getvalue()
    assert len(data) < 64 * 1024
    replace_stored(archive, instance, data)
    url = instance.url
    refusal(client.get(url, headers=CONVERTED), "inflates to more than 1048576", "DICOM_MAX_INFLATED_BYTES")
    refusal(client.get(f"{url}/rendered"), "DICOM_MAX_INFLATED_BYTES")
    assert client.get(url, headers={"Accept": "application/dicom; transfer-syntax=*"}).content == data


def test_a_stored_deflated_instance_cut_short_is_refused_when_converted(
    client: httpx.Client, base: str, archive: Archive
) -> None:
    make = partial(make_instance, rows=64, columns=64, transfer_syntax=DeflatedExplicitVRLittleEndian)
    instance = damaged(client, base, archive, make, lambda data: data[: len(data) * 3 // 4])
    refusal(client.get(instance.url, headers=CONVERTED), "cut short")


def test_a_stored_deflated_instance_under_the_cap_still_converts(client: httpx.Client, base: str) -> None:
    uids = new_uids()
    data = make_instance(*uids, rows=64, columns=64, transfer_syntax=DeflatedExplicitVRLittleEndian)
    url = stored(client, base, data, uids).url
    response = client.get(url, headers={"Accept": "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"})
    assert response.status_code == 200
    assert pydicom.dcmread(io.BytesIO(response.content)).PixelData == pixel_data(64, 64, 1)


@pytest.mark.parametrize("request_name", [name for name in CUT_REQUESTS if name != "frame as stored"])
def test_an_unlocated_file_over_the_budget_of_a_file_held_whole_is_refused_not_read_into_memory(
    client: httpx.Client, base: str, request_name: str
) -> None:
    """255 x 255 1-bit frames do not end on a byte, so store time locates none; the file is 1.3 MiB, over the
    1 MiB budget (its pixel data holds 16 bits a pixel: longer than declared, stored as sent)."""
    uids = new_uids()
    data = make_instance(*uids, rows=255, columns=255, frames=10, BitsAllocated=1, BitsStored=1, HighBit=0,
                         transfer_syntax=ImplicitVRLittleEndian)  # fmt: skip
    url = stored(client, base, data, uids).url
    path, headers = CUT_REQUESTS[request_name]
    refusal(client.get(url + path, headers=headers), "were not located", "DICOM_MAX_INFLATED_BYTES")


@pytest.mark.parametrize("path", ["", "/frames/1"])
def test_one_bit_frames_asked_as_jpeg_2000_answer_406_naming_what_to_ask_instead(
    client: httpx.Client, base: str, path: str
) -> None:
    uids = new_uids()
    url = stored(client, base, make_instance(*uids, rows=64, columns=64, frames=2, BitsAllocated=1, BitsStored=1,
                                             HighBit=0), uids).url  # fmt: skip
    headers = TO_JPEG_2000 if not path else {"Accept": 'multipart/related; type="image/jp2"'}
    refusal(client.get(url + path, headers=headers), "1 bit(s) allocated", "1.2.840.10008.1.2.1")
