"""Committing a store: staged blobs become visible when their rows are written, a study at a time.

A study's instances are committed together in as few entity-group transactions as fit; the lookup
pointers they need are written first, so no visible instance lacks one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from dicom.attributes import BY_KEYWORD, Attribute, Level, stored_tags
from dicom.parsing import ParsedInstance
from dicom.values import DicomJson, is_empty, subset

from . import changefeed, extended_tags
from .clients import Storage
from .journal import Entry, Item, add_items
from .lookup import STALE_POINTER_AGE, Key, changed_pointers, listing_key, with_values, write_pointers
from .reads import read_instance, read_rows_for_commit
from .rows import InstanceRecord, SeriesRow, StudyPartition, StudyRow, now_stamp
from .transactions import Conflict, StudyBusy, create_or_replace, fitting_groups, retry_on_conflict, submit

log = logging.getLogger(__name__)


class AlreadyStored(Exception):
    """POST of an instance whose three UIDs are already stored."""


class StoredConcurrently(AlreadyStored):
    """POST of an instance another request stored while this one was committing it (45071)."""


class StoredElsewhere(Exception):
    """A SOP Instance UID the archive already holds in another study or series: a SOP Instance UID names one
    instance worldwide (PS3.5 9.1), so a second copy under other parents would be two truths about one image."""

    def __init__(self, study: str, series: str) -> None:
        super().__init__(study, series)
        self.study = study
        self.series = series


class CommitDeadlinePassed(Exception):
    """The store took so long that cleanup may already be rolling its version back."""


@dataclass
class Commit:
    """One staged instance to make visible; the outcome is filled in by commit_instances."""

    item: ParsedInstance
    entry: Entry  # its journal entry; the version committed is the entry's first item
    replaced: InstanceRecord | None = None
    error: Exception | None = None
    unrecorded: bool = False  # committed, but not yet in the change feed: its journal entry stays open
    differing_patient: list[str] = field(default_factory=list)  # keywords that disagree with the study's

    @property
    def key(self) -> tuple[str, str]:
        return self.item.series_uid, self.item.sop_uid


def merge_attrs(old: DicomJson, new: DicomJson) -> DicomJson:
    """The latest stored instance wins, but an empty value never overwrites a present one."""
    merged = dict(old)
    for tag, element in new.items():
        if not is_empty(element) or tag not in merged:
            merged[tag] = element
    return merged


@dataclass
class Prepared:
    """What a store read and wrote while its first file was still uploading, so that the commit of that one
    instance starts at its transaction: the study's rows as they were, the other parents its SOP Instance UID
    has, the extended tags, and the lookup pointers a commit against those rows needs (already written)."""

    study: str
    key: tuple[str, str]
    partition: StudyPartition
    elsewhere: StoredElsewhere | None
    extended: Extended
    updated: str
    written: set[Key]
    at: float = field(default_factory=time.monotonic)

    def fresh(self) -> bool:
        """Its pointers surely still exist: past PREPARED_FOR, a search may have dropped them as stale
        (lookup.STALE_POINTER_AGE)."""
        return time.monotonic() - self.at < PREPARED_FOR.total_seconds()

    def serves(self, group: list[Commit]) -> bool:
        """Its reads are the group's own first reads: the group is that one instance."""
        return self.fresh() and len(group) == 1 and group[0].key == self.key


PREPARED_FOR = STALE_POINTER_AGE / 3


async def prepare(storage: Storage, item: ParsedInstance, upsert: bool) -> Prepared | None:
    """Run the commit's reads and pointer writes beside the upload; None if they failed (the commit then does
    them itself, and meets the same failure where it is answered properly)."""
    key = (item.series_uid, item.sop_uid)
    try:
        partition, elsewhere, extended = await asyncio.gather(
            read_rows_for_commit(storage, item.study_uid, [key]),
            _stored_elsewhere(storage, item.study_uid, [item]),
            _extended(),
        )
        updated, refused = now_stamp(), (key in partition.instances and not upsert) or bool(elsewhere)
        would_be = Commit(item, Entry("", "", "", [Item(item.study_uid, *key, "")], 0.0))
        pointers = [] if refused else _group_changes(item.study_uid, [would_be], partition, extended, updated)[1]
        await write_pointers(storage, pointers)
    except Exception:
        log.info("store: the commit's reads ahead of the upload failed; the commit reads itself", exc_info=True)
        return None
    return Prepared(item.study_uid, key, partition, elsewhere.get(item.sop_uid), extended, updated, set(pointers))


