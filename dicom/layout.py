"""Where the frames lie in a stored file, found at store time so a frame is read alone later.

Uncompressed frames sit at fixed offsets; compressed frames are runs of fragments, told apart by the
(Extended) Basic Offset Table or by each codestream's start marker.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO

from pydicom import Dataset
from pydicom.uid import UID

from .errors import Missing


@dataclass(frozen=True)
class FrameLayout:
    """Where uncompressed frames lie in the stored file, so one frame is one ranged read."""

    offset: int
    length: int
    count: int

    def byte_range(self, frame: int) -> tuple[int, int]:
        return self.offset + (frame - 1) * self.length, self.length


def require_frames(numbers: list[int], count: int) -> None:
    """Frame numbers count from 1; asking beyond the last frame is asking for something missing."""
    beyond = [number for number in numbers if number > count]
    if beyond:
        raise Missing(f"Frame {beyond[0]} does not exist: the instance has {count} frame(s).")


@dataclass(frozen=True)
class EncapsulatedLayout:
    """Byte ranges of each frame's fragments in the stored file, plus what a decoder needs for one frame."""

    frames: list[list[tuple[int, int]]]
    pixel_module: dict[str, object]


@dataclass(frozen=True)
class Fragment:
    relative: int  # item start relative to the first fragment's item, as offset tables count
    offset: int  # value start in the file
    length: int
    starts_frame: bool  # begins with a codestream's start marker


JPEG_SOI = b"\xff\xd8"
J2K_SOC_SIZ = b"\xff\x4f\xff\x51"
JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  "


def _starts_a_frame(head: bytes, syntax: UID) -> bool:
    if syntax.startswith(("1.2.840.10008.1.2.4.9", "1.2.840.10008.1.2.4.20")):
        return head.startswith((J2K_SOC_SIZ, JP2_SIGNATURE))
    return syntax.startswith("1.2.840.10008.1.2.4.") and head.startswith(JPEG_SOI)


PIXEL_MODULE = {
    "rows": "Rows", "columns": "Columns", "samples_per_pixel": "SamplesPerPixel", "bits_allocated": "BitsAllocated",
    "bits_stored": "BitsStored", "pixel_representation": "PixelRepresentation",
    "photometric_interpretation": "PhotometricInterpretation", "planar_configuration": "PlanarConfiguration",
}  # fmt: skip
MAX_FRAGMENTS = 200_000


def native_frame_layout(file: IO[bytes], dataset: Dataset, syntax: UID) -> FrameLayout | None:
    """Read the Pixel Data element header where pydicom stopped; None for compressed or odd layouts."""
    if syntax.is_deflated or syntax.is_encapsulated or not syntax.is_transfer_syntax:
        return None
    position = file.tell()
    header = file.read(12)
    if len(header) < 8:
        return None
    endian = "<" if syntax.is_little_endian else ">"
    group, element = struct.unpack(endian + "HH", header[:4])
    if (group, element) != (0x7FE0, 0x0010):
        return None
    if syntax.is_implicit_VR:
        (length,) = struct.unpack(endian + "I", header[4:8])
        value_offset = position + 8
    elif header[4:6] in (b"OB", b"OW", b"UN", b"OD", b"OF", b"OL", b"OV", b"UT", b"SQ"):
        (length,) = struct.unpack(endian + "I", header[8:12])
        value_offset = position + 12
    else:
        (length,) = struct.unpack(endian + "H", header[6:8])
        value_offset = position + 8
    if length == 0xFFFFFFFF:
        return None
    try:
        count = int(dataset.get("NumberOfFrames") or 1)
        bits = int(dataset.Rows) * int(dataset.Columns) * int(dataset.get("SamplesPerPixel") or 1)
        bits *= int(dataset.BitsAllocated)
    except (AttributeError, TypeError, ValueError):
        return None
    if count < 1 or bits <= 0 or (bits % 8 and count > 1):
        return None
    frame_length = (bits + 7) // 8
    if frame_length * count > length:
        return None
    return FrameLayout(value_offset, frame_length, count)


def encapsulated_layout(file: IO[bytes], dataset: Dataset, syntax: UID) -> EncapsulatedLayout | None:
    """Walk the fragment item headers (8 bytes each, values skipped) and map fragments to frames."""
    if not syntax.is_encapsulated or syntax.is_deflated:
        return None
    header = file.read(12)
    if len(header) < 12 or header[:4] != b"\xe0\x7f\x10\x00" or header[8:12] != b"\xff\xff\xff\xff":
        return None
    item = file.read(8)
    if len(item) < 8 or item[:4] != b"\xfe\xff\x00\xe0":
        return None
    (table_length,) = struct.unpack("<I", item[4:8])
    table = file.read(table_length)
    offsets = list(struct.unpack(f"<{table_length // 4}I", table)) if table_length else []
    first_item = file.tell()
    fragments: list[Fragment] = []
    while len(fragments) < MAX_FRAGMENTS:
        position = file.tell()
        item = file.read(8)
        if len(item) < 8 or item[:4] == b"\xfe\xff\xdd\xe0":
            break
        if item[:4] != b"\xfe\xff\x00\xe0":
            return None
        (length,) = struct.unpack("<I", item[4:8])
        head = file.read(min(length, len(JP2_SIGNATURE)))
        fragments.append(Fragment(position - first_item, position + 8, length, _starts_a_frame(head, syntax)))
        file.seek(length - len(head), 1)
    extended = dataset.get("ExtendedOffsetTable")
    if extended and not offsets:
        offsets = list(struct.unpack(f"<{len(extended) // 8}Q", extended))
    count = int(dataset.get("NumberOfFrames") or 1)
    frames = frames_from_fragments(fragments, offsets, count)
    if frames is None:
        return None
    return EncapsulatedLayout(frames, pixel_module(dataset))


def pixel_module(dataset: Dataset) -> dict[str, object]:
    """What a pixel decoder or encoder needs to know of a frame, in pydicom's argument names."""
    module = {name: dataset.get(keyword) for name, keyword in PIXEL_MODULE.items() if keyword in dataset}
    return {
        name: (str(value) if name == "photometric_interpretation" else int(value)) for name, value in module.items()
    }


def frames_from_fragments(
    fragments: list[Fragment], offsets: list[int], count: int
) -> list[list[tuple[int, int]]] | None:
    """Frame boundaries from the (Extended) Basic Offset Table, else from where each frame's codestream begins."""
    ranges = [(f.offset, f.length) for f in fragments]
    starts = {f.relative: index for index, f in enumerate(fragments)}
    if offsets and len(offsets) == count and all(offset in starts for offset in offsets):
        bounds = [starts[offset] for offset in offsets]
    elif len(fragments) == count:
        bounds = list(range(count))
    elif count == 1 and fragments:
        bounds = [0]
    else:
        # A JPEG or JPEG 2000 codestream cannot contain its own start marker, so a fragment that begins
        # with one begins a frame (pydicom assumes so too); RLE frames are one fragment each.
        bounds = [index for index, f in enumerate(fragments) if f.starts_frame]
        if len(bounds) != count or bounds[0] != 0:
            return None  # frames not recognisable: served by decoding the whole instance
    bounds.append(len(fragments))
    return [ranges[bounds[i] : bounds[i + 1]] for i in range(count)]
