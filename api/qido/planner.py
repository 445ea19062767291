"""Planning a search: which condition's lookup partition drives it, and its candidates from the lookup.

Every search is driven by one lookup read (or the study in the path); candidates are then read and
verified against every condition, so reads are O(matches).
"""

from __future__ import annotations

from archive import lookup
from archive.clients import Storage
from archive.lookup import Pointer
from dicom.attributes import BY_KEYWORD, Attribute
from dicom.values import normalize_person_name, normalize_text

from .query import Condition

# Which index drives a query when several conditions are given: the most selective first.
DRIVER_ORDER = [
    "StudyInstanceUID",
    "SOPInstanceUID",
    "SeriesInstanceUID",
    "AccessionNumber",
    "PatientID",
    "PatientName",
    "ReferringPhysicianName",
    "StudyDescription",
    "PatientBirthDate",
    "ManufacturerModelName",
    "Modality",
    "ModalitiesInStudy",
    "StudyDate",
    "SeriesDate",
    "PerformedProcedureStepStartDate",
    "StudyTime",
]


def driving_attribute(condition: Condition) -> Attribute:
    """The attribute whose pointers a condition reads: ModalitiesInStudy is served by the series' Modality."""
    if condition.attribute.keyword == "ModalitiesInStudy":
        return BY_KEYWORD["Modality"]
    return condition.attribute


async def candidates(storage: Storage, condition: Condition) -> list[Pointer]:
    """The pointers the condition selects: every target that may match it (and some that no longer do)."""
    attribute = driving_attribute(condition)
    if condition.is_range or lookup.serves_ranges(attribute):
        lower = condition.lower if condition.is_range else condition.values[0]
        upper = condition.upper if condition.is_range else condition.values[0]
        return await lookup.in_range(storage, attribute, lower, upper)
    if condition.wildcard and attribute.vr == "PN":  # the prefix of its first word drives
        return await lookup.with_word_prefix(storage, attribute, _literal_start(condition))
    if condition.wildcard:  # the values starting with the literal text
        return await lookup.with_value_prefix(storage, attribute, _literal_start(condition))
    if condition.fuzzy:
        words = normalize_person_name(condition.values[0]).split()
        if not words:
            return await lookup.all_studies(storage)
        return await lookup.with_word_prefix(storage, attribute, max(words, key=len))
    return await lookup.with_values(storage, attribute, condition.values)


def _literal_start(condition: Condition) -> str:
    """The text of a wildcard value before its first wildcard (of a person name: within its first word)."""
    if condition.attribute.vr == "PN":
        pattern = normalize_person_name(condition.values[0])
        pattern = pattern.split(" ")[0] if pattern else ""
    else:
        pattern = normalize_text(condition.values[0])
    cut = min((pattern.find(c) for c in "*?[" if c in pattern), default=len(pattern))
    return pattern[:cut]


def _can_drive(condition: Condition) -> bool:
    if not condition.attribute.indexed:
        return False
    if condition.is_range and not lookup.serves_ranges(condition.attribute):
        return False  # a birth date range: its values are not readable in the lookup's keys
    if condition.wildcard:
        return bool(_literal_start(condition))
    return True


def choose_driver(conditions: list[Condition]) -> Condition | None:
    """The most selective indexed condition. A date bounded on both sides beats a modality, whose partition
    grows with the archive (a viewer's "CT studies of today")."""
    by_keyword = {c.attribute.keyword: c for c in conditions if _can_drive(c)}
    driver = next((by_keyword[k] for k in DRIVER_ORDER if k in by_keyword), None)
    if driver is None:  # an extended query tag, the only indexed condition
        driver = next((c for c in by_keyword.values() if c.attribute.extended), None)
    if driver is not None and driver.attribute.keyword in ("Modality", "ModalitiesInStudy"):
        bounded = [
            c for c in by_keyword.values() if c.attribute.vr == "DA" and (not c.is_range or (c.lower and c.upper))
        ]
        return bounded[0] if bounded else driver
    return driver
