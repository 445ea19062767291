"""Whether an index row's attributes meet a condition: the check every candidate passes before it is returned."""

from __future__ import annotations

import fnmatch

from dicom.attributes import is_range_vr
from dicom.values import DicomJson, all_texts, name_words, normalize_person_name, normalize_text, whole_number

from .query import NUMBER_VRS, Condition


def matches(condition: Condition, attrs: DicomJson) -> bool:
    texts = all_texts(attrs.get(condition.attribute.tag))
    if condition.is_range:
        return any(
            (condition.lower is None or text[: len(condition.lower)] >= condition.lower)
            and (condition.upper is None or text[: len(condition.upper)] <= condition.upper)
            for text in texts
        )
    vr = condition.attribute.vr
    if vr == "UI" or is_range_vr(vr):
        return any(text in condition.values for text in texts)
    if vr in NUMBER_VRS:
        numbers = (whole_number(text, max_digits=12, signed=True) for text in texts)
        return any(number is not None and str(number) == condition.values[0] for number in numbers)
    if condition.wildcard:
        normalize = normalize_person_name if vr == "PN" else normalize_text
        pattern = normalize(condition.values[0]).replace("[", "[[]")
        return any(fnmatch.fnmatchcase(normalize(text), pattern) for text in texts)
    if vr == "PN":
        query = normalize_person_name(condition.values[0])
        if condition.fuzzy:
            words = [w for text in texts for w in name_words(text)]
            return all(any(w.startswith(q) for w in words) for q in query.split())
        return any(normalize_person_name(text) == query for text in texts)
    wanted = {normalize_text(v) for v in condition.values}
    return any(normalize_text(text) in wanted for text in texts)
