"""Lookup pointers: attribute value -> study, series or instance, so no search reads the archive.

Table `<prefix>lookup` holds a pointer row for every indexed attribute value. This module alone knows
their keys. Pointers are written before the transaction that makes an instance visible and checked
against the study rows on every read, so a pointer left by a failed store or an old value is harmless,
and is removed once it is old enough not to belong to a store still in flight.

    PartitionKey                 RowKey                 serves
    <Keyword>|<value>            <target>               exact values (UIDs, codes)
    <Keyword>|<ab>!<hash>        <target>               exact values of patient attributes, and wildcards by
                                                        the value's first 2 characters
    <Keyword>~<first letter>     <abc>!<hash>!<target>  a word of a person name, by prefix (first 3 letters,
                                                        the rest verified against the study rows)
    <Keyword> (DA, DT, TM)       <value>!<target>       dates and times of studies and series, by range
    Studies                      <age>!<study>          every study, newest first by creation
A target is "study", "study|series" or "study|series|sop".

Patient attributes (PROTECTED) are never readable in a key: a key holds at most a short prefix and an HMAC
of the whole value under DICOM_INDEX_KEY, a secret of the deployment, so whoever reads the table (or a
trace of its URLs) cannot read or confirm a name, an ID or a birth date. The key must never change:
pointers written under another key are not found.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import string
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError

from dicom.attributes import ATTRIBUTES, Attribute, Level, is_range_vr
from dicom.values import DicomJson, all_texts, name_words, normalize_person_name, normalize_text

from .clients import Storage
from .rows import timestamp

log = logging.getLogger(__name__)

INDEXED = [a for a in ATTRIBUTES if a.searchable and a.indexed and not a.computed]
STALE_POINTER_AGE = timedelta(minutes=15)
ALL_STUDIES = "Studies"
_KEY_SAFE = frozenset(string.ascii_letters + string.digits + ".-_ ")
# In range-searchable row keys the value comes first, then this separator, then the target. It sorts
# below every character key_escape() emits, so value ranges and prefixes are plain row-key ranges.
SEPARATOR = "!"
AFTER_SEPARATOR = '"'  # sorts right after SEPARATOR: the end of a value's keys
AFTER_ESCAPED = "{"  # sorts after every character key_escape() emits: the end of a prefix's keys
MAX_KEY_VALUE = 200
READ_CONCURRENCY = 16

Target = tuple[str, ...]
Key = tuple[str, str]  # (PartitionKey, RowKey)


PROTECTED = frozenset(
    {"PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "ReferringPhysicianName", "StudyDescription"}
)
VISIBLE_VALUE_PREFIX = 2  # characters of a protected value left readable, for wildcard searches
VISIBLE_WORD_PREFIX = 3  # letters of a name word left readable, for fuzzy (prefix) name searches
LOCAL_INDEX_KEY = "local-development-index-key"  # only where no deployment is (WEBSITE_HOSTNAME unset)


class IndexKeyMissing(RuntimeError):
    """The deployment has no DICOM_INDEX_KEY: patient attributes cannot be indexed safely."""


@cache
def _index_key() -> bytes:
    key = os.environ.get("DICOM_INDEX_KEY", "")
    if not key and os.environ.get("WEBSITE_HOSTNAME"):
        raise IndexKeyMissing("Set DICOM_INDEX_KEY (a secret of at least 32 characters; the Bicep sets one).")
    return (key or LOCAL_INDEX_KEY).encode()


def keyed_hash(name: str, text: str) -> str:
    """An HMAC of a value under DICOM_INDEX_KEY, for table keys that must not be readable (`name`: what the
    value is, so equal values of different attributes differ)."""
    return hmac.new(_index_key(), f"{name}|{text}".encode(), hashlib.sha256).hexdigest()[:32]


def _keyed_hash(attribute: Attribute, text: str) -> str:
    return keyed_hash(attribute.keyword, text)


def _protected(attribute: Attribute) -> bool:
    """Patient attributes, and extended query tags (a private tag may hold anything) other than dates and times."""
    return attribute.keyword in PROTECTED or (attribute.extended and not is_range_vr(attribute.vr))


def serves_ranges(attribute: Attribute) -> bool:
    """Whether range searches on the attribute can be driven by the lookup (values readable in order)."""
    return is_range_vr(attribute.vr) and not _protected(attribute)


def key_escape(text: str) -> str:
    """Table keys forbid / \\ # ? and control characters; escape all but a safe, order-friendly set."""
    return "".join(c if c in _KEY_SAFE else "".join(f"%{b:02X}" for b in c.encode()) for c in text[:MAX_KEY_VALUE])


