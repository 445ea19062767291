"""The archive's index in Table Storage, designed so no read scans the archive.

Table `<prefix>studies` keeps one partition per study, so a store or delete commits atomically in one
entity-group transaction, guarded by ETags (optimistic concurrency: the app runs on many hosts):
    RowKey "A"                 the study: Attrs (DICOM JSON), Series, Instances, Modalities
    RowKey "B|<series>"        a series: Attrs, Instances, Modality
    RowKey "C|<series>|<sop>"  an instance: Attrs, Blob (opaque version id), TransferSyntax, Size, Frames
Counts and ModalitiesInStudy are derived from the series rows inside the same transaction, so they are
right however many stores race.

Table `<prefix>lookup` holds pointer rows (attribute value -> study/series/instance) for every searchable
attribute. They are written before the transaction that makes an instance visible and checked against
the authoritative rows on every read, so a pointer left by a failed store or an old value is harmless,
and is removed once it is old enough not to belong to a store still in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import string
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceModifiedError
from azure.data.tables import TableTransactionError, UpdateMode

from .dicom_file import EncapsulatedLayout, FrameLayout, ParsedInstance
from .dicom_json import (
    ATTRIBUTES,
    Attribute,
    DicomJson,
    Level,
    all_texts,
    first_text,
    is_empty,
    name_words,
    normalize_person_name,
    normalize_text,
    stored_tags,
    subset,
)
from .errors import DicomWebError
from .journal import DELETE, Entry, Item, add_items, close_entries, open_entry
from .storage import Storage

log = logging.getLogger(__name__)

STUDY_ROW = "A"
MAX_ATTEMPTS = 30
TRANSACTION_LIMIT = 100
ALL_STUDIES = "Studies"
STALE_POINTER_AGE = timedelta(minutes=15)
MODALITY_TAG = "00080060"

INDEXED = [a for a in ATTRIBUTES if a.searchable and a.indexed and not a.computed]


class AlreadyStored(Exception):
    """POST of an instance whose three UIDs are already stored."""


class StoredConcurrently(AlreadyStored):
    """POST of an instance another request stored while this one was committing it (45071)."""


def series_row(series: str) -> str:
    return f"B|{series}"


def instance_row(series: str, sop: str) -> str:
    return f"C|{series}|{sop}"


def _prefix_upper_bound(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def now_stamp() -> str:
    """Sortable write time; rows sort newest first by it."""
    return f"{time.time_ns():020d}"


@dataclass
class InstanceRecord:
    study: str
    series: str
    sop: str
    blob: str
    transfer_syntax: str
    size: int
    frames: FrameLayout | None
    attrs: DicomJson
    updated: str
    etag: str | None = None
    encapsulated: EncapsulatedLayout | None = None
    bulk: dict[str, tuple[int, int]] = field(default_factory=dict)
    written: datetime | None = None  # the row's Timestamp (server time)

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> InstanceRecord:
        _, series, sop = entity["RowKey"].split("|")
        frames = None
        if entity.get("Frames"):
            offset, length, count = (int(v) for v in entity["Frames"].split(","))
            frames = FrameLayout(offset, length, count)
        return cls(
            study=entity["PartitionKey"],
            series=series,
            sop=sop,
            blob=entity["Blob"],
            transfer_syntax=entity["TransferSyntax"],
            size=int(entity["Size"]),
            frames=frames,
            attrs=json.loads(entity["Attrs"]),
            updated=entity["Updated"],
            etag=entity.metadata.get("etag") if hasattr(entity, "metadata") else None,
            encapsulated=_encapsulated_from(entity.get("Encapsulated")),
            bulk={tag: (r[0], r[1]) for tag, r in json.loads(entity.get("Bulk") or "{}").items()},
            written=_timestamp(entity),
        )

    def to_entity(self) -> dict[str, Any]:
        frames = self.frames
        return {
            "PartitionKey": self.study,
            "RowKey": instance_row(self.series, self.sop),
            "Blob": self.blob,
            "TransferSyntax": self.transfer_syntax,
            "Size": str(self.size),
            "Frames": f"{frames.offset},{frames.length},{frames.count}" if frames else "",
            "Attrs": json.dumps(self.attrs),
            "Updated": self.updated,
            "Encapsulated": _encapsulated_to(self.encapsulated),
            "Bulk": json.dumps(self.bulk, separators=(",", ":")),
        }


# Table string properties hold 32K characters; a larger fragment table is not kept (frames then decode the file).
MAX_ENCAPSULATED_JSON = 30_000


def _encapsulated_to(layout: EncapsulatedLayout | None) -> str:
    if layout is None:
        return ""
    text = json.dumps({"frames": layout.frames, "pixel": layout.pixel_module}, separators=(",", ":"))
    return text if len(text) <= MAX_ENCAPSULATED_JSON else ""


def _encapsulated_from(text: str | None) -> EncapsulatedLayout | None:
    if not text:
        return None
    value = json.loads(text)
    return EncapsulatedLayout([[tuple(r) for r in frame] for frame in value["frames"]], value["pixel"])


# ---- reading the hierarchy --------------------------------------------------------------------------


def split_rows(rows: list[dict]) -> tuple[dict | None, dict[str, dict], dict[tuple[str, ...], dict]]:
    """Rows of a study partition by kind: the study row, series rows by UID, instance rows by (series, sop)."""
    study_row = next((row for row in rows if row["RowKey"] == STUDY_ROW), None)
    series_rows = {row["RowKey"][2:]: row for row in rows if row["RowKey"].startswith("B|")}
    instance_rows = {tuple(row["RowKey"].split("|")[1:]): row for row in rows if row["RowKey"].startswith("C|")}
    return study_row, series_rows, instance_rows


async def read_study_rows(storage: Storage, study: str) -> tuple[dict | None, dict[str, dict]]:
    """The study row and all its series rows: one single-partition query."""
    rows = await storage.query(
        storage.studies, "PartitionKey eq @study and RowKey lt @upper", {"study": study, "upper": "C"}
    )
    study_row, series_rows, _ = split_rows(rows)
    return study_row, series_rows


async def read_partition(storage: Storage, study: str) -> list[dict]:
    return await storage.query(storage.studies, "PartitionKey eq @study", {"study": study})


async def get_row(storage: Storage, study: str, row: str) -> dict | None:
    return await storage.get(storage.studies, study, row)


async def list_instances(
    storage: Storage, study: str, series: str | None = None, sop: str | None = None
) -> list[InstanceRecord]:
    if series is not None and sop is not None:
        entity = await get_row(storage, study, instance_row(series, sop))
        return [InstanceRecord.from_entity(entity)] if entity else []
    rows = await list_instance_rows(storage, study, series)
    return sorted((InstanceRecord.from_entity(row) for row in rows), key=_instance_order)


async def list_instance_rows(storage: Storage, study: str, series: str | None = None) -> list[dict]:
    prefix = f"C|{series}|" if series else "C|"
    return await storage.query(
        storage.studies,
        "PartitionKey eq @study and RowKey ge @lower and RowKey lt @upper",
        {"study": study, "lower": prefix, "upper": _prefix_upper_bound(prefix)},
    )


def _instance_order(record: InstanceRecord) -> tuple:
    number = first_text(record.attrs.get("00200013"))
    return (record.series, int(number) if number.lstrip("-").isdigit() else 0, record.sop)


# ---- committing a store -----------------------------------------------------------------------------


def merge_attrs(old: DicomJson, new: DicomJson) -> DicomJson:
    """The latest stored instance wins, but an empty value never overwrites a present one."""
    merged = dict(old)
    for tag, element in new.items():
        if not is_empty(element) or tag not in merged:
            merged[tag] = element
    return merged


def _too_busy() -> DicomWebError:
    return DicomWebError(
        503, "The study is being changed by many requests at once; retry shortly.", {"Retry-After": "1"}
    )


def _op(entity: dict, existing: dict | None) -> tuple:
    if existing is None:
        return ("create", entity)
    return ("update", entity, _if_unchanged(existing, mode=UpdateMode.REPLACE))


def _if_unchanged(existing: dict, **extra: Any) -> dict:
    return {"etag": existing.metadata["etag"], "match_condition": MatchConditions.IfNotModified, **extra}


def _is_conflict(error: Exception) -> bool:
    if isinstance(error, (TableTransactionError, ResourceExistsError, ResourceModifiedError)):
        return True
    return isinstance(error, HttpResponseError) and error.status_code in (409, 412)


async def _backoff(attempt: int) -> None:
    """Jittered backoff between optimistic-concurrency retries against other writers."""
    await asyncio.sleep(random.uniform(0, min(0.5, 0.01 * 2**attempt)))


def _study_entity(study: str, attrs: DicomJson, series_rows: dict[str, dict], updated: str, created: str) -> dict:
    modalities = sorted({row["Modality"] for row in series_rows.values() if row.get("Modality")})
    return {
        "PartitionKey": study,
        "RowKey": STUDY_ROW,
        "Attrs": json.dumps(attrs),
        "Series": len(series_rows),
        "Instances": sum(int(row["Instances"]) for row in series_rows.values()),
        "Modalities": json.dumps(modalities),
        "Updated": updated,
        "Created": created,
    }


def study_created(study_row: dict) -> str:
    """When the study's first instance was stored: study searches list studies newest first by it (rows
    written before 2026-11-23 have no Created; their last update stands in)."""
    return study_row.get("Created") or study_row["Updated"]


def all_studies_key(study: str, created: str | None) -> str:
    """The study's pointer row in the partition of every study: newest first, so a page of the newest
    studies is a page of that partition (rows written before 2026-11-23 are keyed by the UID alone)."""
    if created is None:
        return study
    return f"{10**20 - 1 - int(created):020d}{SEPARATOR}{study}"


def _series_entity(study: str, series: str, attrs: DicomJson, instances: int, updated: str) -> dict:
    return {
        "PartitionKey": study,
        "RowKey": series_row(series),
        "Attrs": json.dumps(attrs),
        "Instances": instances,
        "Modality": first_text(attrs.get(MODALITY_TAG)).upper(),
        "Updated": updated,
    }


class CommitDeadlinePassed(Exception):
    """The store took so long that cleanup may already be rolling its version back."""


@dataclass
class Commit:
    """One staged instance to make visible; the outcome is filled in by commit_instances."""

    item: ParsedInstance
    entry: Entry  # its journal entry; the version committed is the entry's first item
    replaced: InstanceRecord | None = None
    error: Exception | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.item.series_uid, self.item.sop_uid


async def commit_instances(storage: Storage, commits: list[Commit], upsert: bool) -> None:
    """Make stored blobs visible: a study's instances together, in as few entity-group transactions as fit."""
    pending = list(commits)
    while pending:
        group, pending = _next_group(pending)
        await _commit_group(storage, group, upsert)


