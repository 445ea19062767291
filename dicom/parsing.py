"""Reading an uploaded DICOM file's header (never its pixel data) into what the archive keeps of it."""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO

import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.filereader import read_dataset
from pydicom.tag import BaseTag
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from dicomweb_wire.multipart import new_spool
from dicomweb_wire.reasons import PROCESSING_FAILURE, SOP_CLASS_MISMATCH, VALIDATION_FAILURE
from dicomweb_wire.uids import clean_uid

from .dicom_json import BULK_DATA_TOKEN, dataset_to_json
from .errors import InstanceFailure
from .layout import (
    LONG_VRS,
    VRS,
    ElementWalk,
    EncapsulatedLayout,
    FrameLayout,
    PixelData,
    cut_short,
    encapsulated_layout,
    native_frame_layout,
    require_whole_pixel_data,
)
from .validation import invalid_searchable_values, require_patient_id, required_uids
from .values import DicomJson, whole_number

PREAMBLE_LENGTH = 128
PIXEL_DATA = "7FE00010"
# A deflated data set is inflated in steps to a spool (memory up to a limit, then disk), never whole in memory;
# this caps what one file may inflate to, whatever its compressed size. The same setting and default bound
# what a retrieve converting it may inflate (dicom.pixels.inflate holds it in memory): store nothing larger.
DEFAULT_MAX_INFLATED_BYTES = 128 * 1024 * 1024
# pydicom holds every header element in memory (about 1 KiB each with its DICOM JSON): this bounds a header's
# memory to a few hundred MiB (an enhanced multi-frame's per-frame attributes take some 20 per frame).
DEFAULT_MAX_ELEMENTS = 300_000
INFLATE_STEP = 1024 * 1024


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
    """Walk every element header first (cheap, and refuses files cut short), then let pydicom read the header."""
    meta_end, transfer_syntax = file_meta_end(file)
    if not transfer_syntax:
        raise InstanceFailure(VALIDATION_FAILURE, "The file meta information has no TransferSyntaxUID (0002,0010).")
    syntax = UID(transfer_syntax)
    if syntax == DeflatedExplicitVRLittleEndian:
        with inflated(file, meta_end, max_inflated_bytes()) as body:
            pixel_data = ElementWalk(body, body.seek(0, 2), syntax, max_elements()).walk(0)
            return _parsed(_read_inflated(file, body), syntax, pixel_data, size)
    pixel_data = ElementWalk(file, size, syntax, max_elements()).walk(meta_end)
    file.seek(0)
    dataset = pydicom.dcmread(file, stop_before_pixels=True, defer_size=4096)
    return _parsed(dataset, syntax, pixel_data, size)


def _parsed(dataset: FileDataset, syntax: UID, pixel_data: PixelData | None, size: int) -> ParsedInstance:
    """What the archive keeps of a header whose every element is known to be whole."""
    transfer_syntax = str(syntax)
    meta = dataset.file_meta
    require_whole_pixel_data(dataset, pixel_data)
    frames = native_frame_layout(pixel_data, dataset, syntax)
    encapsulated = encapsulated_layout(pixel_data, dataset, syntax)
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


def max_inflated_bytes() -> int:
    return _setting("DICOM_MAX_INFLATED_BYTES", DEFAULT_MAX_INFLATED_BYTES)


def max_elements() -> int:
    return _setting("DICOM_MAX_ELEMENTS", DEFAULT_MAX_ELEMENTS)


def _setting(name: str, default: int) -> int:
    """A limit from the environment; the default also for a value that is not a positive whole number."""
    return whole_number(os.environ.get(name, "").strip(), max_digits=15) or default


