"""Reading an uploaded DICOM file's header: validation, metadata and frame layout, without pixel data."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

import pydicom
from pydicom import Dataset
from pydicom.uid import UID

from .dicom_json import ATTRIBUTES, BULK_DATA_TOKEN, DicomJson, dataset_to_json
from .uids import clean_uid, is_valid_uid

PREAMBLE_LENGTH = 128
PIXEL_DATA = "7FE00010"

# Failure reasons of PS3.18 / the reference service.
PROCESSING_FAILURE = 272
VALIDATION_FAILURE = 43264
STUDY_MISMATCH = 43265
ALREADY_EXISTS = 45070
STORED_CONCURRENTLY = 45071  # POST: another request stored the same instance meanwhile
# Warning reasons.
VALIDATION_WARNING = 1  # v2: invalid searchable values were left out of index and metadata
SOP_CLASS_MISMATCH = 45063


class InstanceFailure(Exception):
    """One instance of a store request cannot be stored; the others may be."""

    def __init__(self, reason: int, comment: str) -> None:
        super().__init__(comment)
        self.reason = reason
        self.comment = comment


@dataclass(frozen=True)
class FrameLayout:
    """Where uncompressed frames lie in the stored file, so one frame is one ranged read."""

    offset: int
    length: int
    count: int

    def byte_range(self, frame: int) -> tuple[int, int]:
        return self.offset + (frame - 1) * self.length, self.length


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


@dataclass
class ParsedInstance:
    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    transfer_syntax: str
    metadata: DicomJson
    frames: FrameLayout | None
    size: int
    encapsulated: EncapsulatedLayout | None = None
    bulk: dict[str, tuple[int, int]] = field(default_factory=dict)
    warnings: list[int] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


def zero_preamble(file: IO[bytes]) -> None:
    """The preamble is replaced by zeros (it can carry executable content); the rest is kept byte for byte."""
    file.seek(0)
    head = file.read(PREAMBLE_LENGTH + 4)
    if len(head) < PREAMBLE_LENGTH + 4 or head[PREAMBLE_LENGTH:] != b"DICM":
        raise InstanceFailure(
            PROCESSING_FAILURE,
            "Not a DICOM Part 10 file: the 'DICM' prefix is missing at byte 128. "
            "Send files with their 128-byte preamble and file meta information.",
        )
    file.seek(0)
    file.write(bytes(PREAMBLE_LENGTH))
    file.seek(0)


def parse_instance(file: IO[bytes], size: int, api_version: str, study_in_path: str | None) -> ParsedInstance:
    """Read the header (never the pixel data); any way the user's bytes break the parser is their 272."""
    zero_preamble(file)
    try:
        return _parse(file, size, api_version, study_in_path)
    except InstanceFailure:
        raise
    except Exception as error:
        message = str(error)[:300] or type(error).__name__
        raise InstanceFailure(PROCESSING_FAILURE, f"The DICOM file cannot be read: {message}") from error


def _parse(file: IO[bytes], size: int, api_version: str, study_in_path: str | None) -> ParsedInstance:
    dataset = pydicom.dcmread(file, stop_before_pixels=True, defer_size=4096)
    meta = getattr(dataset, "file_meta", None)
    transfer_syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if not transfer_syntax:
        raise InstanceFailure(VALIDATION_FAILURE, "The file meta information has no TransferSyntaxUID (0002,0010).")
    pixel_data_at = file.tell()
    frames = _native_frame_layout(file, dataset, UID(transfer_syntax))
    file.seek(pixel_data_at)
    encapsulated = _encapsulated_layout(file, dataset, UID(transfer_syntax))
    uids = _required_uids(dataset)
    _check_patient_id(dataset, api_version)
    if study_in_path is not None and uids["StudyInstanceUID"] != study_in_path:
        raise InstanceFailure(
            STUDY_MISMATCH,
            f"StudyInstanceUID {uids['StudyInstanceUID']} does not match the study in the request path "
            f"({study_in_path}); reason 43265.",
        )
    # A deflated file's positions are those of the inflated stream, so no ranged reads into it.
    bulk: dict[str, tuple[int, int]] | None = None if UID(transfer_syntax).is_deflated else {}
    metadata = dataset_to_json(dataset, bulk, little_endian=UID(transfer_syntax).is_little_endian)
    if frames is not None and bulk is not None:  # native pixel data: its whole value is bulk data too
        bulk[PIXEL_DATA] = (frames.offset, frames.length * frames.count)
        metadata[PIXEL_DATA] = {"vr": "OB" if int(dataset.BitsAllocated) <= 8 else "OW",
                                "BulkDataURI": BULK_DATA_TOKEN + PIXEL_DATA}  # fmt: skip
    warnings, comments = [], []
    problems = invalid_searchable_values(metadata)
    if problems and api_version == "v1":
        raise InstanceFailure(VALIDATION_FAILURE, "; ".join(problem for _, problem in problems))
    if problems:  # v2 keeps the file as sent but leaves the invalid values out of the index and metadata
        for tag, problem in problems:
            metadata.pop(tag, None)
            comments.append(problem)
        warnings.append(VALIDATION_WARNING)
    meta_class = clean_uid(str(meta.get("MediaStorageSOPClassUID", "") or ""))
    if meta_class and meta_class != uids["SOPClassUID"]:
        warnings.append(SOP_CLASS_MISMATCH)
        comments.append(
            f"The file meta's MediaStorageSOPClassUID {meta_class} does not match SOPClassUID {uids['SOPClassUID']}."
        )
    return ParsedInstance(
        study_uid=uids["StudyInstanceUID"],
        series_uid=uids["SeriesInstanceUID"],
        sop_uid=uids["SOPInstanceUID"],
        sop_class_uid=uids["SOPClassUID"],
        transfer_syntax=transfer_syntax,
        metadata=metadata,
        frames=frames,
        size=size,
        encapsulated=encapsulated,
        bulk=bulk or {},
        warnings=warnings,
        comments=comments,
    )