def _next_group(pending: list[Commit]) -> tuple[list[Commit], list[Commit]]:
    """Instances of the first pending one's study, each SOP once, within one transaction's 100 operations."""
    study = pending[0].item.study_uid
    group: list[Commit] = []
    series: set[str] = set()
    rest: list[Commit] = []
    for commit in pending:
        grows = 0 if commit.item.series_uid in series else 1
        fits = len(group) + len(series) + grows + 1 <= TRANSACTION_LIMIT
        if commit.item.study_uid == study and fits and all(c.key != commit.key for c in group):
            group.append(commit)
            series.add(commit.item.series_uid)
        else:
            rest.append(commit)
    return group, rest


async def _read_for_commit(
    storage: Storage, study: str, keys: list[tuple[str, str]]
) -> tuple[dict | None, dict[str, dict], dict[tuple[str, ...], dict]]:
    """The study row, its series rows and the rows of the committing instances that already exist."""
    if len(keys) == 1:  # the common case, one query: study and series rows, and the instance's own row
        rows = await storage.query(
            storage.studies,
            "PartitionKey eq @study and (RowKey lt @series_end or RowKey eq @row )",
            {"study": study, "series_end": "C", "row": instance_row(*keys[0])},
        )
        study_row, series_rows, instance_rows = split_rows(rows)
    else:
        (study_row, series_rows), *found = await asyncio.gather(
            read_study_rows(storage, study),
            *(list_instance_rows(storage, study, series) for series in sorted({s for s, _ in keys})),
        )
        _, _, instance_rows = split_rows([row for part in found for row in part])
    wanted = set(keys)
    return study_row, series_rows, {key: row for key, row in instance_rows.items() if key in wanted}


