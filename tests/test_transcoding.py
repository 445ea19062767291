"""Retrieve in another transfer syntax: every sample file, every reference pair, mixed studies, frames."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames
from pydicom.pixels import get_decoder
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless, generate_uid

from dicom.layout import pixel_module
from dicom.pixels.transcode import transcode
from tests.dicom_factory import SAMPLES, make_instance
from tests.helpers import stored
from tests.multipart_split import split

EVRLE, J2K_LOSSLESS = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.4.90"
TRANSCODING = sorted((SAMPLES / "transcoding").glob("*.dcm"))
PAIRS = SAMPLES / "transcoder-pairs"


def fetch(client: httpx.Client, url: str, accept: str) -> pydicom.Dataset:
    response = client.get(url, headers={"Accept": accept})
    assert response.status_code == 200, response.text
    dataset = pydicom.dcmread(io.BytesIO(response.content))
    assert response.headers["content-type"].endswith(f"transfer-syntax={dataset.file_meta.TransferSyntaxUID}")
    return dataset


@pytest.mark.parametrize("path", TRANSCODING, ids=lambda p: p.stem)
@pytest.mark.parametrize("target", [EVRLE, J2K_LOSSLESS])
def test_every_sample_converts_to_each_output_keeping_the_decoded_pixels(
    client: httpx.Client, base_url: str, path: Path, target: str
) -> None:
    url = stored(client, base_url, path)
    result = fetch(client, url, f"application/dicom; transfer-syntax={target}")
    assert result.file_meta.TransferSyntaxUID == target
    np.testing.assert_array_equal(result.pixel_array, pydicom.dcmread(path).pixel_array)
    assert result.PatientID == pydicom.dcmread(path).PatientID


def test_default_accept_converts_to_explicit_vr_little_endian(client: httpx.Client, base_url: str) -> None:
    url = stored(client, base_url, SAMPLES / "transcoding" / "ImplicitVRLittleEndian.dcm")
    assert fetch(client, url, "application/dicom").file_meta.TransferSyntaxUID == EVRLE


def _output_syntax(pair: Path) -> str:
    return str(pydicom.dcmread(pair / "ExpectedOutput.dcm", stop_before_pixels=True).file_meta.TransferSyntaxUID)


# Every reference pair whose output is one this service produces (the others are checked below).
TO_EXPLICIT_VR_LE = [p for p in sorted((PAIRS / "Decode").iterdir()) + sorted((PAIRS / "Uncompressed").iterdir())
                     if _output_syntax(p) == EVRLE]  # fmt: skip


@pytest.mark.parametrize("pair", TO_EXPLICIT_VR_LE, ids=lambda p: p.name)
def test_decoding_matches_the_reference_transcoder(client: httpx.Client, base_url: str, pair: Path) -> None:
    expected = pydicom.dcmread(pair / "ExpectedOutput.dcm")
    result = fetch(client, stored(client, base_url, pair / "Input.dcm"), "application/dicom")
    difference = np.abs(result.pixel_array.astype(int) - expected.pixel_array.astype(int))
    lossy_input = pair.name == "FromJPEGProcess1"  # JPEG baseline: decoders may differ by rounding
    assert difference.max() <= (3 if lossy_input else 0)
    assert result.PhotometricInterpretation == expected.PhotometricInterpretation


def test_the_pairs_left_out_are_only_big_endian_and_implicit_outputs_which_are_not_offered() -> None:
    outputs = {_output_syntax(p) for p in (PAIRS / "Uncompressed").iterdir()}
    assert len(TO_EXPLICIT_VR_LE) == 8
    assert outputs - {EVRLE} == {"1.2.840.10008.1.2", "1.2.840.10008.1.2.2"}


def test_encoding_to_jpeg_2000_lossless_matches_the_reference(client: httpx.Client, base_url: str) -> None:
    pair = PAIRS / "Encode" / "ToJPEG2000Lossless"
    result = fetch(
        client, stored(client, base_url, pair / "Input.dcm"), f"application/dicom; transfer-syntax={J2K_LOSSLESS}"
    )
    np.testing.assert_array_equal(result.pixel_array, pydicom.dcmread(pair / "ExpectedOutput.dcm").pixel_array)


def test_a_study_of_mixed_syntaxes_is_retrieved_in_one_requested_syntax(client: httpx.Client, base_url: str) -> None:
    study = generate_uid()
    for name in ("ImplicitVRLittleEndian", "JPEG2000Lossless", "RLELossless", "ExplicitVRBigEndian"):
        stored(client, base_url, SAMPLES / "transcoding" / f"{name}.dcm", study)
    response = client.get(
        f"{base_url}/studies/{study}", headers={"Accept": 'multipart/related; type="application/dicom"'}
    )
    parts = split(response.content, response.headers["content-type"])
    assert len(parts) == 4
    assert {headers["content-type"] for headers, _ in parts} == {f"application/dicom; transfer-syntax={EVRLE}"}
    assert {str(pydicom.dcmread(io.BytesIO(c)).file_meta.TransferSyntaxUID) for _, c in parts} == {EVRLE}


def test_an_output_syntax_that_cannot_be_produced_answers_406_naming_transfer_syntax_star(
    client: httpx.Client, base_url: str
) -> None:
    url = stored(client, base_url, SAMPLES / "transcoding" / "RLELossless.dcm")
    response = client.get(url, headers={"Accept": "application/dicom; transfer-syntax=1.2.840.10008.1.2.4.50"})
    assert response.status_code == 406
    assert "transfer-syntax=*" in response.json()["detail"]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (f'multipart/related; type="application/dicom"; transfer-syntax={EVRLE}; q=0.5, '
         'multipart/related; type="application/dicom"; transfer-syntax=*; q=0.9', "original"),
        (f'multipart/related; type="application/dicom"; transfer-syntax={EVRLE}, '
         'multipart/related; type="application/dicom"; transfer-syntax=*', "original"),  # a tie: original wins
        (f'multipart/related; type="application/dicom"; transfer-syntax=*; q=0.2, '
         f'multipart/related; type="application/dicom"; transfer-syntax={EVRLE}', "converted"),
    ],
)  # fmt: skip
def test_accept_values_are_ordered_by_q_with_the_original_winning_ties(
    client: httpx.Client, base_url: str, accept: str, expected: str
) -> None:
    url = stored(client, base_url, SAMPLES / "transcoding" / "RLELossless.dcm")
    response = client.get(url, headers={"Accept": accept})
    ((headers, _),) = split(response.content, response.headers["content-type"])
    syntax = "1.2.840.10008.1.2.5" if expected == "original" else EVRLE
    assert headers["content-type"] == f"application/dicom; transfer-syntax={syntax}"


def test_frames_of_compressed_instances_as_stored_and_decoded(client: httpx.Client, base_url: str) -> None:
    path = SAMPLES / "transcoding" / "JPEG2000Lossless.dcm"
    url = stored(client, base_url, path) + "/frames/1"
    original = pydicom.dcmread(path)
    as_stored = client.get(url, headers={"Accept": "application/octet-stream; transfer-syntax=*"})
    assert as_stored.status_code == 200
    assert as_stored.content == next(generate_frames(original.PixelData, number_of_frames=1))
    assert as_stored.headers["content-type"] == "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.90"
    decoded = client.get(url, headers={"Accept": "application/octet-stream"})
    assert decoded.headers["content-type"] == f"application/octet-stream; transfer-syntax={EVRLE}"
    np.testing.assert_array_equal(np.frombuffer(decoded.content, np.uint8).reshape(original.pixel_array.shape),
                                  original.pixel_array)  # fmt: skip


def test_jpeg_ls_input_converts_losslessly(client: httpx.Client, base_url: str, tmp_path: Path) -> None:
    """No sample is JPEG-LS, so one is made from the Explicit VR sample with pydicom's encoder (pyjpegls)."""
    source = pydicom.dcmread(SAMPLES / "transcoding" / "ExplicitVRLittleEndian.dcm")
    source.compress("1.2.840.10008.1.2.4.80", generate_instance_uid=False)
    path = tmp_path / "jpegls.dcm"
    source.save_as(path, enforce_file_format=True)
    result = fetch(client, stored(client, base_url, path), "application/dicom")
    assert result.file_meta.TransferSyntaxUID == EVRLE
    np.testing.assert_array_equal(
        result.pixel_array, pydicom.dcmread(SAMPLES / "transcoding" / "ExplicitVRLittleEndian.dcm").pixel_array
    )