async def commit_instances(
    storage: Storage, commits: list[Commit], upsert: bool, prepared: Prepared | None = None
) -> None:
    """Make stored blobs visible; each commit's outcome is set on it (error None when committed)."""
    for group in _groups(commits):
        same_study = prepared is not None and prepared.study == group[0].item.study_uid
        await _commit_group(storage, group, upsert, prepared if same_study else None)


def _groups(commits: list[Commit]) -> Iterator[list[Commit]]:
    """One study at a time, each SOP once per group (a repeat waits for a later one), one transaction each."""
    pending = list(commits)
    while pending:
        study, seen = pending[0].item.study_uid, set()
        batch, rest = [], []
        for commit in pending:
            if commit.item.study_uid == study and commit.key not in seen:
                batch.append(commit)
                seen.add(commit.key)
            else:
                rest.append(commit)
        yield from fitting_groups(batch, lambda commit: commit.item.series_uid, _row_bytes)
        pending = rest


async def _stored_elsewhere(storage: Storage, study: str, items: list[ParsedInstance]) -> dict[str, StoredElsewhere]:
    """The SOP Instance UIDs stored under another study or series (found through their lookup pointers, each
    confirmed by reading the instance row it points at)."""
    by_sop = {item.sop_uid: item for item in items}
    pointers = await with_values(storage, BY_KEYWORD["SOPInstanceUID"], list(by_sop))
    others = sorted({p.target for p in pointers if len(p.target) == 3 and p.target[2] in by_sop
                     and p.target[:2] != (study, by_sop[p.target[2]].series_uid)})  # fmt: skip
    found = await asyncio.gather(*(read_instance(storage, *target) for target in others))
    pairs = zip(others, found, strict=True)
    return {sop: StoredElsewhere(study, series) for (study, series, sop), record in pairs if record is not None}


async def _extended() -> Extended:
    return {level: await extended_tags.indexed_at(level) for level in Level}


async def _commit_group(storage: Storage, group: list[Commit], upsert: bool, ahead: Prepared | None) -> None:
    """The SOP check, the extended tags and the first read of the rows go together (or were done `ahead`, for
    this study); a conflict reads the rows again. Every attempt uses one `updated` stamp, the one ahead if any,
    so a new study's listing pointer, written ahead or by an earlier attempt, names its creation."""
    study = group[0].item.study_uid
    updated = ahead.updated if ahead else now_stamp()
    written = ahead.written if ahead and ahead.fresh() else set()  # pointers that exist: not written again
    if ahead is not None and ahead.serves(group):
        elsewhere = {ahead.key[1]: ahead.elsewhere} if ahead.elsewhere else {}
        extended, first_read = ahead.extended, ahead.partition
    else:
        elsewhere, extended, first_read = await asyncio.gather(
            _stored_elsewhere(storage, study, [c.item for c in group]),
            _extended(),
            read_rows_for_commit(storage, study, [c.key for c in group]),
        )
    for commit in group:
        if commit.item.sop_uid in elsewhere:
            commit.error = elsewhere[commit.item.sop_uid]
    absent_at_first_read: set[tuple[str, str]] | None = None

    async def attempt(number: int) -> None:
        nonlocal absent_at_first_read
        for commit in group:
            if commit.error is None and commit.entry.past_deadline():
                commit.error = CommitDeadlinePassed()
        live = [c for c in group if c.error is None]
        if not live:
            return
        if number == 0:
            partition = first_read
        else:
            partition = await read_rows_for_commit(storage, study, [c.key for c in live])
        existing = partition.instances
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
            *(add_items(storage, c.entry, [Item(study, *c.key, existing[c.key].version)]) for c in replacing)
        )
        operations, pointers = _group_changes(study, live, partition, extended, updated)
        await write_pointers(storage, [key for key in pointers if key not in written])
        try:
            await submit(storage.studies, operations)
        except Conflict:
            raise
        except Exception as error:
            for commit in live:
                commit.error = error
            return
        for commit in live:
            commit.replaced = existing.get(commit.key)

    try:
        await retry_on_conflict(attempt)
    except StudyBusy as busy:
        for commit in group:
            commit.error = commit.error or busy
    await _record_in_feed(storage, [commit for commit in group if commit.error is None])


