"""Reading an uploaded DICOM file's header (never its pixel data) into what the archive keeps of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO

import pydicom
from pydicom.uid import UID

from dicomweb_wire.reasons import PROCESSING_FAILURE, SOP_CLASS_MISMATCH, VALIDATION_FAILURE
from dicomweb_wire.uids import clean_uid

from .dicom_json import BULK_DATA_TOKEN, dataset_to_json
from .errors import InstanceFailure
from .layout import EncapsulatedLayout, FrameLayout, encapsulated_layout, native_frame_layout
from .validation import invalid_searchable_values, require_patient_id, required_uids
from .values import DicomJson

PREAMBLE_LENGTH = 128
PIXEL_DATA = "7FE00010"


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
    patient_id_empty: bool = False
    invalid_values: list[tuple[str, str]] = field(default_factory=list)  # (tag, problem) of searchable values
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


def parse_instance(file: IO[bytes], size: int) -> ParsedInstance:
    """Read the header (never the pixel data); any way the user's bytes break the parser is their 272."""
    zero_preamble(file)
    try:
        return _parse(file, size)
    except InstanceFailure:
        raise
    except Exception as error:
        message = str(error)[:300] or type(error).__name__
        raise InstanceFailure(PROCESSING_FAILURE, f"The DICOM file cannot be read: {message}") from error


def _parse(file: IO[bytes], size: int) -> ParsedInstance:
    dataset = pydicom.dcmread(file, stop_before_pixels=True, defer_size=4096)
    meta = getattr(dataset, "file_meta", None)
    transfer_syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if not transfer_syntax:
        raise InstanceFailure(VALIDATION_FAILURE, "The file meta information has no TransferSyntaxUID (0002,0010).")
    syntax = UID(transfer_syntax)
    pixel_data_at = file.tell()
    frames = native_frame_layout(file, dataset, syntax)
    file.seek(pixel_data_at)
    encapsulated = encapsulated_layout(file, dataset, syntax)
    uids = required_uids(dataset)
    require_patient_id(dataset)
    # A deflated file's positions are those of the inflated stream, so no ranged reads into it.
    bulk: dict[str, tuple[int, int]] | None = None if syntax.is_deflated else {}
    metadata = dataset_to_json(dataset, bulk, little_endian=syntax.is_little_endian)
    if frames is not None and bulk is not None:  # native pixel data: its whole value is bulk data too
        bulk[PIXEL_DATA] = (frames.offset, frames.length * frames.count)
        metadata[PIXEL_DATA] = {"vr": "OB" if int(dataset.BitsAllocated) <= 8 else "OW",
                                "BulkDataURI": BULK_DATA_TOKEN + PIXEL_DATA}  # fmt: skip
    parsed = ParsedInstance(
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
        patient_id_empty=not str(dataset.PatientID or "").strip(),
        invalid_values=invalid_searchable_values(metadata),
    )
    meta_class = clean_uid(str(meta.get("MediaStorageSOPClassUID", "") or ""))
    if meta_class and meta_class != parsed.sop_class_uid:
        parsed.warnings.append(SOP_CLASS_MISMATCH)
        parsed.comments.append(
            f"The file meta's MediaStorageSOPClassUID {meta_class} does not match SOPClassUID {parsed.sop_class_uid}."
        )
    return parsed
