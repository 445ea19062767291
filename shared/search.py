"""QIDO-RS: every search is driven by one lookup partition (or the study in the path), then verified.

Reads are O(matches): a pointer partition gives candidate studies/series/instances, which are read by
point or single-partition queries and checked against every condition of the query.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from .auth import Access, requires
from .dicom_json import (
    ATTRIBUTES,
    BY_KEYWORD,
    BY_TAG,
    Attribute,
    DicomJson,
    Level,
    all_texts,
    keyword_of,
    name_words,
    normalize_person_name,
    normalize_text,
)
from .errors import bad_request
from .http import DICOM_JSON, check_version, note, require_json_accept
from .index import (
    ALL_STUDIES,
    SEPARATOR,
    STUDY_ROW,
    InstanceRecord,
    Pointer,
    all_studies_key,
    drop_stale_pointers,
    exact_partition,
    get_row,
    is_range_vr,
    key_escape,
    list_instances,
    pointer_keys,
    read_partition,
    read_pointer_pages,
    read_pointer_partitions,
    read_pointers,
    read_study_rows,
    series_row,
    split_rows,
    study_created,
    word_partition,
)
from .storage import Storage, get_storage, start_counting
from .uids import is_valid_uid, require_uid

DEFAULT_LIMIT, MAX_LIMIT = 100, 200
READ_CONCURRENCY = 16
LIST_ATTRIBUTES = {"ModalitiesInStudy"}
NUMBER_VRS = {"IS", "US", "SL", "SS", "UL"}
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


# ---- parsing ----------------------------------------------------------------------------------------


# Longest query value accepted: attributes are at most 64 characters (PN 3x64); a UID list may hold hundreds.
MAX_QUERY_VALUE = 1024
MAX_UID_LIST = 32 * 1024


def parse_query(raw: str, level: Level) -> Query:
    """Percent-decoding and '+' as space come from parse_qsl; keywords are case-sensitive."""
    if len(raw) > MAX_UID_LIST * 2:
        raise bad_request(f"The query string is {len(raw)} characters long; at most {MAX_UID_LIST * 2} are accepted.")
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
                keyword = keyword_of(name)
                if keyword is None:
                    raise bad_request(f"includefield '{name[:64]}' is not a DICOM keyword or tag.")
                include.add(f"{_tag(keyword)}")
        elif control == "limit":
            limit = _integer(key, value, 1, MAX_LIMIT)
        elif control == "offset":
            offset = _integer(key, value, 0, None)
        elif control == "fuzzymatching":
            if value.lower() not in ("true", "false"):
                raise bad_request("fuzzymatching must be true or false.")
            fuzzy = value.lower() == "true"
        else:
            keyword = _searchable(key, level)
            longest = MAX_UID_LIST if BY_KEYWORD[keyword].vr == "UI" else MAX_QUERY_VALUE
            if len(value) > longest:
                raise bad_request(
                    f"The {keyword} value is {len(value)} characters long; at most {longest} are accepted."
                )
            if keyword in raw_conditions:
                raise bad_request(f"The attribute {keyword} is given more than once; give it once.")
            raw_conditions[keyword] = value
    conditions = [
        _condition(BY_KEYWORD[keyword], value, fuzzy) for keyword, value in raw_conditions.items() if value != ""
    ]
    include |= {BY_KEYWORD[keyword].tag for keyword in raw_conditions}
    return Query(level, conditions, include, include_all, limit, offset)


def _tag(keyword: str) -> str:
    from pydicom.datadict import tag_for_keyword

    return f"{tag_for_keyword(keyword):08X}"


def _integer(name: str, value: str, low: int, high: int | None) -> int:
    """ASCII digits only: str.isdigit() also accepts '²' and str.strip() removes control characters,
    both of which int() then refuses (atheris found `offset=%1C2` answering 500)."""
    digits = value.strip(" ")
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 9) or not (
        low <= int(digits) and (high is None or int(digits) <= high)
    ):
        bounds = f"{low} to {high}" if high is not None else f"{low} or more"
        raise bad_request(f"{name} must be a whole number from {bounds}; got '{value[:20]}'.")
    return int(digits)


def _searchable(name: str, level: Level) -> str:
    keyword = keyword_of(name)
    attribute = BY_KEYWORD.get(keyword or "")
    if attribute is None or not attribute.searchable or attribute.level > level:
        allowed = ", ".join(a.keyword for a in ATTRIBUTES if a.searchable and a.level <= level)
        what = "unknown query parameter" if keyword is None else "attribute not searchable at this level"
        raise bad_request(
            f"'{name[:64]}': {what}. Searchable here: {allowed}; also includefield, limit, offset, fuzzymatching."
        )
    return attribute.keyword


def _condition(attribute: Attribute, value: str, fuzzy: bool) -> Condition:
    if attribute.vr == "UI":
        uids = [v.strip() for v in value.split(",") if v.strip()]
        bad = [u for u in uids if not is_valid_uid(u)]
        if bad or not uids:
            raise bad_request(f"{attribute.keyword} '{value[:80]}' is not a valid UID or comma-separated list of UIDs.")
        return Condition(attribute, values=uids)
    if is_range_vr(attribute.vr):
        return _range_condition(attribute, value)
    if attribute.keyword in LIST_ATTRIBUTES:
        values = [v.strip() for v in value.replace("\\", ",").split(",") if v.strip()]
        return Condition(attribute, values=values)
    if attribute.vr in NUMBER_VRS:
        if not value.strip().lstrip("-").isdigit():
            raise bad_request(f"{attribute.keyword} is a number; got '{value[:40]}'.")
        return Condition(attribute, values=[str(int(value))])
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
        raise bad_request(f"{attribute.keyword} range '-' needs at least one bound, e.g. 20200101-20201231.")
    for bound in (lower, upper):
        if bound:
            _check_temporal(attribute, bound)
    if lower and upper and lower > upper:
        raise bad_request(f"{attribute.keyword} range '{value}' starts after it ends.")
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
    raise bad_request(f"{attribute.keyword} '{value[:40]}' is not a valid {attribute.vr} value (DA is YYYYMMDD).")


# ---- matching ---------------------------------------------------------------------------------------


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
        return any(text.lstrip("-").isdigit() and str(int(text)) == condition.values[0] for text in texts)
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


# ---- planning: which lookup partition drives the query ------------------------------------------


async def _driver_pointers(storage: Storage, condition: Condition) -> list[Pointer]:
    attribute = condition.attribute
    if condition.is_range or is_range_vr(attribute.vr):
        lower = condition.lower if condition.is_range else condition.values[0]
        upper = condition.upper if condition.is_range else condition.values[0]
        return await read_pointers(
            storage,
            attribute.keyword,
            key_escape(lower) if lower else None,
            key_escape(upper) + '"' if upper else None,  # '"' sorts right after the '!' separator
        )
    if condition.wildcard and attribute.vr == "PN":  # the prefix of its first word drives
        word = _literal_start(condition)
        return await read_pointers(storage, word_partition(attribute, word), key_escape(word), key_escape(word) + "{")
    if condition.wildcard:  # the values starting with the literal text: a range of exact partitions
        prefix = exact_partition(attribute, _literal_start(condition))
        return await read_pointer_partitions(storage, prefix, prefix + "{")  # '{' sorts after every escaped char
    if condition.fuzzy:
        words = normalize_person_name(condition.values[0]).split()
        if not words:
            return await read_pointers(storage, ALL_STUDIES)
        word = max(words, key=len)
        prefix = key_escape(word)
        return await read_pointers(storage, word_partition(attribute, word), prefix, prefix + "{")
    if attribute.keyword == "ModalitiesInStudy":
        attribute = BY_KEYWORD["Modality"]
    partitions = [exact_partition(attribute, value) for value in condition.values]
    found = await asyncio.gather(*(read_pointers(storage, partition) for partition in partitions))
    return [pointer for pointers in found for pointer in pointers]


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
    if condition.wildcard:
        return bool(_literal_start(condition))
    return True


def _choose_driver(conditions: list[Condition]) -> Condition | None:
    """The most selective indexed condition. A date bounded on both sides beats a modality, whose partition
    grows with the archive (a viewer's "CT studies of today")."""
    by_keyword = {c.attribute.keyword: c for c in conditions if _can_drive(c)}
    driver = next((by_keyword[k] for k in DRIVER_ORDER if k in by_keyword), None)
    if driver is not None and driver.attribute.keyword in ("Modality", "ModalitiesInStudy"):
        bounded = [
            c for c in by_keyword.values() if c.attribute.vr == "DA" and (not c.is_range or (c.lower and c.upper))
        ]
        return bounded[0] if bounded else driver
    return driver


# ---- reading candidates -------------------------------------------------------------------------


def _computed_study(row: dict) -> DicomJson:
    attrs = json.loads(row["Attrs"])
    modalities = json.loads(row.get("Modalities") or "[]")
    attrs["00080061"] = {"vr": "CS", "Value": modalities} if modalities else {"vr": "CS"}
    attrs["00201206"] = {"vr": "IS", "Value": [int(row["Series"])]}
    attrs["00201208"] = {"vr": "IS", "Value": [int(row["Instances"])]}
    return attrs


def _computed_series(row: dict) -> DicomJson:
    attrs = json.loads(row["Attrs"])
    attrs["00201209"] = {"vr": "IS", "Value": [int(row["Instances"])]}
    return attrs


@dataclass
class Row:
    key: tuple[str, ...]
    updated: str  # what results are ordered by, newest first: a study's creation, a series' or instance's update
    attrs: DicomJson


async def _rows_of_study(storage: Storage, study: str, targets: set[tuple[str, ...]], level: Level) -> list[Row]:
    """The result rows at `level` under one study, restricted to the targets when they are deeper."""
    whole_study = any(len(t) == 1 for t in targets)
    if level == Level.STUDY:
        study_row = await get_row(storage, study, STUDY_ROW)
        return [Row((study,), study_created(study_row), _computed_study(study_row))] if study_row else []
    if whole_study and level == Level.SERIES:
        study_row, series_rows = await read_study_rows(storage, study)
        instance_rows = []
    elif whole_study:
        study_row, series_rows, instance_rows = await _partition_rows(storage, study)
    else:
        series_uids = {t[1] for t in targets}
        fetched = await asyncio.gather(
            get_row(storage, study, STUDY_ROW), *(get_row(storage, study, series_row(s)) for s in series_uids)
        )
        study_row = fetched[0]
        series_rows = {row["RowKey"][2:]: row for row in fetched[1:] if row}
        instance_rows = []
        if level == Level.INSTANCE:
            instance_rows = await _instances_of_targets(storage, study, targets)
    if study_row is None:
        return []
    study_attrs = _computed_study(study_row)
    series_attrs = {uid: {**study_attrs, **_computed_series(row)} for uid, row in series_rows.items()}
    if level == Level.SERIES:
        return [
            Row((study, uid), series_rows[uid]["Updated"], attrs)
            for uid, attrs in series_attrs.items()
            if whole_study or (study, uid) in targets
        ]
    rows = []
    for record in instance_rows:
        if record.series in series_attrs and _under_targets((study, record.series, record.sop), targets):
            rows.append(
                Row((study, record.series, record.sop), record.updated, {**series_attrs[record.series], **record.attrs})
            )
    return rows


def _under_targets(key: tuple[str, ...], targets: set[tuple[str, ...]]) -> bool:
    return any(key[: len(t)] == t for t in targets)


async def _partition_rows(storage: Storage, study: str) -> tuple[dict | None, dict[str, dict], list]:
    study_row, series_rows, instance_rows = split_rows(await read_partition(storage, study))
    return study_row, series_rows, [InstanceRecord.from_entity(row) for row in instance_rows.values()]


async def _instances_of_targets(storage: Storage, study: str, targets: set[tuple[str, ...]]) -> list:
    series_targets = {t[1] for t in targets if len(t) == 2}
    sop_targets = [t for t in targets if len(t) == 3 and t[1] not in series_targets]
    found = await asyncio.gather(
        *(list_instances(storage, study, series) for series in series_targets),
        *(list_instances(storage, study, t[1], t[2]) for t in sop_targets),
    )
    return [record for records in found for record in records]


async def _expand(storage: Storage, targets: set[tuple[str, ...]], level: Level) -> list[Row]:
    by_study: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for target in targets:
        by_study[target[0]].add(target)
    semaphore = asyncio.Semaphore(READ_CONCURRENCY)

    async def one(study: str) -> list[Row]:
        async with semaphore:
            return await _rows_of_study(storage, study, by_study[study], level)

    found = await asyncio.gather(*(one(study) for study in by_study))
    return [row for rows in found for row in rows]


# ---- the operation ------------------------------------------------------------------------------


def returned_tags(query: Query, version: str) -> set[str]:
    visible = [a for a in ATTRIBUTES if a.level <= query.level]
    if query.include_all:
        return {a.tag for a in visible} | query.include
    defaults = {a.tag for a in visible if a.default or (version == "v1" and not a.computed)}
    return defaults | query.include


@requires(Access.READ)
async def search(
    request: Request, version: str, level: Level, study: str | None = None, series: str | None = None
) -> Response:
    check_version(version)
    require_json_accept(request)
    query = parse_query(request.url.query, level)
    scope: tuple[str, ...] = ()
    if study is not None:
        scope = (require_uid(study, "study instance UID"),)
        if series is not None:
            scope += (require_uid(series, "series instance UID"),)
    counter = start_counting()
    storage = await get_storage()
    rows, stale = await _find(storage, query, scope)
    rows.sort(key=lambda row: row.key)
    rows.sort(key=lambda row: row.updated, reverse=True)  # newest first; ties in UID order (stable sort)
    page = rows[query.offset : query.offset + query.limit]
    if stale:
        await drop_stale_pointers(storage, stale)
    headers = {"X-Table-Entities-Read": str(counter[0])}
    note(results=len(page), entities_read=counter[0])
    if not page:
        return Response(status_code=204, headers=headers)
    tags = sorted(returned_tags(query, version))
    # Attributes asked for by name (query keys, includefield) come back empty when a file lacks them.
    asked = {tag: {"vr": BY_TAG[tag].vr} for tag in query.include if tag in BY_TAG and BY_TAG[tag].level <= query.level}
    body = [
        {tag: row.attrs[tag] if tag in row.attrs else asked[tag] for tag in tags if tag in row.attrs or tag in asked}
        for row in page
    ]
    return Response(json.dumps(body), media_type=DICOM_JSON, headers=headers)


async def _find(storage: Storage, query: Query, scope: tuple[str, ...]) -> tuple[list[Row], list[Pointer]]:
    driver = None if scope else _choose_driver(query.conditions)
    if driver is None and not scope and query.level == Level.STUDY:
        newest = await _newest_studies(storage, query)
        if newest is not None:
            return newest
    pointers: list[Pointer] = []
    if scope:
        targets = {scope}
    elif driver is not None and driver.attribute.keyword == "StudyInstanceUID":
        targets = {(uid,) for uid in driver.values}
    else:
        pointers = await (_driver_pointers(storage, driver) if driver else read_pointers(storage, ALL_STUDIES))
        targets = {p.target for p in pointers}
    rows = await _expand(storage, targets, query.level)
    verified = [row for row in rows if all(matches(c, row.attrs) for c in query.conditions)]
    stale = _stale(pointers, rows, driver, query.level)
    return verified, stale


def _stale_study_pointers(pointers: list[Pointer], rows: list[Row], level: Level) -> list[Pointer]:
    """Pointers of the partition of every study whose study is gone or which a lost race wrote with another
    creation time. Only study rows carry that time; from deeper rows only a study's absence is judged."""
    if level != Level.STUDY:
        present = {row.key[0] for row in rows}
        return [p for p in pointers if p.target[0] not in present]
    live = {key for row in rows for key in (all_studies_key(row.key[0], row.updated), row.key[0])}
    return [p for p in pointers if p.entity["RowKey"] not in live]  # either key: old rows are keyed by UID


async def _newest_studies(storage: Storage, query: Query) -> tuple[list[Row], list[Pointer]] | None:
    """A study search no index can drive (none, or unindexed conditions such as OHIF's `*value*`): walk
    the partition of every study newest first, a page at a time, until the page asked for is full.

    An unfiltered worklist of 101 studies reads about 101 pointers and 101 study rows, whatever the
    archive's size. None when the partition still holds rows keyed the old way (by UID alone, before
    2026-11-23), which have no order: then every study is read.
    """
    wanted = query.offset + query.limit
    found: list[Row] = []
    pointers: list[Pointer] = []
    rows: list[Row] = []
    page_size = min(1000, wanted if not query.conditions else max(100, 4 * wanted))  # filters: read ahead
    async for page in read_pointer_pages(storage, ALL_STUDIES, page_size):
        if any(SEPARATOR not in p.entity["RowKey"] for p in page):
            return None
        pointers += page
        read = {row.key[0]: row for row in await _expand(storage, {p.target for p in page}, Level.STUDY)}
        rows += read.values()
        for pointer in page:  # in the partition's order, newest first
            row = read.get(pointer.target[0])
            if row is None or all_studies_key(row.key[0], row.updated) != pointer.entity["RowKey"]:
                continue  # a study since deleted, or the pointer of a creation that lost a race
            if all(matches(c, row.attrs) for c in query.conditions):
                found.append(row)
        if len(found) >= wanted:
            break
    return found, _stale(pointers, rows, None, Level.STUDY)


def _stale(pointers: list[Pointer], rows: list[Row], driver: Condition | None, level: Level) -> list[Pointer]:
    """Pointers whose target no longer exists or no longer carries the value the pointer was written for.

    A pointer is live when the target's current value produces its very key (index.pointer_keys), not when
    the target matches the whole query: a word found by a fuzzy or wildcard search stays indexed even when
    the rest of the query fails. Only pointers no deeper than the rows read can be judged.
    """
    attribute = None
    if driver is not None:
        attribute = BY_KEYWORD["Modality"] if driver.attribute.keyword == "ModalitiesInStudy" else driver.attribute
    if attribute is None:
        return _stale_study_pointers(pointers, rows, level)
    live: set[tuple[str, str]] = set()
    for row in rows:
        if len(row.key) >= attribute.level:
            target = "|".join(row.key[: attribute.level])
            live.update(pointer_keys(attribute, row.attrs.get(attribute.tag), target))
    return [
        p for p in pointers
        if len(p.target) <= level and (p.entity["PartitionKey"], p.entity["RowKey"]) not in live
    ]  # fmt: skip