def planar(tmp_path: Path) -> Path:
    """The Implicit VR sample with its colour planes one after another (PlanarConfiguration 1)."""
    dataset = pydicom.dcmread(SAMPLES / "transcoding" / "ImplicitVRLittleEndian.dcm")
    dataset.PixelData = np.ascontiguousarray(dataset.pixel_array.transpose(2, 0, 1)).tobytes()
    dataset.PlanarConfiguration = 1
    path = tmp_path / "planar.dcm"
    dataset.save_as(path, enforce_file_format=True)
    return path


def trailing_padding(tmp_path: Path, sample: str) -> Path:
    """A sample with an element after its pixel data (Data Set Trailing Padding)."""
    dataset = pydicom.dcmread(SAMPLES / "transcoding" / f"{sample}.dcm")
    dataset.DataSetTrailingPadding = bytes(8)
    path = tmp_path / "padded.dcm"
    dataset.save_as(path, enforce_file_format=True)
    return path


def multi_frame(tmp_path: Path, syntax: str) -> Path:
    """A 6-frame instance compressed with pydicom's own encoders (the samples have one frame each)."""
    dataset = pydicom.dcmread(io.BytesIO(make_instance(rows=32, columns=32, frames=6)))
    dataset.compress(syntax, generate_instance_uid=False)
    path = tmp_path / "multi.dcm"
    dataset.save_as(path, enforce_file_format=True)
    return path


