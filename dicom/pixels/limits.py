"""What one request may decode, checked before any decoder runs.

A codestream of a few hundred bytes can announce gigapixels, and a stored file may be cut short or declare
Rows/Columns its pixel data does not hold; decoders then allocate the announced size or fail deep inside.
Every decode on retrieve goes through these checks, so such data answers 406 with a reason, never a 500,
and never costs more memory than DICOM_MAX_DECODE_PIXELS allows.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager

from ..codestream import HEAD_LENGTH, frame_dimensions
from ..errors import ArchiveError, CannotProvide
from ..values import whole_number

MAX_DECODE_SETTING = "DICOM_MAX_DECODE_PIXELS"
# 4096 x 4096 grey pixels (a mammogram fits; colour counts each sample, so 2364 x 2364 RGB). At its peak a
# decode costs 6 to 12 bytes per value (the codec's 32-bit working buffer, its output, colour conversion, the
# 8-bit display image): measured, 99 MiB for a 4096 x 4096 grey render, 196 MiB for 2364 x 2364 colour, well
# inside a 2 GB Functions instance that serves a few requests at once.
DEFAULT_MAX_DECODE_PIXELS = 4096 * 4096
_STORED_FORMS = (
    'frames with Accept: multipart/related; type="application/octet-stream"; transfer-syntax=*, or the instance '
    'with Accept: multipart/related; type="application/dicom"; transfer-syntax=*.'
)
AS_STORED = "Ask for the data as stored instead: " + _STORED_FORMS
DAMAGED = "The stored instance is damaged or cut short; store it again, whole."
_JP2_CODESTREAM_BOX = b"jp2c"
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  "


def max_decode_pixels() -> int:
    """The setting, or its default when unset or not a positive whole number."""
    return whole_number(os.environ.get(MAX_DECODE_SETTING, "").strip(), max_digits=15) or DEFAULT_MAX_DECODE_PIXELS


def require_decodable(rows: int, columns: int, samples: int = 1, frames: int = 1) -> None:
    """Refuse a decode (or JPEG 2000 encode) whose pixel values, colour counting each sample, exceed the cap."""
    values = rows * columns * samples * frames
    limit = max_decode_pixels()
    if values > limit:
        what = f"{frames} frames of {rows} x {columns} pixels" if frames > 1 else f"{rows} x {columns} pixels"
        colour = f" x {samples} samples" if samples > 1 else ""
        raise CannotProvide(
            f"This needs {what}{colour} ({values} values) decoded in memory, more than this service decodes in "
            f"one request ({limit}, setting {MAX_DECODE_SETTING}). Thumbnails of JPEG 2000 and 8-bit JPEG images "
            "are decoded at reduced resolution and stay under it; otherwise ask for the data as stored: "
            + _STORED_FORMS
        )


def require_codestream_fits(syntax: str, frame_data: bytes, rows: int, columns: int, frame: int) -> None:
    """A compressed frame whose header announces other dimensions than Rows/Columns is never decoded."""
    announced = [frame_dimensions(syntax, frame_data[:HEAD_LENGTH])]
    box = frame_data.find(_JP2_CODESTREAM_BOX, 0, HEAD_LENGTH) if frame_data.startswith(_JP2_SIGNATURE) else -1
    if box >= 0:  # JP2: the codestream's own SIZ counts too, whatever its header box says
        announced.append(frame_dimensions(syntax, frame_data[box + 4 : box + 4 + HEAD_LENGTH]))
    for dimensions in announced:
        if dimensions is not None and dimensions != (rows, columns):
            raise CannotProvide(
                f"Frame {frame}'s codestream announces {dimensions[0]} x {dimensions[1]} pixels but the instance's "
                f"Rows x Columns are {rows} x {columns}; such a frame is not decoded. {DAMAGED} " + AS_STORED
            )


def native_length(rows: int, columns: int, samples: int, bits_allocated: int, frames: int = 1) -> int:
    """Bytes of uncompressed pixel data (1-bit samples packed across frame boundaries)."""
    return (rows * columns * samples * bits_allocated * frames + 7) // 8


def require_native_length(actual: int, expected: int) -> None:
    """Uncompressed Pixel Data holds at least what Rows x Columns x Samples x Bits x Frames declare: shorter is
    cut short, or those attributes claim more than was stored. Longer is served by the declared sizes, as
    pydicom reads it and the store keeps it (real files carry trailing bytes)."""
    if actual < expected:
        raise CannotProvide(
            f"The instance's Pixel Data holds {actual} bytes, fewer than the {expected} its Rows, Columns, Bits "
            f"Allocated and Number of Frames declare. {DAMAGED}"
        )


def require_whole(held: int, expected: int, frame: int) -> None:
    """A frame read from storage is as long as its recorded range; less means the stored file is cut short."""
    if held < expected:
        raise CannotProvide(
            f"Frame {frame} is cut short: the stored file holds {held} of its {expected} bytes. {DAMAGED}"
        )


def declared_length(value_header: bytes, big_endian: bool) -> int:
    """The Pixel Data value length from the last 4 bytes of its element header."""
    (length,) = struct.unpack(">I" if big_endian else "<I", value_header[-4:])
    return length


@contextmanager
def decoding(frame: int | None = None) -> Iterator[None]:
    """A decoder's failure on stored bytes (corrupt, cut short) becomes a 406 with a reason, not a 500."""
    try:
        yield
    except ArchiveError:
        raise
    except Exception as error:  # codecs raise anything from ValueError to RuntimeError
        which = f"Frame {frame}" if frame else "The instance's pixel data"
        raise CannotProvide(f"{which} could not be decoded ({type(error).__name__}). {DAMAGED} " + AS_STORED) from error