def _required_uids(dataset: Dataset) -> dict[str, str]:
    uids = {}
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"):
        value = clean_uid(str(dataset.get(keyword, "") or ""))
        if not value:
            raise InstanceFailure(VALIDATION_FAILURE, f"The required attribute {keyword} is missing or empty.")
        if not is_valid_uid(value):
            raise InstanceFailure(
                VALIDATION_FAILURE,
                f"{keyword} '{value[:80]}' is not a valid UID (digits and dots, ending in a digit, at most 64).",
            )
        uids[keyword] = value
    return uids


def _check_patient_id(dataset: Dataset, api_version: str) -> None:
    if "PatientID" not in dataset:
        raise InstanceFailure(VALIDATION_FAILURE, "The required attribute PatientID (0010,0020) is missing.")
    if api_version == "v1" and not str(dataset.PatientID or "").strip():
        raise InstanceFailure(
            VALIDATION_FAILURE, "PatientID (0010,0020) is empty; API v1 requires a value (v2 accepts it empty)."
        )


def _native_frame_layout(file: IO[bytes], dataset: Dataset, syntax: UID) -> FrameLayout | None:
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


_VALUE_RULES: dict[str, tuple[int, re.Pattern[str]]] = {
    "DA": (8, re.compile(r"^\d{8}$")),
    "TM": (16, re.compile(r"^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$")),
    "DT": (26, re.compile(r"^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?([+-]\d{4})?$")),
    "CS": (16, re.compile(r"^[A-Z0-9 _]*$")),
    "SH": (16, re.compile(r"^[^\\\x00-\x1f]*$")),
    "LO": (64, re.compile(r"^[^\\\x00-\x1f]*$")),
    "PN": (64, re.compile(r"^[^\\\x00-\x1f]*$")),  # per component group
    "IS": (12, re.compile(r"^ *[+-]?\d+ *$")),
}


def invalid_searchable_values(metadata: DicomJson) -> list[tuple[str, str]]:
    """(tag, problem) for each searchable attribute whose value breaks its VR (PS3.5 6.2)."""
    problems = []
    for attribute in ATTRIBUTES:
        element = metadata.get(attribute.tag)
        if not attribute.searchable or attribute.computed or not element:
            continue
        for value in element.get("Value") or []:
            problem = _value_problem(attribute.vr, value)
            if problem:
                tag = f"({attribute.tag[:4]},{attribute.tag[4:]})"
                problems.append((attribute.tag, f"{attribute.keyword} {tag}: {problem}"))
                break
    return problems


def _value_problem(vr: str, value: object) -> str | None:
    if vr == "UI":
        return None if is_valid_uid(str(value)) else f"'{str(value)[:80]}' is not a valid UID"
    texts = [v for v in value.values() if isinstance(v, str)] if isinstance(value, dict) else [str(value)]
    limit, pattern = _VALUE_RULES.get(vr, (0, None))
    for text in texts:
        if pattern is None:
            return None
        if len(text) > limit:
            return f"'{text[:80]}' is longer than the {limit} characters {vr} allows"
        if not pattern.match(text):
            return f"'{text[:80]}' is not a valid {vr} value"
        if vr == "DA" and not _real_date(text):
            return f"'{text}' is not a real date"
    return None


def _real_date(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y%m%d")
    except ValueError:
        return False
    return True


def _encapsulated_layout(file: IO[bytes], dataset: Dataset, syntax: UID) -> EncapsulatedLayout | None:
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