def _normalized(attribute: Attribute, value: str) -> str:
    if attribute.vr == "PN":
        return normalize_person_name(value)
    return value if attribute.vr == "UI" else normalize_text(value)


def _exact_partition(attribute: Attribute, value: str) -> str:
    text = _normalized(attribute, value)
    if _protected(attribute):
        visible = key_escape(text[:VISIBLE_VALUE_PREFIX])
        return f"{attribute.keyword}|{visible}{SEPARATOR}{_keyed_hash(attribute, text)}"
    return f"{attribute.keyword}|{key_escape(text)}"


def _value_prefix_partitions(attribute: Attribute, prefix: str) -> tuple[str, str]:
    """[lower, upper) of the exact partitions whose value may start with `prefix`."""
    text = _normalized(attribute, prefix)
    if _protected(attribute):
        text = text[:VISIBLE_VALUE_PREFIX]
    lower = f"{attribute.keyword}|{key_escape(text)}"
    return lower, lower + AFTER_ESCAPED


def _word_partition(attribute: Attribute, word: str) -> str:
    return f"{attribute.keyword}~{key_escape(word[:1])}"


def _word_key(attribute: Attribute, word: str) -> str:
    """A name word's row-key start: its first letters readable, the whole word only as a keyed hash."""
    return f"{key_escape(word[:VISIBLE_WORD_PREFIX])}{SEPARATOR}{_keyed_hash(attribute, word)}"


def listing_key(study: str, created: str | None) -> Key:
    """The study's row in the partition of every study: newest first, so a page of the newest studies is a
    page of that partition (rows written before 2026-11-23 have no creation time and are keyed by UID)."""
    if created is None:
        return ALL_STUDIES, study
    return ALL_STUDIES, f"{10**20 - 1 - int(created):020d}{SEPARATOR}{study}"


def pointer_keys(attribute: Attribute, element: dict | None, target: Target) -> list[Key]:
    """The pointers an attribute's value needs for a target."""
    joined = "|".join(target)
    values = all_texts(element)
    if serves_ranges(attribute):
        return [(attribute.keyword, f"{key_escape(v)}{SEPARATOR}{joined}") for v in values]
    keys = [(_exact_partition(attribute, v), joined) for v in values]
    if attribute.vr == "PN":
        words = sorted({word for v in values for word in name_words(v)})
        keys += [(_word_partition(attribute, w), f"{_word_key(attribute, w)}{SEPARATOR}{joined}") for w in words]
    return keys


def changed_pointers(
    level: Level, target: Target, old: DicomJson, new: DicomJson, extended: Iterable[Attribute] = ()
) -> list[Key]:
    """Pointers for the indexed attributes of `level` (and the extended query tags) whose value changed."""
    keys: list[Key] = []
    for attribute in [*INDEXED, *extended]:
        if attribute.level == level and new.get(attribute.tag) != old.get(attribute.tag):
            keys += pointer_keys(attribute, new.get(attribute.tag), target)
    return keys


async def write_pointers(storage: Storage, keys: list[Key]) -> None:
    await asyncio.gather(*(storage.lookup.upsert_entity({"PartitionKey": pk, "RowKey": rk}) for pk, rk in keys))


