"""Searching workitems: the query parameters the reference service documents (plus this service's additions),
matching a workitem against them, what a result holds, and the values each workitem is indexed under.

Index names (`index_values`) are what the archive keys pointer rows by (as keyed hashes): one per searchable
attribute path, exact values normalised (case-folded; person names also accent-free), and for names every
prefix of each word up to NAME_PREFIX letters, so fuzzy matching reads only the workitems a prefix selects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydicom.datadict import dictionary_VR, keyword_for_tag

from dicomweb_wire.tags import keyword_of

from .attributes import tag_of
from .errors import Invalid
from .values import DicomJson, all_texts, name_words, normalize_person_name, normalize_text
from .workitem import START, TRANSACTION_UID

NAME_PREFIX = 12  # longer query words read the workitems of their first 12 letters, then are checked
MAX_LIMIT, DEFAULT_LIMIT = 200, 100
# Searchable paths (tags joined by '.') -> index name. The first ten are the reference service's.
SEARCHABLE = {
    "00100010": "name",
    "00100020": "patient",
    "0040A370.00080050": "accession",
    "0040A370.00401001": "procedure",
    START: "start",
    "00404025.00080100": "station",
    "00404026.00080100": "class",
    "00404027.00080100": "location",
    "00741000": "state",
    "0020000D": "study",
    # additions: other patient IDs, birth date (a range, checked on the workitems another key selects), the
    # assignee (Scheduled Human Performers Sequence > Human Performer Code Sequence > Long Code Value: an
    # Entra object ID has 36 characters, over Code Value's 16).
    "00101002.00100020": "other",
    "00100030": "birth",
    "00404034.00404009.00080119": "assignee",
}
RANGES = {"start", "birth"}  # DT/DA ranges; "start" has ordered index rows, "birth" is never readable in a key
UNINDEXED = {"birth"}
# Return keys of Table CC.2.5-3 (types 1 and 2) every result holds.
RETURNED = [
    "00080016", "00080018", "00080080", "00081030", "00100010", "00100020", "00100030", "00100040", "00101002",
    "0020000D", "00380010", "00404005", "00404010", "00404011", "00404018", "00404021", "00404025", "00404026",
    "00404027", "00404034", "00404041", "0040A370", "00741000", "00741002", "00741200", "00741202", "00741204",
    "00741216",
]  # fmt: skip
IGNORED = {"includefield", "limit", "offset", "fuzzymatching", "assignedto"}


@dataclass
class Condition:
    path: str
    index: str
    values: list[str]  # any of (normalised); for ranges [lower, upper]
    fuzzy: bool = False


@dataclass
class Query:
    conditions: list[Condition] = field(default_factory=list)
    included: list[str] = field(default_factory=list)
    include_all: bool = False
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def _tag(name: str) -> str:
    keyword = keyword_of(name.strip())
    if keyword is None:
        raise Invalid(f"'{name.strip()[:64]}' is not a DICOM attribute keyword or tag (8 hex digits).")
    return tag_of(keyword)


def path_of(name: str) -> str:
    return ".".join(_tag(part) for part in name.split("."))


def _number(text: str, what: str, low: int, high: int) -> int:
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise Invalid(f"{what} must be a whole number from {low} to {high}, not '{text[:20]}'.")
    return int(text)


def _vr(path: str) -> str:
    try:
        return dictionary_VR(int(path.rsplit(".", 1)[-1], 16))
    except KeyError:
        return "UN"


def normalized(path: str, text: str) -> str:
    return normalize_person_name(text) if _vr(path) == "PN" else normalize_text(text)


def parse_query(parameters: list[tuple[str, str]]) -> Query:
    """The search's conditions and result options; 400 for what this service cannot search by."""
    query = Query()
    fuzzy = any(k.lower() == "fuzzymatching" and v.strip().lower() == "true" for k, v in parameters)
    for key, value in parameters:
        lowered = key.lower()
        if lowered == "includefield":
            for name in value.split(","):
                if name.strip().lower() == "all":
                    query.include_all = True
                elif name.strip():
                    query.included.append(path_of(name).split(".")[0])
        elif lowered == "limit":
            query.limit = _number(value, "limit", 1, MAX_LIMIT)
        elif lowered == "offset":
            query.offset = _number(value, "offset", 0, 10**9)
        elif lowered not in IGNORED and not value.strip():  # an empty key matches everything; it is returned
            query.included.append(path_of(key).split(".")[0])
        elif lowered not in IGNORED:
            query.conditions.append(_condition(key, value, fuzzy))
    return query


