"""Transfer-syntax conversion on retrieve, with pydicom's pixel backends (pylibjpeg, openjpeg, pyjpegls).

Outputs: Explicit VR Little Endian and JPEG 2000 lossless. Lossless inputs keep every pixel value.
Instances whose frames were located at store time are converted while they stream (a re-encoded header,
then the stored pixels or each frame decoded, and encoded, in turn); others in memory, one at a time.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator

import numpy as np
import pydicom
from pydicom import Dataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.pixels import get_decoder, get_encoder
from pydicom.uid import UID, ExplicitVRLittleEndian, JPEG2000Lossless

from ..errors import CannotProvide
from ..layout import pixel_module, require_frames
from .inflate import inflated
from .limits import decoding, native_length, require_codestream_fits, require_decodable, require_native_length

OUTPUTS = frozenset({ExplicitVRLittleEndian, JPEG2000Lossless})
INPUTS = frozenset({
    "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
})  # fmt: skip


def can_transcode(source: str, target: str) -> bool:
    return source == target or (target in OUTPUTS and source in INPUTS)


def transcode(data: bytes, target: str) -> bytes:
    """The instance re-encoded in `target`; the preamble stays zero, every non-pixel element is kept.

    In memory, so what it decodes is capped as a whole (every frame), and deflated files inflate in bounded steps.
    """
    with decoding():
        dataset = pydicom.dcmread(io.BytesIO(inflated(data)))
    decodes = target == JPEG2000Lossless or UID(dataset.file_meta.TransferSyntaxUID).is_compressed
    _check_pixels(dataset, whole=decodes)
    with decoding():
        _to_explicit_little_endian(dataset)
        if target == JPEG2000Lossless and "PixelData" in dataset:
            pixels = dataset.pixel_array  # colour interleaved, whatever the planar configuration
            if int(dataset.get("SamplesPerPixel") or 1) > 1:
                dataset.PlanarConfiguration = 0  # JPEG 2000 codes interleaved samples (PS3.5 8.2.4)
            dataset.compress(JPEG2000Lossless, pixels, generate_instance_uid=False)
    output = io.BytesIO()
    pydicom.dcmwrite(output, dataset, enforce_file_format=True, implicit_vr=False, little_endian=True)
    return output.getvalue()


def _check_pixels(dataset: Dataset, whole: bool) -> None:
    """Native pixel data holds what Rows/Columns/frames declare; compressed frames announce those Rows/Columns;
    and when the whole instance is to be decoded (`whole`), all its frames together stay under the cap."""
    if "PixelData" not in dataset:
        return
    module = pixel_module(dataset)
    rows, columns = int(module.get("rows", 0)), int(module.get("columns", 0))  # type: ignore[call-overload]
    samples, bits = int(module.get("samples_per_pixel", 1)), int(module.get("bits_allocated", 0))  # type: ignore[call-overload]
    count = int(dataset.get("NumberOfFrames") or 1)
    syntax = UID(dataset.file_meta.TransferSyntaxUID)
    if whole:
        require_decodable(rows, columns, samples, count)
    if not syntax.is_encapsulated:
        require_native_length(len(dataset.PixelData), native_length(rows, columns, samples, bits, count))
        return
    with decoding():
        frames = generate_frames(dataset.PixelData, number_of_frames=count)
        for number, frame in enumerate(frames, start=1):
            require_codestream_fits(syntax, frame, rows, columns, number)


def _to_explicit_little_endian(dataset: Dataset) -> None:
    syntax = UID(dataset.file_meta.TransferSyntaxUID)
    if "PixelData" in dataset and syntax.is_compressed and syntax != "1.2.840.10008.1.2.1.99":
        dataset.decompress(generate_instance_uid=False)  # to Explicit VR LE; YBR colour becomes RGB
        return
    if "PixelData" in dataset and not syntax.is_little_endian:
        dataset.PixelData = little_endian_words(dataset.PixelData, int(dataset.BitsAllocated))
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian


def little_endian_words(pixels: bytes, bits_allocated: int) -> bytes:
    """Native pixels of a big-endian file in little-endian byte order (8-bit samples are bytes already)."""
    if bits_allocated <= 8:
        return pixels
    width = bits_allocated // 8
    return np.frombuffer(pixels, dtype=f">u{width}").astype(f"<u{width}").tobytes()


def frames_of(data: bytes, numbers: list[int], target: str | None) -> tuple[Iterator[bytes], str]:
    """Frames of an instance whose layout was not recorded at store time: decoded, or as stored (target None).

    The file is checked whole before the first frame is given (so a damaged one answers 406, not a short frame);
    compressed frames are then decoded one at a time, as they are sent.
    """
    with decoding():
        dataset = pydicom.dcmread(io.BytesIO(inflated(data)))
    if "PixelData" not in dataset:
        raise CannotProvide("This instance has no pixel data, so no frames.")
    count = int(dataset.get("NumberOfFrames") or 1)
    require_frames(numbers, count)
    syntax = str(dataset.file_meta.TransferSyntaxUID)
    _check_pixels(dataset, whole=False)
    if UID(syntax).is_encapsulated:
        with decoding():
            frames = list(generate_frames(dataset.PixelData, number_of_frames=count))
        if target is None:
            return iter([frames[n - 1] for n in numbers]), syntax
        module = pixel_module(dataset)
        return (decode_frame(frames[n - 1], syntax, module, n) for n in numbers), ExplicitVRLittleEndian
    with decoding():
        _to_explicit_little_endian(dataset)
    pixels = dataset.PixelData
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    samples, bits = int(dataset.get("SamplesPerPixel") or 1), int(dataset.BitsAllocated)
    length = native_length(rows, columns, samples, bits)
    return (pixels[(n - 1) * length : n * length] for n in numbers), ExplicitVRLittleEndian


def decode_frame(frame: bytes, syntax: str, pixel_module: dict[str, object], number: int = 1) -> bytes:
    """One compressed frame (its fragments joined) to Explicit VR Little Endian pixel bytes; YBR becomes RGB."""
    return decode_described_frame(frame, syntax, pixel_module, number)[0]


def decode_described_frame(
    frame: bytes, syntax: str, pixel_module: dict[str, object], number: int = 1
) -> tuple[bytes, dict]:
    """The decoded frame and the decoder's description of it (photometric interpretation, planar configuration).

    Checked first: its codestream announces the instance's Rows/Columns, and their size is under the cap.
    """
    rows, columns = int(pixel_module["rows"]), int(pixel_module["columns"])  # type: ignore[call-overload]
    require_codestream_fits(syntax, frame, rows, columns, number)
    require_decodable(rows, columns, int(pixel_module.get("samples_per_pixel", 1)))  # type: ignore[call-overload]
    decoder = get_decoder(UID(syntax))
    with decoding(number):
        array, description = decoder.as_array(encapsulate([frame]), **pixel_module, number_of_frames=1)
        return array.astype(array.dtype.newbyteorder("<")).tobytes(), dict(description)


ITEM = b"\xfe\xff\x00\xe0"
SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


def reencoded_header(
    header: bytes, target: str, frame_count: int, decoded: dict | None, pixel_length: int
) -> tuple[bytes, dict[str, object]]:
    """The file up to its Pixel Data value, re-encoded for `target` as transcode() writes it, and the pixel
    module of the frames that follow, as they come (what the JPEG 2000 encoder needs).

    `header` is the stored file up to its pixel data; `decoded` the decoder's description when the frames
    were decompressed (YBR became RGB, planes interleaved), as Dataset.decompress records it. For Explicit
    VR Little Endian the value is `pixel_length` bytes; for JPEG 2000 it is encapsulated, of undefined
    length, behind an empty Basic Offset Table (frame sizes are known only as they are encoded).
    """
    dataset = pydicom.dcmread(io.BytesIO(header), stop_before_pixels=True)
    stored_vr = b"OW" if dataset.file_meta.TransferSyntaxUID.is_implicit_VR else header[-8:-6]
    dataset.file_meta.TransferSyntaxUID = UID(target)
    if decoded is not None:
        dataset.PhotometricInterpretation = decoded["photometric_interpretation"]
        if int(decoded["samples_per_pixel"]) > 1:
            dataset.PlanarConfiguration = int(decoded["planar_configuration"])
        if "NumberOfFrames" in dataset or frame_count > 1:
            dataset.NumberOfFrames = frame_count
    module = pixel_module(dataset)
    if target == JPEG2000Lossless and int(dataset.get("SamplesPerPixel") or 1) > 1:
        dataset.PlanarConfiguration = 0  # encode_frame_jp2 interleaves the samples
    output = io.BytesIO()
    pydicom.dcmwrite(output, dataset, enforce_file_format=True, implicit_vr=False, little_endian=True)
    tag = struct.pack("<HH", 0x7FE0, 0x0010)
    if target == JPEG2000Lossless:
        pixel_header = tag + b"OB\0\0" + b"\xff\xff\xff\xff" + ITEM + bytes(4)
    else:
        # Native pixels keep their VR (OW from Implicit VR, PS3.5 A.1), as pydicom does; decoded ones are OB up
        # to 8 bits allocated, else OW, as Dataset.decompress sets them.
        vr = stored_vr if decoded is None else b"OW" if int(dataset.BitsAllocated) > 8 else b"OB"
        pixel_header = tag + vr + b"\0\0" + struct.pack("<I", pixel_length + pixel_length % 2)
    return output.getvalue() + pixel_header, module


def fragment_item(codestream: bytes) -> bytes:
    padded = codestream + b"\0" * (len(codestream) % 2)
    return ITEM + struct.pack("<I", len(padded)) + padded


def encode_frame_jp2(frame: bytes, pixel_module: dict[str, object]) -> bytes:
    """One frame of native Explicit VR LE pixel bytes as a JPEG 2000 lossless codestream (samples interleaved)."""
    rows, columns = int(pixel_module["rows"]), int(pixel_module["columns"])
    samples, bits = int(pixel_module.get("samples_per_pixel", 1)), int(pixel_module["bits_allocated"])
    require_decodable(rows, columns, samples)  # the encoder's working buffers cost what a decoder's do
    if bits % 8:
        raise CannotProvide(
            f"JPEG 2000 output is made from whole-byte samples; this instance has {bits} bit(s) allocated. Ask for "
            "Explicit VR Little Endian (transfer-syntax=1.2.840.10008.1.2.1) or for the data as stored "
            "(transfer-syntax=*)."
        )
    signed = int(pixel_module.get("pixel_representation", 0)) == 1
    dtype = np.dtype(f"<{'i' if signed else 'u'}{max(1, bits // 8)}")
    array = np.frombuffer(frame, dtype=dtype)[: rows * columns * samples]
    if samples == 1:
        array = array.reshape(rows, columns)
    elif int(pixel_module.get("planar_configuration", 0)) == 1:  # planes one after another
        array = array.reshape(samples, rows, columns).transpose(1, 2, 0)
    else:
        array = array.reshape(rows, columns, samples)
    options = {**pixel_module, "number_of_frames": 1, "planar_configuration": 0}
    if samples == 3:
        options["photometric_interpretation"] = "RGB"  # decoded colour is RGB
    return get_encoder(JPEG2000Lossless).encode(array, **options)