async def _commit_group(storage: Storage, group: list[Commit], upsert: bool) -> None:
    study = group[0].item.study_uid
    absent_at_first_read: set[tuple[str, str]] | None = None
    for attempt in range(MAX_ATTEMPTS):
        for commit in group:
            if commit.error is None and commit.entry.past_deadline():
                commit.error = CommitDeadlinePassed()
        live = [c for c in group if c.error is None]
        if not live:
            return
        study_row, series_rows, existing = await _read_for_commit(storage, study, [c.key for c in live])
        if absent_at_first_read is None:
            absent_at_first_read = {c.key for c in live if c.key not in existing}
        for commit in live:
            if commit.key in existing and not upsert:
                racing = commit.key in absent_at_first_read
                commit.error = StoredConcurrently() if racing else AlreadyStored()
        live = [c for c in live if c.error is None]
        if not live:
            return
        replacing = [c for c in live if c.key in existing]
        await asyncio.gather(
            *(add_items(storage, c.entry, [Item(study, *c.key, existing[c.key]["Blob"])]) for c in replacing)
        )
        operations, pointers = _group_changes(study, live, study_row, series_rows, existing)
        await write_pointers(storage, pointers)
        try:
            await storage.studies.submit_transaction(operations)
        except Exception as error:
            if not _is_conflict(error):
                for commit in live:
                    commit.error = error
                return
            await _backoff(attempt)
            continue
        for commit in live:
            row = existing.get(commit.key)
            commit.replaced = InstanceRecord.from_entity(row) if row else None
        return
    for commit in group:
        commit.error = commit.error or _too_busy()


