"""DICOM JSON (PS3.18 F.2): turning headers into metadata, and the attributes QIDO knows per level."""

from __future__ import annotations

import base64
import unicodedata
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from pydicom import Dataset
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement

# Values of these VRs are bulk data: in metadata as BulkDataURI or InlineBinary, never read whole.
BULK_DATA_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})

DicomJson = dict[str, dict[str, Any]]


class Level(IntEnum):
    STUDY = 1
    SERIES = 2
    INSTANCE = 3


@dataclass(frozen=True)
class Attribute:
    keyword: str
    level: Level
    searchable: bool = False
    default: bool = False  # returned without includefield in v2
    computed: bool = False  # derived from the archive, not from any one file
    indexed: bool = True  # searchable ones: has pointer rows; if not, it only filters what others found

    @property
    def tag(self) -> str:
        return f"{tag_for_keyword(self.keyword):08X}"

    @property
    def vr(self) -> str:
        return dictionary_VR(tag_for_keyword(self.keyword))


_S, _R, _I = Level.STUDY, Level.SERIES, Level.INSTANCE
ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("StudyInstanceUID", _S, searchable=True, default=True),
    Attribute("PatientName", _S, searchable=True, default=True),
    Attribute("PatientID", _S, searchable=True, default=True),
    Attribute("PatientBirthDate", _S, searchable=True, default=True),
    Attribute("AccessionNumber", _S, searchable=True, default=True),
    Attribute("ReferringPhysicianName", _S, searchable=True, default=True),
    Attribute("StudyDate", _S, searchable=True, default=True),
    Attribute("StudyDescription", _S, searchable=True, default=True),
    Attribute("ModalitiesInStudy", _S, searchable=True, computed=True),
    Attribute("SpecificCharacterSet", _S),
    Attribute("StudyTime", _S, searchable=True),
    Attribute("PatientSex", _S),
    Attribute("StudyID", _S),
    Attribute("NumberOfStudyRelatedSeries", _S, computed=True),
    Attribute("NumberOfStudyRelatedInstances", _S, computed=True),
    Attribute("SeriesInstanceUID", _R, searchable=True, default=True),
    Attribute("Modality", _R, searchable=True, default=True),
    Attribute("PerformedProcedureStepStartDate", _R, searchable=True, default=True),
    Attribute("ManufacturerModelName", _R, searchable=True, default=True),
    Attribute("SeriesDescription", _R),
    Attribute("SeriesNumber", _R, searchable=True, indexed=False),
    Attribute("SeriesDate", _R, searchable=True),
    Attribute("NumberOfSeriesRelatedInstances", _R, computed=True),
    Attribute("SOPInstanceUID", _I, searchable=True, default=True),
    Attribute("SOPClassUID", _I, searchable=True, indexed=False),
    Attribute("InstanceNumber", _I, searchable=True, indexed=False),
    Attribute("Rows", _I),
    Attribute("Columns", _I),
    Attribute("BitsAllocated", _I),
    Attribute("NumberOfFrames", _I),
    Attribute("AcquisitionDateTime", _I, searchable=True, indexed=False),
)
BY_KEYWORD = {attribute.keyword: attribute for attribute in ATTRIBUTES}
BY_TAG = {attribute.tag: attribute for attribute in ATTRIBUTES}


def stored_tags(level: Level) -> list[str]:
    """Tags copied from each file into the index row of that level."""
    return [a.tag for a in ATTRIBUTES if a.level == level and not a.computed]


def keyword_of(name: str) -> str | None:
    """Resolve a query key given as keyword (case-sensitive) or 8-hex tag to a dictionary keyword."""
    if len(name) == 8 and all(c in "0123456789abcdefABCDEF" for c in name):
        return keyword_for_tag(int(name, 16)) or None
    return name if tag_for_keyword(name) is not None else None


# ---- headers to DICOM JSON ----------------------------------------------------------------------


# Stored in metadata at write time; replaced by the instance's URL when metadata is served.
BULK_DATA_TOKEN = "urn:dicomweb:bulkdata:"