# ---- candidates for the search planner --------------------------------------------------------------


@dataclass(frozen=True)
class Pointer:
    """A candidate a search must verify against the study rows."""

    target: Target
    key: Key
    etag: str
    written: datetime | None

    @property
    def in_listing_order(self) -> bool:
        """A pointer of every study's partition keyed by creation time (not by UID alone, as before 2026-11-23)."""
        return SEPARATOR in self.key[1]


def _pointer(entity: dict) -> Pointer:
    target = entity["RowKey"].rsplit(SEPARATOR, 1)[-1]
    return Pointer(tuple(target.split("|")), (entity["PartitionKey"], entity["RowKey"]),
                   entity.metadata["etag"], timestamp(entity))  # fmt: skip


async def _read(storage: Storage, partition: str, lower: str | None = None, upper: str | None = None) -> list[Pointer]:
    """Pointers of one lookup partition, optionally within a row-key range [lower, upper)."""
    query_filter, params = "PartitionKey eq @pk", {"pk": partition}
    if lower is not None:
        query_filter += " and RowKey ge @lower"
        params["lower"] = lower
    if upper is not None:
        query_filter += " and RowKey lt @upper"
        params["upper"] = upper
    return [_pointer(entity) for entity in await storage.query(storage.lookup, query_filter, params)]


async def with_values(storage: Storage, attribute: Attribute, values: list[str]) -> list[Pointer]:
    """Targets whose value equals one of `values` (as the attribute's VR compares them), at most
    READ_CONCURRENCY partitions read at once."""
    semaphore = asyncio.Semaphore(READ_CONCURRENCY)

    async def one(partition: str) -> list[Pointer]:
        async with semaphore:
            return await _read(storage, partition)

    found = await asyncio.gather(*(one(p) for p in dict.fromkeys(_exact_partition(attribute, v) for v in values)))
    return [pointer for pointers in found for pointer in pointers]


async def in_range(storage: Storage, attribute: Attribute, lower: str | None, upper: str | None) -> list[Pointer]:
    """Targets whose date or time lies in [lower, upper] (either bound open when None)."""
    return await _read(
        storage,
        attribute.keyword,
        key_escape(lower) if lower else None,
        key_escape(upper) + AFTER_SEPARATOR if upper else None,
    )


async def with_word_prefix(storage: Storage, attribute: Attribute, prefix: str) -> list[Pointer]:
    """Targets with a person-name word that may start with `prefix` (normalised): those sharing its first
    letters, which the search verifies against the study rows."""
    escaped = key_escape(prefix[:VISIBLE_WORD_PREFIX])
    return await _read(storage, _word_partition(attribute, prefix), escaped, escaped + AFTER_ESCAPED)


async def with_value_prefix(storage: Storage, attribute: Attribute, prefix: str) -> list[Pointer]:
    """Targets whose value may start with `prefix`: the range of exact partitions sharing it (for patient
    attributes, sharing its readable first characters; the search verifies the rest)."""
    lower, upper = _value_prefix_partitions(attribute, prefix)
    query_filter = "PartitionKey ge @lower and PartitionKey lt @upper"
    entities = await storage.query(storage.lookup, query_filter, {"lower": lower, "upper": upper})
    return [_pointer(entity) for entity in entities]


async def all_studies(storage: Storage) -> list[Pointer]:
    return await _read(storage, ALL_STUDIES)


async def newest_studies(storage: Storage, page_size: int) -> AsyncIterator[list[Pointer]]:
    """Every study newest first, a page at a time, for searches that stop once their page is full."""
    pages = storage.query_pages(storage.lookup, "PartitionKey eq @pk", {"pk": ALL_STUDIES}, page_size)
    async for page in pages:
        yield [_pointer(entity) for entity in page]


def is_listing_of(pointer: Pointer, study: str, created: str) -> bool:
    """Whether the pointer is the study's listing for the creation time its row holds now."""
    return pointer.key == listing_key(study, created)


