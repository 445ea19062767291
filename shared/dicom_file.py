"""Reading an uploaded DICOM file's header: validation, metadata and frame layout, without pixel data."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO

import pydicom
from pydicom import Dataset
from pydicom.uid import UID

from .dicom_json import DicomJson, dataset_to_json
from .uids import clean_uid, is_valid_uid

PREAMBLE_LENGTH = 128

# Failure reasons of PS3.18 / the reference service.
PROCESSING_FAILURE = 272
VALIDATION_FAILURE = 43264
STUDY_MISMATCH = 43265
ALREADY_EXISTS = 45070
BEING_CREATED = 45071


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
    zero_preamble(file)
    try:
        dataset = pydicom.dcmread(file, stop_before_pixels=True, defer_size=4096)
    except Exception as error:
        raise InstanceFailure(PROCESSING_FAILURE, f"The DICOM file cannot be read: {error}") from error
    meta = getattr(dataset, "file_meta", None)
    transfer_syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if not transfer_syntax:
        raise InstanceFailure(VALIDATION_FAILURE, "The file meta information has no TransferSyntaxUID (0002,0010).")
    frames = _native_frame_layout(file, dataset, UID(transfer_syntax))
    uids = _required_uids(dataset)
    _check_patient_id(dataset, api_version)
    if study_in_path is not None and uids["StudyInstanceUID"] != study_in_path:
        raise InstanceFailure(
            STUDY_MISMATCH,
            f"StudyInstanceUID {uids['StudyInstanceUID']} does not match the study in the request path "
            f"({study_in_path}); reason 43265.",
        )
    metadata = dataset_to_json(dataset)
    return ParsedInstance(
        study_uid=uids["StudyInstanceUID"],
        series_uid=uids["SeriesInstanceUID"],
        sop_uid=uids["SOPInstanceUID"],
        sop_class_uid=uids["SOPClassUID"],
        transfer_syntax=transfer_syntax,
        metadata=metadata,
        frames=frames,
        size=size,
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
