"""Frames decoded at reduced resolution, for thumbnails: the codec skips the detail a small image cannot show.

JPEG 2000 keeps each halving of the image as a resolution level (openjpeg's `reduce`), and a JPEG decoder can
scale by 1/2, 1/4 or 1/8 while it decodes (libjpeg's DCT scaling, Pillow's `draft`). pydicom's decoders
(pylibjpeg) decode at full size only, so Pillow, whose openjpeg and libjpeg do both, decodes these; the values
come back as pydicom's decoders give them (Pillow's scaling to 8 or 16 bits and its sign offset undone).
Anything else (JPEG-LS, lossless JPEG, RLE, deep or odd samples) returns None: decoded at full size, capped.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Jpeg2KImagePlugin, JpegImagePlugin

from .limits import require_decodable

_J2K_SOC = b"\xff\x4f"
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  "
_JPEG_8BIT = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"}
_JPEG_COLOUR = {"YBR_FULL", "YBR_FULL_422"}  # what libjpeg turns into RGB as pydicom does
_SOT, _COD, _COC = 0xFF90, 0xFF52, 0xFF53


@dataclass(frozen=True)
class Siz:
    components: int
    precision: int
    signed: bool


def reduced_pixels(frame_data: bytes, syntax: str, module: dict[str, object], target: int) -> np.ndarray | None:
    """The frame decoded at the smallest size whose longer side is still at least `target`, or None where
    the codec cannot reduce (or need not: the frame is small already). The reduced size obeys the cap."""
    rows, columns = int(module["rows"]), int(module["columns"])  # type: ignore[call-overload]
    samples = int(module.get("samples_per_pixel", 1))  # type: ignore[call-overload]
    if syntax.startswith(("1.2.840.10008.1.2.4.9", "1.2.840.10008.1.2.4.20")):
        return _reduced_j2k(frame_data, rows, columns, samples, module, target)
    if syntax in _JPEG_8BIT:
        return _reduced_jpeg(frame_data, rows, columns, samples, module, target)
    return None


def _halvings(rows: int, columns: int, target: int, most: int) -> int:
    """How many times both sides can be halved while the longer stays at least `target`."""
    count = 0
    while count < most and -(-max(rows, columns) // (2 << count)) >= target:
        count += 1
    return count


def _reduced_j2k(
    data: bytes, rows: int, columns: int, samples: int, module: dict[str, object], target: int
) -> np.ndarray | None:
    codestream = _codestream(data)
    header = _main_header(codestream) if codestream is not None else None
    if header is None:
        return None
    siz, levels = header
    signed = int(module.get("pixel_representation", 0)) == 1  # type: ignore[call-overload]
    deep = siz.precision > 16 or (samples > 1 and siz.precision != 8)
    if siz.components != samples or samples not in (1, 3) or deep or siz.signed != signed:
        return None
    reduce = _halvings(rows, columns, target, levels)
    if reduce == 0:
        return None
    scale = 1 << reduce
    require_decodable(-(-rows // scale), -(-columns // scale), samples)
    image = Jpeg2KImagePlugin.Jpeg2KImageFile(io.BytesIO(data))  # not Image.open: its bomb check is ours
    image.reduce = reduce
    image.load()
    pixels = np.asarray(image)
    if samples > 1:
        return pixels
    # Pillow scales samples to fill 8 or 16 bits and offsets signed ones to unsigned; undo both.
    shift = (8 if pixels.dtype == np.uint8 else 16) - siz.precision
    values = (pixels >> shift).astype(np.int32)
    if siz.signed:
        values -= 1 << (siz.precision - 1)
    return (
        values.astype(np.int16 if signed else np.uint16)
        if siz.precision > 8
        else values.astype(np.int8 if signed else np.uint8)
    )


def _reduced_jpeg(
    data: bytes, rows: int, columns: int, samples: int, module: dict[str, object], target: int
) -> np.ndarray | None:
    photometric = str(module.get("photometric_interpretation", ""))
    grey = samples == 1 and photometric.startswith("MONOCHROME")
    if int(module.get("bits_allocated", 0)) != 8 or not (grey or photometric in _JPEG_COLOUR):  # type: ignore[call-overload]
        return None
    if int(module.get("pixel_representation", 0)) != 0:  # type: ignore[call-overload]
        return None
    reduce = _halvings(rows, columns, target, 3)  # libjpeg scales down by 8 at most
    if reduce == 0:
        return None
    scale = 1 << reduce
    require_decodable(-(-rows // scale), -(-columns // scale), samples)
    image = JpegImagePlugin.JpegImageFile(io.BytesIO(data))  # not Image.open: its bomb check is ours
    mode = "L" if grey else "RGB"
    if image.mode != mode:
        return None
    image.draft(mode, (-(-columns // scale), -(-rows // scale)))
    image.load()
    return np.asarray(image)


def _codestream(data: bytes) -> bytes | None:
    """The J2K codestream, bare or inside a JP2 file's codestream box."""
    if data.startswith(_J2K_SOC):
        return data
    if data.startswith(_JP2_SIGNATURE):
        box = data.find(b"jp2c")
        return data[box + 4 :] if box >= 0 else None
    return None


def _main_header(codestream: bytes) -> tuple[Siz, int] | None:
    """SIZ's components and first sample depth, and the fewest decomposition levels COD/COC allow."""
    if codestream[2:4] != b"\xff\x51" or len(codestream) < 43:
        return None
    (components,) = struct.unpack(">H", codestream[40:42])
    depth = codestream[42]
    siz = Siz(components, (depth & 0x7F) + 1, bool(depth & 0x80))
    levels: int | None = None
    position = 2
    while position + 4 <= len(codestream):
        marker, length = struct.unpack(">HH", codestream[position : position + 4])
        if marker == _SOT or length < 2:
            break
        if marker == _COD and position + 10 <= len(codestream):
            levels = codestream[position + 9] if levels is None else min(levels, codestream[position + 9])
        elif marker == _COC and position + 6 <= len(codestream):
            at = position + 5 + (2 if components >= 257 else 1)  # Ccoc is 1 or 2 bytes, then Scoc, then SPcoc
            if at < len(codestream):
                levels = codestream[at] if levels is None else min(levels, codestream[at])
        position += 2 + length
    return (siz, levels) if levels is not None else None