def _group_changes(
    study: str, live: list[Commit], study_row: dict | None, series_rows: dict[str, dict], existing: dict
) -> tuple[list[tuple], list[tuple[str, str]]]:
    """The transaction's operations (study, series, instance rows) and the lookup pointers they need."""
    updated = now_stamp()
    old_study_attrs = json.loads(study_row["Attrs"]) if study_row else {}
    study_attrs = old_study_attrs
    for commit in live:
        study_attrs = merge_attrs(study_attrs, subset(commit.item.metadata, stored_tags(Level.STUDY)))
    created = study_created(study_row) if study_row else updated
    pointers = _changed_pointers(Level.STUDY, study, old_study_attrs, study_attrs, None if study_row else created)
    new_series_rows = dict(series_rows)
    operations: list[tuple] = []
    for series in sorted({c.item.series_uid for c in live}):
        members = [c for c in live if c.item.series_uid == series]
        old_series = series_rows.get(series)
        old_attrs = json.loads(old_series["Attrs"]) if old_series else {}
        attrs = old_attrs
        for commit in members:
            attrs = merge_attrs(attrs, subset(commit.item.metadata, stored_tags(Level.SERIES)))
        count = (int(old_series["Instances"]) if old_series else 0) + sum(c.key not in existing for c in members)
        new_series_rows[series] = _series_entity(study, series, attrs, count, updated)
        operations.append(_op(new_series_rows[series], old_series))
        pointers += _changed_pointers(Level.SERIES, f"{study}|{series}", old_attrs, attrs)
    for commit in live:
        item = commit.item
        record = InstanceRecord(
            study, item.series_uid, item.sop_uid, commit.entry.items[0].version, item.transfer_syntax, item.size,
            item.frames, subset(item.metadata, stored_tags(Level.INSTANCE)), updated,
            encapsulated=item.encapsulated, bulk=item.bulk,
        )  # fmt: skip
        operations.append(_op(record.to_entity(), existing.get(commit.key)))
        if commit.key not in existing:
            pointers += _changed_pointers(Level.INSTANCE, f"{study}|{item.series_uid}|{item.sop_uid}", {}, record.attrs)
    operations.insert(0, _op(_study_entity(study, study_attrs, new_series_rows, updated, created), study_row))
    return operations, pointers


