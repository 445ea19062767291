"""What a stored instance must satisfy (PS3.5 6.2 for searchable values, the UIDs an archive needs).

Facts only: whether a problem fails the instance or warns is the API version's policy (api.stow).
"""

from __future__ import annotations

import re
from datetime import datetime

from pydicom import Dataset

from dicomweb_wire.reasons import VALIDATION_FAILURE
from dicomweb_wire.uids import clean_uid, is_valid_uid

from .attributes import ATTRIBUTES
from .errors import InstanceFailure
from .values import DicomJson


def required_uids(dataset: Dataset) -> dict[str, str]:
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


def require_patient_id(dataset: Dataset) -> None:
    """Present, though possibly empty: whether empty is allowed is the API version's rule."""
    if "PatientID" not in dataset:
        raise InstanceFailure(VALIDATION_FAILURE, "The required attribute PatientID (0010,0020) is missing.")


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
            problem = value_problem(attribute.vr, value)
            if problem:
                tag = f"({attribute.tag[:4]},{attribute.tag[4:]})"
                problems.append((attribute.tag, f"{attribute.keyword} {tag}: {problem}"))
                break
    return problems


def value_problem(vr: str, value: object) -> str | None:
    """Why a value breaks its VR (PS3.5 6.2), or None."""
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