def file_meta_end(file: IO[bytes]) -> tuple[int, str]:
    """Where the file meta group (always explicit VR little endian) ends, and its TransferSyntaxUID."""
    file.seek(PREAMBLE_LENGTH + 4)
    syntax = ""
    while True:
        position = file.tell()
        header = file.read(8)
        if len(header) < 8 or header[:2] != b"\x02\x00":
            return position, syntax
        element, vr = struct.unpack("<H", header[2:4])[0], header[4:6]
        if vr not in VRS:
            (length,) = struct.unpack("<I", header[4:8])
        elif vr in LONG_VRS:
            (length,) = struct.unpack("<I", file.read(4).rjust(4, b"\0"))
        else:
            (length,) = struct.unpack("<H", header[6:8])
        if element == 0x0010 and length <= 128:
            syntax = file.read(length).rstrip(b"\0 ").decode("ascii", "replace")
        else:
            file.seek(file.tell() + length)


@contextmanager
def inflated(file: IO[bytes], start: int, limit: int) -> Iterator[IO[bytes]]:
    """The data set deflated from `start`, inflated in bounded steps into a spool; refused past `limit` bytes."""
    file.seek(start)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    body = new_spool()
    total = 0
    try:
        while not inflater.eof:
            compressed = inflater.unconsumed_tail or file.read(INFLATE_STEP)
            data = inflater.decompress(compressed, INFLATE_STEP)
            if not compressed and not data:
                raise cut_short(f"the deflated data set ends after {total} inflated bytes, before its deflate stream")
            total += len(data)
            if total > limit:
                raise InstanceFailure(
                    PROCESSING_FAILURE,
                    f"The deflated data set inflates to more than {limit:,} bytes, the most this service accepts "
                    "(DICOM_MAX_INFLATED_BYTES). Send it in Explicit VR Little Endian, or with compressed pixel data.",
                )
            body.write(data)
        yield body
    except zlib.error as error:
        message = f"The deflated data set is not valid deflate data ({error})."
        raise InstanceFailure(PROCESSING_FAILURE, message) from None
    finally:
        body.close()


def _before(last: int) -> Callable[[BaseTag, str | None, int], bool]:
    """pydicom's stop condition: stop at the first tag after `last`."""

    def stop_when(tag: BaseTag, vr: str | None, length: int) -> bool:
        return tag > last

    return stop_when


def _read_inflated(file: IO[bytes], body: IO[bytes]) -> FileDataset:
    """The header of an inflated data set, as pydicom's dcmread would read it (values over 4 KiB deferred)."""
    file.seek(PREAMBLE_LENGTH + 4)
    meta = FileMetaDataset(read_dataset(file, False, True, stop_when=_before(0x0002FFFF), defer_size=4096))
    body.seek(0)
    header = read_dataset(body, False, True, stop_when=_before(0x7FE00007), defer_size=4096)
    return FileDataset(body, header, bytes(PREAMBLE_LENGTH), meta, False, True)


IDENTITY_INFLATE_LIMIT = 1024 * 1024


def instance_identity(file: IO[bytes]) -> tuple[str | None, str | None]:
    """SOP Class and Instance UIDs of a refused file, for its failure item: reads the header only up to them,
    and inflates at most 1 MiB of a deflated one (so a deflate bomb refused by parse_instance stays refused)."""
    try:
        meta_end, declared = file_meta_end(file)
        syntax = UID(declared)
        explicit_le = declared == DeflatedExplicitVRLittleEndian or not syntax.is_transfer_syntax
        implicit, little = (False, True) if explicit_le else (syntax.is_implicit_VR, syntax.is_little_endian)
        source = _identity_source(file, meta_end, declared)
        header = read_dataset(source, implicit, little, stop_when=_before(0x00080018), defer_size=256)
        return str(header.get("SOPClassUID", "")) or None, str(header.get("SOPInstanceUID", "")) or None
    except Exception:
        return None, None


def _identity_source(file: IO[bytes], meta_end: int, declared: str) -> IO[bytes]:
    file.seek(meta_end)
    if declared != DeflatedExplicitVRLittleEndian:
        return file
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    return io.BytesIO(inflater.decompress(file.read(IDENTITY_INFLATE_LIMIT), IDENTITY_INFLATE_LIMIT))