# ---- deleting -------------------------------------------------------------------------------------


def _chunks(records: list[InstanceRecord]) -> Iterable[list[InstanceRecord]]:
    """Split so each transaction (instances + their series + the study) stays within 100 operations."""
    chunk: list[InstanceRecord] = []
    series: set[str] = set()
    for record in records:
        grows = 0 if record.series in series else 1
        if len(chunk) + len(series) + grows + 2 > TRANSACTION_LIMIT:
            yield chunk
            chunk, series = [], set()
            grows = 1
        chunk.append(record)
        series.add(record.series)
    if chunk:
        yield chunk


def _items(records: list[InstanceRecord]) -> list[Item]:
    return [Item(r.study, r.series, r.sop, r.blob) for r in records]


async def delete_instances(storage: Storage, records: list[InstanceRecord]) -> list[InstanceRecord]:
    """Remove instances from the index, then their blobs, journaled so a crash is finished by cleanup."""
    deleted: list[InstanceRecord] = []
    for chunk in _chunks(records):
        entry = await open_entry(storage, DELETE, _items(chunk))
        removed = await delete_chunk(storage, chunk, entry)
        if not await storage.delete_versions(*(record.blob for record in removed)):
            await close_entries(storage, [entry])
        deleted += removed
    return deleted


async def delete_chunk(storage: Storage, chunk: list[InstanceRecord], entry: Entry) -> list[InstanceRecord]:
    """Remove up to one transaction's instances from the index, keeping the study's counts right."""
    study = chunk[0].study
    for attempt in range(MAX_ATTEMPTS):
        study_row, series_rows = await read_study_rows(storage, study)
        if study_row is None or not chunk:
            return []
        removed = Counter(record.series for record in chunk)
        updated = now_stamp()
        operations: list[tuple] = [
            ("delete", record.to_entity(), {"etag": record.etag, "match_condition": MatchConditions.IfNotModified})
            for record in chunk
        ]
        remaining: dict[str, dict] = {}
        for series, row in series_rows.items():
            count = int(row["Instances"]) - removed.get(series, 0)
            if series not in removed:
                remaining[series] = row
            elif count > 0:
                remaining[series] = _series_entity(study, series, json.loads(row["Attrs"]), count, updated)
                operations.append(("update", remaining[series], _if_unchanged(row, mode=UpdateMode.REPLACE)))
            else:
                operations.append(("delete", row, _if_unchanged(row)))
        if remaining:
            new_study = _study_entity(
                study, json.loads(study_row["Attrs"]), remaining, updated, study_created(study_row)
            )
            operations.append(("update", new_study, _if_unchanged(study_row, mode=UpdateMode.REPLACE)))
        else:
            operations.append(("delete", study_row, _if_unchanged(study_row)))
        try:
            await storage.studies.submit_transaction(operations)
        except Exception as error:
            if not _is_conflict(error):
                raise
        else:
            emptied = [row for series, row in series_rows.items() if series not in remaining]
            await _drop_pointers_of(storage, chunk, None if remaining else study_row, emptied)
            return chunk
        # Someone changed the study meanwhile: re-read what we are deleting (it may be gone or replaced).
        fresh = await asyncio.gather(*(list_instances(storage, r.study, r.series, r.sop) for r in chunk))
        chunk = [found[0] for found in fresh if found]
        await add_items(storage, entry, _items(chunk))
        await _backoff(attempt)
    raise _too_busy()