async def _record_in_feed(storage: Storage, committed: list[Commit]) -> None:
    """The change feed learns of each committed instance; if it cannot, cleanup records it (entry kept open)."""
    changes = [
        changefeed.Change(changefeed.CREATE, storage.partition_key, c.item.study_uid, *c.key, c.entry.items[0].version,
               replaces=c.replaced.version if c.replaced else None)
        for c in committed
    ]  # fmt: skip
    try:
        await changefeed.record(changes)
    except Exception:
        log.warning("change feed not updated for %d instance(s); cleanup will record them", len(changes), exc_info=True)
        for commit in committed:
            commit.unrecorded = True


PATIENT_ATTRIBUTES = ("PatientID", "PatientName", "PatientBirthDate")


def _differing_patient(study_attrs: DicomJson, metadata: DicomJson) -> list[str]:
    """The patient attributes an instance gives other non-empty values than its study has."""
    differing = []
    for keyword in PATIENT_ATTRIBUTES:
        tag = BY_KEYWORD[keyword].tag
        old, new = study_attrs.get(tag), metadata.get(tag)
        if old and new and not is_empty(old) and not is_empty(new) and old.get("Value") != new.get("Value"):
            differing.append(keyword)
    return differing


Extended = dict[Level, list[Attribute]]


def _kept(level: Level, extended: Extended) -> list[str]:
    """The tags a row of `level` keeps: the standard ones, and the extended query tags of that level."""
    return stored_tags(level) + [attribute.tag for attribute in extended.get(level, [])]


def _record(commit: Commit, updated: str, extended: Extended) -> InstanceRecord:
    item = commit.item
    return InstanceRecord(
        item.study_uid, item.series_uid, item.sop_uid, commit.entry.items[0].version, item.transfer_syntax,
        item.size, item.frames, subset(item.metadata, _kept(Level.INSTANCE, extended)), updated,
        encapsulated=item.encapsulated, bulk=item.bulk,
    )  # fmt: skip


def _row_bytes(commit: Commit) -> int:
    """The size of the instance's row in a transaction's body (as JSON, the way the Table service gets it)."""
    return len(json.dumps(_record(commit, now_stamp(), {}).to_entity()).encode())


def _group_changes(
    study: str, live: list[Commit], partition: StudyPartition, extended: Extended, updated: str
) -> tuple[list[tuple], list[Key]]:
    """The transaction's operations (study, series, instance rows) and the lookup pointers they need."""
    old_study, existing = partition.study, partition.instances
    old_study_attrs = old_study.attrs if old_study else {}
    study_attrs = old_study_attrs
    for commit in live:
        commit.differing_patient = _differing_patient(study_attrs, commit.item.metadata)
        study_attrs = merge_attrs(study_attrs, subset(commit.item.metadata, _kept(Level.STUDY, extended)))
    created = old_study.created if old_study else updated
    pointers = changed_pointers(Level.STUDY, (study,), old_study_attrs, study_attrs, extended[Level.STUDY])
    if old_study is None:
        pointers.append(listing_key(study, created))
    series_rows = dict(partition.series)
    operations: list[tuple] = []
    for series in sorted({c.item.series_uid for c in live}):
        members = [c for c in live if c.item.series_uid == series]
        old_series = partition.series.get(series)
        old_attrs = old_series.attrs if old_series else {}
        attrs = old_attrs
        for commit in members:
            attrs = merge_attrs(attrs, subset(commit.item.metadata, _kept(Level.SERIES, extended)))
        count = (old_series.instances if old_series else 0) + sum(c.key not in existing for c in members)
        series_rows[series] = SeriesRow(study, series, attrs, count, updated)
        operations.append(
            create_or_replace(series_rows[series].to_entity(), old_series and old_series.etag, old_series is not None)
        )
        pointers += changed_pointers(Level.SERIES, (study, series), old_attrs, attrs, extended[Level.SERIES])
    for commit in live:
        old = existing.get(commit.key)
        record = _record(commit, updated, extended)
        operations.append(create_or_replace(record.to_entity(), old and old.etag, old is not None))
        if old is None:
            pointers += changed_pointers(
                Level.INSTANCE, (study, *commit.key), {}, record.attrs, extended[Level.INSTANCE]
            )
    new_study = StudyRow.derived(study, study_attrs, list(series_rows.values()), updated, created)
    operations.insert(0, create_or_replace(new_study.to_entity(), old_study and old_study.etag, old_study is not None))
    return operations, pointers
