"""Where the elements and frames lie in a stored file, found at store time so a frame is read alone later.

Every element's header is walked (values skipped) so a file cut short or with lengths that run past its
end is refused before it is stored. Uncompressed frames sit at fixed offsets; compressed frames are runs
of fragments, told apart by the (Extended) Basic Offset Table or by each codestream's start marker.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import IO

from pydicom import Dataset
from pydicom.datadict import dictionary_VR
from pydicom.uid import UID

from dicomweb_wire.reasons import PROCESSING_FAILURE, VALIDATION_FAILURE

from .codestream import HEAD_LENGTH, frame_dimensions
from .errors import InstanceFailure, Missing


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


@dataclass
class PixelData:
    """The top-level Pixel Data element as walked: its value, or (encapsulated) its items."""

    offset: int
    length: int | None  # None: undefined length, i.e. encapsulated fragments
    offsets: list[int] = field(default_factory=list)  # Basic Offset Table
    fragments: list[Fragment] = field(default_factory=list)
    fragment_count: int = 0


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
MAX_FRAGMENTS = 200_000  # beyond this, frames are not mapped (the instance is served whole)
MAX_FRAGMENT_ITEMS = 4_000_000  # about 4 s of walking: bounds the store's CPU for a file of empty fragments
MAX_DEPTH = 32  # nested sequences
UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQUENCE_END = (0xFFFE, 0xE000), (0xFFFE, 0xE00D), (0xFFFE, 0xE0DD)
PIXEL_DATA_TAG = (0x7FE0, 0x0010)
VRS = frozenset(
    b"AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV".split()
)
LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ UC UN UR UT SV UV".split())
ENCAPSULATED_END = "inside the encapsulated Pixel Data, before its sequence delimiter"
RESEND = "Send the whole file again; if the sender has it whole, its writer produced a broken file."


def _dictionary_vr(group: int, element: int) -> bytes:
    """The VR an implicit VR element has, as pydicom reads it: from the data dictionary (b"" when unknown)."""
    try:
        return dictionary_VR((group << 16) | element).encode("ascii")
    except KeyError:
        return b""


def cut_short(what: str) -> InstanceFailure:
    return InstanceFailure(PROCESSING_FAILURE, f"The file is cut short or broken: {what}. {RESEND}")


class ElementWalk:
    """Reads element and item headers only, checking each declared length against the bytes received."""

    def __init__(self, file: IO[bytes], size: int, syntax: UID, max_headers: int) -> None:
        self.file, self.size, self.syntax, self.max_headers = file, size, syntax, max_headers
        self.endian = ">" if syntax.is_transfer_syntax and not syntax.is_little_endian else "<"
        self.implicit = syntax.is_transfer_syntax and syntax.is_implicit_VR
        self.headers = 0
        self.pixel_data: PixelData | None = None
        self.rows_columns = [0, 0]  # top-level Rows and Columns, read on the way to compare codestreams with

    @property
    def dimensions(self) -> tuple[int, int] | None:
        rows, columns = self.rows_columns
        return (rows, columns) if rows and columns else None

    def walk(self, start: int) -> PixelData | None:
        """Walk the data set from `start` to the end of the file; the top-level Pixel Data, if any."""
        self.file.seek(start)
        self._data_set(self.size, 0, self.implicit)
        return self.pixel_data

    def _read_header(self, what: str, counted: bool = True) -> bytes:
        """The next 8 header bytes; refused when the file ends inside them."""
        position = self.file.tell()
        header = self.file.read(8)
        self.headers += counted  # pydicom reads these into memory; fragments it skips
        if self.headers > self.max_headers:
            raise InstanceFailure(
                PROCESSING_FAILURE,
                f"The header has more than {self.max_headers:,} elements and items, the most this service reads "
                "(DICOM_MAX_ELEMENTS). Send fewer per-frame attributes, or split the instance.",
            )
        if len(header) < 8:
            raise cut_short(f"it ends at byte {position + len(header)}, {what}")
        return header

    def _item_header(self, what: str, counted: bool = True) -> tuple[tuple[int, int], int]:
        group, element, length = struct.unpack(self.endian + "HHI", self._read_header(what, counted))
        return (group, element), length

    def _end_of(self, tag: str, length: int) -> int:
        value = self.file.tell()
        if value + length > self.size:
            raise cut_short(f"{tag} declares {length} bytes at byte {value}, but only {self.size - value} remain")
        return value + length

    def _skip(self, tag: str, length: int) -> None:
        self.file.seek(self._end_of(tag, length))

    def _data_set(self, end: int | None, depth: int, implicit: bool) -> None:
        """Elements up to `end`, or (end None) up to an item delimiter."""
        while end is None or self.file.tell() < end:
            header = self._read_header("inside an element's header" if end else "inside an item, before its end")
            group, element = struct.unpack(self.endian + "HH", header[:4])
            tag, vr = f"element ({group:04X},{element:04X})", header[4:6]
            if group == 0xFFFE or implicit or vr not in VRS:  # implicit VR, or an item or delimiter
                (length,), vr = struct.unpack(self.endian + "I", header[4:8]), _dictionary_vr(group, element)
                if (group, element) == ITEM_END and end is None:
                    return
            elif vr in LONG_VRS:
                extra = self.file.read(4)
                if len(extra) < 4:
                    raise cut_short(f"it ends inside the header of {tag}")
                (length,) = struct.unpack(self.endian + "I", extra)
            else:
                (length,) = struct.unpack(self.endian + "H", header[6:8])
            if depth == 0 and group == 0x0028 and element in (0x0010, 0x0011) and length == 2:
                value = self.file.read(2)
                self.rows_columns[element - 0x0010] = struct.unpack(self.endian + "H", value.rjust(2, b"\0"))[0]
                self.file.seek(-len(value), 1)
            if depth == 0 and (group, element) == PIXEL_DATA_TAG:
                self._pixel_data(length)
            elif length == UNDEFINED:
                self._sequence(tag, depth + 1, implicit or vr == b"UN", None)
            elif vr == b"SQ":  # pydicom reads its items too, so they are walked and counted
                self._sequence(tag, depth + 1, implicit, self._end_of(tag, length))
            else:
                self._skip(tag, length)

    def _sequence(self, tag: str, depth: int, implicit: bool, end: int | None) -> None:
        """Items up to `end` (a defined length), or (end None) up to the sequence delimiter."""
        if depth > MAX_DEPTH:
            raise InstanceFailure(PROCESSING_FAILURE, f"Sequences are nested more than {MAX_DEPTH} deep.")
        while end is None or self.file.tell() < end:
            item, length = self._item_header(f"inside the sequence {tag}, before its delimiter")
            if item == SEQUENCE_END:
                break
            if item != ITEM:
                raise cut_short(f"the sequence {tag} holds ({item[0]:04X},{item[1]:04X}) where an item should be")
            if length == UNDEFINED:
                self._data_set(None, depth, implicit)
            else:
                item_end = self._end_of(f"an item of {tag}", length)
                self._data_set(item_end, depth, implicit)
                self.file.seek(item_end)
        if end is not None:
            self.file.seek(end)

    def _pixel_data(self, length: int) -> None:
        self.pixel_data = PixelData(self.file.tell(), None if length == UNDEFINED else length)
        if length != UNDEFINED:
            self._skip("Pixel Data (7FE0,0010)", length)
            return
        first_item, padded = None, False
        while True:
            position = self.file.tell()
            item, length = self._item_header(ENCAPSULATED_END, counted=False)
            if item == SEQUENCE_END:
                return
            if item != ITEM and padded:  # pydicom pads an odd-length last fragment's value
                self.file.seek(position + 1)
                padded = False
                continue
            if item != ITEM or length == UNDEFINED:
                found = f"({item[0]:04X},{item[1]:04X})"
                raise cut_short(f"the encapsulated Pixel Data holds {found} where a fragment should be")
            if first_item is None:
                first_item = self.file.tell() + length
                self._offset_table(length)
                continue
            self._fragment(position - first_item, length)
            padded = length % 2 == 1

    def _offset_table(self, length: int) -> None:
        if length > 4 * MAX_FRAGMENTS or length % 4:
            self._skip("the Basic Offset Table", length)
            return
        table = self.file.read(length)
        if len(table) < length:
            raise cut_short(f"the Basic Offset Table declares {length} bytes but the file ends")
        self.pixel_data.offsets = list(struct.unpack(f"<{length // 4}I", table))  # type: ignore[union-attr]

    def _fragment(self, relative: int, length: int) -> None:
        pixel_data = self.pixel_data
        assert pixel_data is not None
        value = self.file.tell()
        number = pixel_data.fragment_count = pixel_data.fragment_count + 1
        if number > MAX_FRAGMENT_ITEMS:
            raise InstanceFailure(PROCESSING_FAILURE, f"Pixel Data has more than {MAX_FRAGMENT_ITEMS:,} fragments.")
        head = self.file.read(min(length, len(JP2_SIGNATURE)))
        starts = _starts_a_frame(head, self.syntax)
        declared = self.dimensions
        if starts and declared is not None:
            head += self.file.read(min(length, HEAD_LENGTH) - len(head))
            found = frame_dimensions(str(self.syntax), head)
            if found is not None and found != declared:
                raise InstanceFailure(
                    VALIDATION_FAILURE,
                    f"Fragment {number} of Pixel Data begins a codestream of {found[0]} rows x {found[1]} columns, "
                    f"but Rows x Columns say {declared[0]} x {declared[1]}. Correct Rows (0028,0010) "
                    "and Columns (0028,0011) or re-encode the frame.",
                )
        if number <= MAX_FRAGMENTS:
            pixel_data.fragments.append(Fragment(relative, value, length, starts))
        self.file.seek(value)
        self._skip(f"fragment {number} of Pixel Data", length)


def _attribute(dataset: Dataset, keyword: str, default: int | None = None) -> int | None:
    try:
        value = dataset.get(keyword)
        return default if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def declared_dimensions(dataset: Dataset) -> tuple[int, int] | None:
    rows, columns = _attribute(dataset, "Rows"), _attribute(dataset, "Columns")
    return (rows, columns) if rows and columns else None


def native_pixel_bits(dataset: Dataset) -> int | None:
    """Rows x Columns x SamplesPerPixel x BitsAllocated x NumberOfFrames, None when not all are usable numbers."""
    factors = [_attribute(dataset, "Rows"), _attribute(dataset, "Columns"), _attribute(dataset, "SamplesPerPixel", 1),
               _attribute(dataset, "BitsAllocated"), _attribute(dataset, "NumberOfFrames", 1)]  # fmt: skip
    bits = 1
    for factor in factors:
        if factor is None or factor < 1:
            return None
        bits *= factor
    return bits


def require_whole_pixel_data(dataset: Dataset, pixel_data: PixelData | None) -> None:
    """Native Pixel Data holds at least what the pixel attributes describe (more is kept as sent: real files,
    such as pydicom-data's MR_small_padded, carry trailing bytes, and frames are read by the declared sizes);
    encapsulated Pixel Data has a fragment for every frame; an image without Pixel Data was cut before it."""
    if pixel_data is None:
        if _other_pixel_data(dataset) or "PixelDataProviderURL" in dataset:
            return
        if declared_dimensions(dataset):
            raise cut_short("Rows and Columns describe an image but the file ends before its Pixel Data (7FE0,0010)")
        if "Image Storage" in UID(str(dataset.get("SOPClassUID", ""))).name:
            raise cut_short("the SOP Class is an image's but the file ends before its Pixel Data (7FE0,0010)")
        return
    if pixel_data.length is None:
        frames = _attribute(dataset, "NumberOfFrames", 1) or 1
        if pixel_data.fragment_count < frames:
            raise cut_short(
                f"NumberOfFrames is {frames} but the encapsulated Pixel Data has {pixel_data.fragment_count} "
                "fragment(s), and each frame needs at least one"
            )
        return
    bits = native_pixel_bits(dataset)
    if bits is None:
        return
    if str(dataset.get("PhotometricInterpretation", "")).strip() == "YBR_FULL_422":
        bits = bits // 3 * 2  # two chroma samples shared by each pair of pixels (PS3.3 C.7.6.3.1.2)
    needed = (bits + 7) // 8
    if pixel_data.length >= needed:
        return
    described = "Rows x Columns x SamplesPerPixel x BitsAllocated x NumberOfFrames"
    raise InstanceFailure(
        VALIDATION_FAILURE,
        f"Pixel Data (7FE0,0010) holds {pixel_data.length} bytes but {described} describe {needed}"
        + ". Correct those attributes to describe the pixels sent, or send all of the pixels they describe.",
    )


def _other_pixel_data(dataset: Dataset) -> bool:
    return "FloatPixelData" in dataset or "DoubleFloatPixelData" in dataset


def native_frame_layout(pixel_data: PixelData | None, dataset: Dataset, syntax: UID) -> FrameLayout | None:
    """Fixed-size frames of whole bytes; None for compressed, deflated or bit-packed multi-frame data."""
    if syntax.is_deflated or syntax.is_encapsulated or not syntax.is_transfer_syntax:
        return None
    if pixel_data is None or pixel_data.length is None:
        return None
    bits, count = native_pixel_bits(dataset), _attribute(dataset, "NumberOfFrames", 1) or 1
    if bits is None or ((bits // count) % 8 and count > 1):
        return None
    frame_length = (bits // count + 7) // 8
    if frame_length * count > pixel_data.length:
        return None
    return FrameLayout(pixel_data.offset, frame_length, count)


def encapsulated_layout(pixel_data: PixelData | None, dataset: Dataset, syntax: UID) -> EncapsulatedLayout | None:
    """Map the walked fragments to frames; None when they cannot be told apart (served by decoding it whole)."""
    if not syntax.is_encapsulated or syntax.is_deflated or pixel_data is None or pixel_data.length is not None:
        return None
    if pixel_data.fragment_count > MAX_FRAGMENTS:
        return None
    offsets = pixel_data.offsets
    extended = dataset.get("ExtendedOffsetTable")
    if extended and not offsets:
        offsets = list(struct.unpack(f"<{len(extended) // 8}Q", extended))
    count = _attribute(dataset, "NumberOfFrames", 1) or 1
    frames = frames_from_fragments(pixel_data.fragments, offsets, count)
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