def dataset_to_json(
    dataset: Dataset, bulk: dict[str, tuple[int, int]] | None = None, little_endian: bool = True
) -> DicomJson:
    """DICOM JSON of a header without file meta; values that cannot be encoded are dropped.

    Bulk data (OB, OW, UN, ...) is never read from the file: at the top level, when `bulk` is given
    (the file's byte positions are known), it becomes a BulkDataURI and its byte range is recorded in
    `bulk`. Elsewhere (inside sequences, or in a deflated file) values pydicom already holds, up to
    INLINE_BINARY_LIMIT, become InlineBinary (icons, ICC profiles); larger ones are left out.
    """
    result: DicomJson = {}
    for tag_value in dataset.keys():  # noqa: SIM118 - iterating a Dataset itself reads every value
        if tag_value.group == 0x0002:
            continue
        raw = dataset.get_item(tag_value)
        tag = f"{tag_value:08X}"
        vr = _raw_vr(raw, tag_value)
        if vr in BULK_DATA_VRS:
            byte_range = _value_range(raw) if bulk is not None else None
            if bulk is not None and byte_range is not None:
                bulk[tag] = byte_range
                result[tag] = {"vr": vr, "BulkDataURI": BULK_DATA_TOKEN + tag}
            elif (inline := _inline_binary(raw.value, vr, little_endian)) is not None:
                result[tag] = {"vr": vr, "InlineBinary": inline}
            continue
        element = dataset[tag_value]
        if element.VR == "SQ":
            items = [dataset_to_json(item, little_endian=little_endian) for item in element.value]
            result[tag] = {"vr": "SQ", "Value": items}
            continue
        json_element = _element_to_json(element)
        if json_element is not None:
            result[tag] = json_element
    return result


INLINE_BINARY_LIMIT = 64 * 1024
BYTE_VRS = frozenset({"OB", "UN"})


def _inline_binary(value: object, vr: str, little_endian: bool) -> str | None:
    """Base64 of a value already in memory; words of a big-endian file would need swapping, so not those."""
    if not isinstance(value, bytes) or len(value) > INLINE_BINARY_LIMIT:
        return None
    if vr not in BYTE_VRS and not little_endian:
        return None
    return base64.b64encode(value).decode("ascii")


def _raw_vr(raw: Any, tag: int) -> str:
    if raw.VR:
        return str(raw.VR)
    try:
        return dictionary_VR(tag)
    except KeyError:
        return "UN"


def _value_range(raw: Any) -> tuple[int, int] | None:
    """Where the value lies in the file, if pydicom recorded it and its length is defined."""
    offset = getattr(raw, "value_tell", None) if hasattr(raw, "value_tell") else getattr(raw, "file_tell", None)
    if getattr(raw, "is_undefined_length", False) or offset is None:
        return None
    length = raw.length if hasattr(raw, "length") else len(raw.value or b"")
    return (int(offset), int(length)) if length != 0xFFFFFFFF else None


def _element_to_json(element: DataElement) -> dict[str, Any] | None:
    try:
        return element.to_json_dict(bulk_data_element_handler=None, bulk_data_threshold=1 << 30)
    except Exception:  # a malformed value (e.g. bad IS/DS text); the file itself is kept intact
        return None


def subset(metadata: DicomJson, tags: list[str]) -> DicomJson:
    return {tag: metadata[tag] for tag in tags if tag in metadata}


# ---- reading and comparing values -----------------------------------------------------------------


def first_text(element: dict[str, Any] | None) -> str:
    """The first non-empty value of a DICOM JSON element as text ('' when none); PN gives its first group."""
    texts = all_texts(element)
    return texts[0] if texts else ""


def all_texts(element: dict[str, Any] | None) -> list[str]:
    """Every value as text; every component group of every PN value."""
    if not element:
        return []
    texts = []
    for value in element.get("Value") or []:
        if isinstance(value, dict):
            texts.extend(v for v in value.values() if isinstance(v, str) and v)
        elif value is not None and str(value).strip():
            texts.append(str(value).strip())
    return texts


def normalize_text(value: str) -> str:
    return value.strip().casefold()


def normalize_person_name(value: str) -> str:
    """Case- and accent-insensitive form of a PN; component separators become spaces."""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.replace("^", " ").replace("=", " ").casefold().split())


def name_words(value: str) -> list[str]:
    return normalize_person_name(value).split()


def is_empty(element: dict[str, Any] | None) -> bool:
    return not all_texts(element)
