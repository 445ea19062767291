"""Parsing a QIDO-RS query string into conditions, included attributes and paging."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl

from dicom.attributes import ATTRIBUTES, BY_KEYWORD, Attribute, Level, is_range_vr, tag_of
from dicom.errors import Invalid
from dicom.values import whole_number
from dicomweb_wire.tags import keyword_of
from dicomweb_wire.uids import is_valid_uid

DEFAULT_LIMIT, MAX_LIMIT = 100, 200
# Paging deeper than this reads that many results first: narrow the search instead.
MAX_OFFSET = 10_000
# Each UID of a list is one read; a viewer asks for a handful, a sync job for a page.
MAX_UIDS = 500
LIST_ATTRIBUTES = {"ModalitiesInStudy"}
NUMBER_VRS = {"IS", "US", "SL", "SS", "UL"}


@dataclass
class Condition:
    attribute: Attribute
    values: list[str] = field(default_factory=list)  # exact values (several: any matches)
    lower: str | None = None  # range bounds, inclusive; None is open
    upper: str | None = None
    is_range: bool = False
    fuzzy: bool = False
    wildcard: bool = False  # '*' any run, '?' one character


@dataclass
class Query:
    level: Level
    conditions: list[Condition]
    include: set[str]
    include_all: bool
    limit: int
    offset: int


# Longest query value accepted: attributes are at most 64 characters (PN 3x64); a UID list may hold hundreds.
MAX_QUERY_VALUE = 1024
MAX_UID_LIST = 32 * 1024


def parse_query(raw: str, level: Level, extended: tuple[Attribute, ...] = ()) -> Query:
    """Percent-decoding and '+' as space come from parse_qsl; keywords are case-sensitive. `extended`: the
    extended query tags that are searchable now (by keyword, or a private tag by its 8 hex digits)."""
    known = {**BY_KEYWORD, **{a.keyword: a for a in extended}}
    if len(raw) > MAX_UID_LIST * 2:
        raise Invalid(f"The query string is {len(raw)} characters long; at most {MAX_UID_LIST * 2} are accepted.")
    include: set[str] = set()
    include_all, fuzzy = False, False
    limit, offset = DEFAULT_LIMIT, 0
    raw_conditions: dict[str, str] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        control = key.lower()
        if control == "includefield":
            for name in filter(None, (v.strip() for v in value.split(","))):
                if name == "all":
                    include_all = True
                    continue
                keyword = _keyword(name, known)
                if keyword is None:
                    raise Invalid(f"includefield '{name[:64]}' is not a DICOM keyword or tag.")
                include.add(known[keyword].tag if keyword in known else tag_of(keyword))
        elif control == "limit":
            limit = _integer(key, value, 1, MAX_LIMIT)
        elif control == "offset":
            offset = _integer(key, value, 0, MAX_OFFSET)
        elif control == "fuzzymatching":
            if value.lower() not in ("true", "false"):
                raise Invalid("fuzzymatching must be true or false.")
            fuzzy = value.lower() == "true"
        else:
            keyword = _searchable(key, level, known)
            longest = MAX_UID_LIST if known[keyword].vr == "UI" else MAX_QUERY_VALUE
            if len(value) > longest:
                raise Invalid(f"The {keyword} value is {len(value)} characters long; at most {longest} are accepted.")
            if keyword in raw_conditions:
                raise Invalid(f"The attribute {keyword} is given more than once; give it once.")
            raw_conditions[keyword] = value
    conditions = [_condition(known[keyword], value, fuzzy) for keyword, value in raw_conditions.items() if value != ""]
    include |= {known[keyword].tag for keyword in raw_conditions}
    return Query(level, conditions, include, include_all, limit, offset)


def _integer(name: str, value: str, low: int, high: int) -> int:
    """ASCII digits only: str.isdigit() also accepts '²' and str.strip() removes control characters,
    both of which int() then refuses (atheris found `offset=%1C2` answering 500)."""
    number = whole_number(value.strip(" "))
    if number is None or number < low or number > high:
        hint = " (to page further, narrow the search, e.g. by StudyDate)" if name.lower() == "offset" else ""
        raise Invalid(f"{name} must be a whole number from {low} to {high}{hint}; got '{value[:20]}'.")
    return number


def _keyword(name: str, known: dict[str, Attribute]) -> str | None:
    """A query key's keyword: a dictionary keyword or tag, or an extended query tag's (a private one's hex)."""
    if name.upper() in known:
        return name.upper()
    return keyword_of(name)


def _searchable(name: str, level: Level, known: dict[str, Attribute]) -> str:
    keyword = _keyword(name, known)
    attribute = known.get(keyword or "")
    if attribute is None or not attribute.searchable or attribute.level > level:
        searchable = [*ATTRIBUTES, *(a for a in known.values() if a.extended)]
        allowed = ", ".join(a.keyword for a in searchable if a.searchable and a.level <= level)
        what = "unknown query parameter" if keyword is None else "attribute not searchable at this level"
        raise Invalid(
            f"'{name[:64]}': {what}. Searchable here: {allowed}; also includefield, limit, offset, fuzzymatching."
        )
    return attribute.keyword


def _condition(attribute: Attribute, value: str, fuzzy: bool) -> Condition:
    if attribute.vr == "UI":
        uids = list(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))  # each once, in order
        bad = [u for u in uids if not is_valid_uid(u)]
        if bad or not uids:
            raise Invalid(f"{attribute.keyword} '{value[:80]}' is not a valid UID or comma-separated list of UIDs.")
        if len(uids) > MAX_UIDS:
            raise Invalid(f"{attribute.keyword} lists {len(uids)} UIDs; at most {MAX_UIDS} per search. Split it.")
        return Condition(attribute, values=uids)
    if is_range_vr(attribute.vr):
        return _range_condition(attribute, value)
    if attribute.keyword in LIST_ATTRIBUTES:
        values = [v.strip() for v in value.replace("\\", ",").split(",") if v.strip()]
        return Condition(attribute, values=values)
    if attribute.vr in NUMBER_VRS:
        number = whole_number(value.strip(), max_digits=12, signed=True)
        if number is None:
            raise Invalid(f"{attribute.keyword} is a whole number; got '{value[:40]}'.")
        return Condition(attribute, values=[str(number)])
    wildcard = "*" in value or "?" in value
    return Condition(
        attribute, values=[value], fuzzy=fuzzy and attribute.vr == "PN" and not wildcard, wildcard=wildcard
    )


def _range_condition(attribute: Attribute, value: str) -> Condition:
    if "-" not in value:
        _check_temporal(attribute, value)
        return Condition(attribute, values=[value])
    lower, _, upper = value.partition("-")
    if not lower and not upper:
        raise Invalid(f"{attribute.keyword} range '-' needs at least one bound, e.g. 20200101-20201231.")
    for bound in (lower, upper):
        if bound:
            _check_temporal(attribute, bound)
    if lower and upper and lower > upper:
        raise Invalid(f"{attribute.keyword} range '{value}' starts after it ends.")
    return Condition(attribute, lower=lower or None, upper=upper or None, is_range=True)


def _check_temporal(attribute: Attribute, value: str) -> None:
    formats = {"DA": ("%Y%m%d",), "TM": ("%H%M%S", "%H%M", "%H"), "DT": ("%Y%m%d%H%M%S", "%Y%m%d", "%Y")}
    text = value.split(".")[0]
    for fmt in formats[attribute.vr]:
        try:
            datetime.strptime(text, fmt)
            return
        except ValueError:
            continue
    raise Invalid(f"{attribute.keyword} '{value[:40]}' is not a valid {attribute.vr} value (DA is YYYYMMDD).")