async def _drop_pointers_of(
    storage: Storage, records: list[InstanceRecord], study_row: dict | None, series_rows: list[dict]
) -> None:
    """Remove the lookup pointers of deleted rows: instances, emptied series, an emptied study.

    A pointer is removed only if it was written no later than the row it served (Table timestamps), so a
    store that re-created the same value since keeps its pointer. A failure leaves stale pointers, which
    searches verify and remove anyway; the delete itself has been committed.
    """
    owned: list[tuple[list[tuple[str, str]], datetime | None]] = []
    for record in records:
        target = f"{record.study}|{record.series}|{record.sop}"
        owned.append((_changed_pointers(Level.INSTANCE, target, {}, record.attrs), record.written))
    for row in series_rows:
        target = f"{row['PartitionKey']}|{row['RowKey'][2:]}"
        owned.append((_changed_pointers(Level.SERIES, target, {}, json.loads(row["Attrs"])), _timestamp(row)))
    if study_row is not None:
        study = study_row["PartitionKey"]
        owned.append(
            (
                _changed_pointers(
                    Level.STUDY, study, {}, json.loads(study_row["Attrs"]), study_row.get("Created") or ""
                ),
                _timestamp(study_row),
            )
        )
    try:
        await asyncio.gather(*(_drop_pointer(storage, pk, rk, written) for keys, written in owned for pk, rk in keys))
    except Exception:
        log.warning("lookup pointers of a deleted study were left for searches to remove", exc_info=True)


async def _drop_pointer(storage: Storage, partition: str, row: str, written: datetime | None) -> None:
    entity = await storage.get(storage.lookup, partition, row)
    stamp = _timestamp(entity) if entity is not None else None
    if entity is None or written is None or stamp is None or stamp > written:
        return
    with contextlib.suppress(HttpResponseError):  # rewritten or removed meanwhile
        await storage.lookup.delete_entity(partition, row, etag=entity.metadata["etag"],
                                           match_condition=MatchConditions.IfNotModified)  # fmt: skip


# ---- lookup pointers ------------------------------------------------------------------------------

_KEY_SAFE = frozenset(string.ascii_letters + string.digits + ".-_ ")
# In range-searchable row keys the value comes first, then this separator, then the target. It sorts
# below every character key_escape() emits, so value ranges and prefixes are plain row-key ranges.
SEPARATOR = "!"
MAX_KEY_VALUE = 200


def key_escape(text: str) -> str:
    """Table keys forbid / \\ # ? and control characters; escape all but a safe, order-friendly set."""
    return "".join(c if c in _KEY_SAFE else "".join(f"%{b:02X}" for b in c.encode()) for c in text[:MAX_KEY_VALUE])


def is_range_vr(vr: str) -> bool:
    return vr in ("DA", "DT", "TM")


def exact_partition(attribute: Attribute, value: str) -> str:
    if attribute.vr == "PN":
        return f"{attribute.keyword}|{key_escape(normalize_person_name(value))}"
    if attribute.vr == "UI":
        return f"{attribute.keyword}|{key_escape(value)}"
    return f"{attribute.keyword}|{key_escape(normalize_text(value))}"


def word_partition(attribute: Attribute, word: str) -> str:
    return f"{attribute.keyword}~{key_escape(word[:1])}"