def _condition(key: str, value: str, fuzzy: bool) -> Condition:
    path = path_of(key)
    index = SEARCHABLE.get(path)
    if index is None:
        names = ", ".join(".".join(keyword_for_tag(int(t, 16)) for t in p.split(".")) for p in SEARCHABLE)
        raise Invalid(f"Workitems cannot be searched by '{key[:80]}'. Searchable: {names}.")
    if index in RANGES:
        lower, _, upper = value.partition("-") if "-" in value else (value, "", value)
        return Condition(path, index, [lower.strip(), upper.strip()])
    texts = [normalized(path, text) for text in value.split(",") if text.strip()]
    if not texts:
        raise Invalid(f"Give a value to match for '{key[:80]}'.")
    return Condition(path, index, texts, fuzzy and _vr(path) == "PN")


def values_at(item: DicomJson, path: str) -> list[str]:
    """Every value found at a path of tags through sequences."""
    head, _, rest = path.partition(".")
    element = item.get(head)
    if not rest:
        return all_texts(element)
    return [v for sub in (element or {}).get("Value") or [] if isinstance(sub, dict) for v in values_at(sub, rest)]


def _in_range(text: str, lower: str, upper: str) -> bool:
    digits = "".join(c for c in text if c.isdigit())
    low = "".join(c for c in lower if c.isdigit())
    high = "".join(c for c in upper if c.isdigit())
    return (not low or digits[: len(low)] >= low) and (not high or digits[: len(high)] <= high)


def matches(item: DicomJson, condition: Condition) -> bool:
    found = values_at(item, condition.path)
    if condition.index in RANGES:
        return any(_in_range(text, *condition.values) for text in found)
    if condition.fuzzy:
        words = [w for text in found for w in name_words(text)]
        return any(all(any(w.startswith(q) for w in words) for q in name_words(value)) for value in condition.values)
    normalised = {normalized(condition.path, text) for text in found}
    return any(value in normalised for value in condition.values)


def index_values(item: DicomJson) -> list[tuple[str, str]]:
    """(index name, normalised value) pairs a workitem is found by; names also by each word's prefixes."""
    pairs: set[tuple[str, str]] = set()
    for path, index in SEARCHABLE.items():
        if index in UNINDEXED or index == "start":
            continue
        for text in values_at(item, path):
            pairs.add((index, normalized(path, text)))
            if index == "name":
                for word in name_words(text):
                    pairs.update(("name~", word[:length]) for length in range(1, min(len(word), NAME_PREFIX) + 1))
    return sorted(pairs)


def pointer_values(condition: Condition) -> list[tuple[str, str]]:
    """The index entries whose workitems may match an exact or fuzzy condition (a superset: verified later)."""
    if condition.fuzzy:
        return [("name~", name_words(value)[0][:NAME_PREFIX]) for value in condition.values if name_words(value)]
    return [(condition.index, value) for value in condition.values]


def start_of(item: DicomJson) -> str:
    return "".join(c for c in (values_at(item, START) or [""])[0] if c.isdigit())[:14]


def result_of(item: DicomJson, query: Query) -> DicomJson:
    """What a search returns of a workitem: the return keys, the matched and the included attributes."""
    if query.include_all:
        return {tag: value for tag, value in item.items() if tag != TRANSACTION_UID}
    wanted = set(RETURNED) | set(query.included) | {c.path.split(".")[0] for c in query.conditions}
    return {tag: item[tag] for tag in sorted(wanted) if tag in item and tag != TRANSACTION_UID}