# ---- staleness ----------------------------------------------------------------------------------------


def stale_pointers(
    pointers: Iterable[Pointer], attribute: Attribute, rows: Iterable[tuple[Target, DicomJson]], depth: int
) -> list[Pointer]:
    """Pointers of `attribute` whose target, read at `depth` (rows given with their current values), is gone or
    no longer carries the value the pointer was written for.

    A pointer is live when the target's current value produces its very key, not when the target matches the
    whole query: a word found by a fuzzy search stays indexed when the rest of the query fails. Only pointers
    no deeper than the rows read can be judged.
    """
    live: set[Key] = set()
    for target, attrs in rows:
        if len(target) >= attribute.level:
            live.update(pointer_keys(attribute, attrs.get(attribute.tag), target[: attribute.level]))
    return [p for p in pointers if len(p.target) <= depth and p.key not in live]


def stale_listings(pointers: Iterable[Pointer], studies: dict[str, str | None]) -> list[Pointer]:
    """Listings of studies that are gone, or (where `studies` gives the creation time) that a lost race wrote
    with another creation time. Studies read only below the study level give None: presence alone is judged."""
    stale = []
    for pointer in pointers:
        study = pointer.target[0]
        if study not in studies or (
            (created := studies[study]) is not None
            and pointer.key not in (listing_key(study, created), listing_key(study, None))
        ):
            stale.append(pointer)
    return stale


async def drop_stale(storage: Storage, pointers: list[Pointer]) -> None:
    """Remove pointers that no longer match, unless recent (a store may be mid-flight) or rewritten."""
    cutoff = datetime.now(UTC) - STALE_POINTER_AGE
    for pointer in pointers:
        if pointer.written is not None and pointer.written < cutoff:
            await _delete_unchanged(storage, pointer.key, pointer.etag)


async def _delete_unchanged(storage: Storage, key: Key, etag: str) -> None:
    with contextlib.suppress(HttpResponseError):  # rewritten by a store meanwhile, or already gone
        await storage.lookup.delete_entity(*key, etag=etag, match_condition=MatchConditions.IfNotModified)


async def drop_attribute(storage: Storage, attribute: Attribute) -> int:
    """Remove every pointer of an attribute (a deleted extended query tag); how many were removed."""
    name = attribute.keyword
    ranges = [(name, name + "\0"), (f"{name}|", f"{name}|{AFTER_ESCAPED}"), (f"{name}~", f"{name}~{AFTER_ESCAPED}")]
    removed = 0
    for lower, upper in ranges:
        entities = await storage.query(storage.lookup, "PartitionKey ge @lower and PartitionKey lt @upper",
                                       {"lower": lower, "upper": upper})  # fmt: skip
        by_partition: dict[str, list[dict]] = {}
        for entity in entities:
            by_partition.setdefault(entity["PartitionKey"], []).append(entity)
        for group in by_partition.values():
            for start in range(0, len(group), 100):
                await storage.lookup.submit_transaction([("delete", e) for e in group[start : start + 100]])
                removed += len(group[start : start + 100])
    return removed


async def drop_owned(storage: Storage, owned: list[tuple[list[Key], datetime | None]]) -> None:
    """Remove the pointers of deleted rows, each only if written no later than the row it served (Table
    timestamps), so a store that re-created the same value since keeps its pointer. A failure leaves stale
    pointers, which searches verify and remove anyway."""

    async def drop(key: Key, row_written: datetime | None) -> None:
        entity = await storage.get(storage.lookup, *key)
        written = timestamp(entity) if entity is not None else None
        if entity is None or row_written is None or written is None or written > row_written:
            return
        await _delete_unchanged(storage, key, entity.metadata["etag"])

    try:
        await asyncio.gather(*(drop(key, written) for keys, written in owned for key in keys))
    except Exception:
        log.warning("lookup pointers of deleted rows were left for searches to remove", exc_info=True)