SOURCES = [
    *(p.stem for p in TRANSCODING),
    "planar colour",
    "trailing padding ImplicitVRLittleEndian",
    "trailing padding RLELossless",
    *(f"multi-frame {s}" for s in (RLELossless, JPEG2000Lossless, JPEGLSLossless)),
]


def stored_source(client: httpx.Client, base_url: str, tmp_path: Path, source: str) -> tuple[str, bytes]:
    """A sample (or a made planar or multi-frame file) stored anew: its URL and its bytes as stored."""
    if source == "planar colour":
        path = planar(tmp_path)
    elif source.startswith("trailing padding"):
        path = trailing_padding(tmp_path, source.split()[-1])
    elif source.startswith("multi-frame"):
        path = multi_frame(tmp_path, source.split()[-1])
    else:
        path = SAMPLES / "transcoding" / f"{source}.dcm"
    url = stored(client, base_url, path)
    return url, client.get(url, headers={"Accept": "application/dicom; transfer-syntax=*"}).content


@pytest.mark.parametrize("source", SOURCES)
def test_conversion_to_explicit_vr_le_streamed_per_frame_equals_converting_the_whole_file(
    client: httpx.Client, base_url: str, tmp_path: Path, source: str
) -> None:
    url, as_stored = stored_source(client, base_url, tmp_path, source)
    converted = client.get(url, headers={"Accept": "application/dicom"})
    assert converted.headers["content-length"] == str(len(converted.content))
    assert converted.content == transcode(as_stored, EVRLE)


@pytest.mark.parametrize("source", [s for s in SOURCES if not s.endswith(("JPEG2000Lossless", JPEG2000Lossless))])
def test_conversion_to_jpeg_2000_streamed_per_frame_equals_converting_the_whole_file(
    client: httpx.Client, base_url: str, tmp_path: Path, source: str
) -> None:
    # Streamed, the frames' sizes are not known up front: an empty Basic Offset Table, no Content-Length.
    url, as_stored = stored_source(client, base_url, tmp_path, source)
    converted = client.get(url, headers={"Accept": f"application/dicom; transfer-syntax={J2K_LOSSLESS}"})
    assert converted.status_code == 200
    whole = pydicom.dcmread(io.BytesIO(transcode(as_stored, J2K_LOSSLESS)))
    streamed = pydicom.dcmread(io.BytesIO(converted.content))
    count = int(whole.get("NumberOfFrames") or 1)
    frames = [list(generate_frames(d.PixelData, number_of_frames=count)) for d in (streamed, whole)]
    assert frames[0] == frames[1]
    np.testing.assert_array_equal(streamed.pixel_array, pydicom.dcmread(io.BytesIO(as_stored)).pixel_array)
    del streamed.PixelData, whole.PixelData
    assert streamed == whole and streamed.file_meta == whole.file_meta
    assert streamed.get("PlanarConfiguration", 0) == 0, "JPEG 2000 codes colour samples interleaved"


def test_image_jp2_frames_of_planar_colour_are_coded_interleaved(
    client: httpx.Client, base_url: str, tmp_path: Path
) -> None:
    path = planar(tmp_path)
    response = client.get(stored(client, base_url, path) + "/frames/1", headers={"Accept": "image/jp2"})
    source = pydicom.dcmread(path)
    module = {**pixel_module(source), "planar_configuration": 0, "number_of_frames": 1}
    decoded, _ = get_decoder(J2K_LOSSLESS).as_array(encapsulate([response.content]), **module)
    np.testing.assert_array_equal(decoded, source.pixel_array)