def pointer_keys(attribute: Attribute, element: dict | None, target: str) -> list[tuple[str, str]]:
    values = all_texts(element)
    if is_range_vr(attribute.vr):
        return [(attribute.keyword, f"{key_escape(v)}{SEPARATOR}{target}") for v in values]
    keys = [(exact_partition(attribute, v), target) for v in values]
    if attribute.vr == "PN":
        words = sorted({word for v in values for word in name_words(v)})
        keys += [(word_partition(attribute, w), f"{key_escape(w)}{SEPARATOR}{target}") for w in words]
    return keys


def _changed_pointers(
    level: Level, target: str, old: DicomJson, new: DicomJson, created: str | None = None
) -> list[tuple[str, str]]:
    """Pointers for attributes whose value changed; with `created` ("" for a row without it), also the
    study's row in the partition of every study."""
    keys = [(ALL_STUDIES, all_studies_key(target, created or None))] if created is not None else []
    for attribute in INDEXED:
        if attribute.level == level and new.get(attribute.tag) != old.get(attribute.tag):
            keys += pointer_keys(attribute, new.get(attribute.tag), target)
    return keys


async def write_pointers(storage: Storage, keys: list[tuple[str, str]]) -> None:
    await asyncio.gather(*(storage.lookup.upsert_entity({"PartitionKey": pk, "RowKey": rk}) for pk, rk in keys))


@dataclass
class Pointer:
    target: tuple[str, ...]
    entity: dict


async def read_pointers(
    storage: Storage, partition: str, lower: str | None = None, upper: str | None = None
) -> list[Pointer]:
    """Pointers of one lookup partition, optionally within a row-key range [lower, upper)."""
    query_filter, params = "PartitionKey eq @pk", {"pk": partition}
    if lower is not None:
        query_filter += " and RowKey ge @lower"
        params["lower"] = lower
    if upper is not None:
        query_filter += " and RowKey lt @upper"
        params["upper"] = upper
    entities = await storage.query(storage.lookup, query_filter, params)
    return [_pointer(entity) for entity in entities]


def _pointer(entity: dict) -> Pointer:
    target = entity["RowKey"].rsplit(SEPARATOR, 1)[-1]
    return Pointer(tuple(target.split("|")), entity)


async def read_pointer_pages(storage: Storage, partition: str, page_size: int) -> AsyncIterator[list[Pointer]]:
    """The pointers of one lookup partition in row-key order, a page at a time, for searches that stop early."""
    async for page in storage.query_pages(storage.lookup, "PartitionKey eq @pk", {"pk": partition}, page_size):
        yield [_pointer(entity) for entity in page]


async def read_pointer_partitions(storage: Storage, lower: str, upper: str) -> list[Pointer]:
    """Pointers of every lookup partition in [lower, upper): the values sharing a prefix."""
    query_filter = "PartitionKey ge @lower and PartitionKey lt @upper"
    entities = await storage.query(storage.lookup, query_filter, {"lower": lower, "upper": upper})
    return [_pointer(entity) for entity in entities]


async def drop_stale_pointers(storage: Storage, pointers: list[Pointer]) -> None:
    """Remove pointers that no longer match, unless recent (a store may be mid-flight) or rewritten."""
    cutoff = datetime.now(UTC) - STALE_POINTER_AGE
    old = [p for p in pointers if _timestamp(p.entity) is not None and _timestamp(p.entity) < cutoff]
    for pointer in old:
        with contextlib.suppress(HttpResponseError):  # rewritten by a store meanwhile, or already gone
            await storage.lookup.delete_entity(
                pointer.entity["PartitionKey"],
                pointer.entity["RowKey"],
                etag=pointer.entity.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )


def _timestamp(entity: dict) -> datetime | None:
    stamp = getattr(entity, "metadata", {}).get("timestamp")
    return stamp if isinstance(stamp, datetime) else None
