"""The attributes QIDO knows, per level: searchable, returned by default, computed, indexed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from pydicom.datadict import dictionary_VR, tag_for_keyword


class Level(IntEnum):
    STUDY = 1
    SERIES = 2
    INSTANCE = 3


@dataclass(frozen=True)
class Attribute:
    keyword: str
    level: Level
    searchable: bool = False
    default: bool = False  # returned without includefield (v1 also returns every stored one)
    computed: bool = False  # derived from the archive, not from any one file
    indexed: bool = True  # searchable ones: has pointer rows; if not, it only filters what others found
    # An extended query tag (added at run time): its tag and VR are given, as a private tag has no keyword.
    extended_tag: str | None = None
    extended_vr: str | None = None

    @property
    def tag(self) -> str:
        return self.extended_tag or f"{tag_for_keyword(self.keyword):08X}"

    @property
    def vr(self) -> str:
        return self.extended_vr or dictionary_VR(tag_for_keyword(self.keyword))

    @property
    def extended(self) -> bool:
        return self.extended_tag is not None


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
    Attribute("ModalitiesInStudy", _S, searchable=True, default=True, computed=True),
    Attribute("SpecificCharacterSet", _S),
    Attribute("StudyTime", _S, searchable=True),
    Attribute("PatientSex", _S),
    Attribute("StudyID", _S),
    Attribute("NumberOfStudyRelatedSeries", _S, default=True, computed=True),
    Attribute("NumberOfStudyRelatedInstances", _S, default=True, computed=True),
    Attribute("SeriesInstanceUID", _R, searchable=True, default=True),
    Attribute("Modality", _R, searchable=True, default=True),
    Attribute("PerformedProcedureStepStartDate", _R, searchable=True, default=True),
    Attribute("ManufacturerModelName", _R, searchable=True, default=True),
    Attribute("SeriesDescription", _R, default=True),  # viewers' series lists (beyond the reference)
    Attribute("SeriesNumber", _R, searchable=True, default=True, indexed=False),
    Attribute("SeriesDate", _R, searchable=True),
    Attribute("NumberOfSeriesRelatedInstances", _R, default=True, computed=True),
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


def tag_of(keyword: str) -> str:
    return f"{tag_for_keyword(keyword):08X}"


def is_range_vr(vr: str) -> bool:
    """Dates and times: matched by range, indexed in value order."""
    return vr in ("DA", "DT", "TM")
