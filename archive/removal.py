"""Deleting instances: their rows first (keeping the study's counts right), then their blobs, journaled so a
crash is finished by cleanup; then the lookup pointers that served them."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime

from dicom.attributes import Level

from . import changefeed
from .clients import Storage
from .journal import DELETE, Entry, Item, add_items, close_entries, open_entry
from .lookup import Key, changed_pointers, drop_owned, listing_key
from .reads import list_instances, read_study_and_series
from .rows import InstanceRecord, SeriesRow, StudyRow, now_stamp
from .transactions import (
    create_or_replace,
    delete_if_unchanged,
    fitting_groups,
    retry_on_conflict,
    submit,
)

log = logging.getLogger(__name__)


def _items(records: list[InstanceRecord]) -> list[Item]:
    return [Item(r.study, r.series, r.sop, r.version) for r in records]


async def delete_instances(storage: Storage, records: list[InstanceRecord]) -> list[InstanceRecord]:
    """Remove instances (all of one study) from the index, then their blobs; returns those removed."""
    deleted: list[InstanceRecord] = []
    for chunk in fitting_groups(records, lambda record: record.series):
        entry = await open_entry(storage, DELETE, _items(chunk))
        removed = await delete_chunk(storage, chunk, entry)
        recorded = await record_deletes(storage, removed)
        if not await storage.delete_versions(*(record.version for record in removed)) and recorded:
            await close_entries(storage, [entry])
        deleted += removed
    return deleted


async def record_deletes(storage: Storage, removed: list[InstanceRecord]) -> bool:
    """The change feed learns of the deletes; False (the entry stays open for cleanup) if it cannot."""
    changes = [changefeed.Change(changefeed.DELETE, storage.partition_key, r.study, r.series, r.sop, r.version)
               for r in removed]  # fmt: skip
    try:
        await changefeed.record(changes)
    except Exception:
        log.warning("change feed not updated for %d delete(s); cleanup will record them", len(changes), exc_info=True)
        return False
    return True


async def delete_chunk(storage: Storage, chunk: list[InstanceRecord], entry: Entry) -> list[InstanceRecord]:
    """Remove up to one transaction's instances from the index, keeping the study's counts right."""
    study = chunk[0].study

    async def attempt(number: int) -> list[InstanceRecord]:
        nonlocal chunk
        if number > 0:  # someone changed the study meanwhile: re-read what we delete (gone, or replaced)
            fresh = await asyncio.gather(*(list_instances(storage, r.study, r.series, r.sop) for r in chunk))
            chunk = [found[0] for found in fresh if found]
            await add_items(storage, entry, _items(chunk))
        partition = await read_study_and_series(storage, study)
        study_row = partition.study
        if study_row is None or not chunk:
            return []
        removed = Counter(record.series for record in chunk)
        updated = now_stamp()
        operations = [delete_if_unchanged(record.to_entity(), record.etag) for record in chunk]
        remaining: list[SeriesRow] = []
        emptied: list[SeriesRow] = []
        for series, row in partition.series.items():
            count = row.instances - removed.get(series, 0)
            if series not in removed:
                remaining.append(row)
            elif count > 0:
                remaining.append(SeriesRow(study, series, row.attrs, count, updated))
                operations.append(create_or_replace(remaining[-1].to_entity(), row.etag, exists=True))
            else:
                emptied.append(row)
                operations.append(delete_if_unchanged(row.to_entity(), row.etag))
        if remaining:
            new_study = StudyRow.derived(study, study_row.attrs, remaining, updated, study_row.created)
            operations.append(create_or_replace(new_study.to_entity(), study_row.etag, exists=True))
        else:
            operations.append(delete_if_unchanged(study_row.to_entity(), study_row.etag))
        await submit(storage.studies, operations)
        await drop_owned(storage, _owned_pointers(chunk, None if remaining else study_row, emptied))
        return chunk

    return await retry_on_conflict(attempt)


def _owned_pointers(
    records: list[InstanceRecord], study: StudyRow | None, series: list[SeriesRow]
) -> list[tuple[list[Key], datetime | None]]:
    """The pointers of deleted rows (instances, emptied series, an emptied study), with when each row was written."""
    owned = [(changed_pointers(Level.INSTANCE, (r.study, r.series, r.sop), {}, r.attrs), r.written) for r in records]
    owned += [(changed_pointers(Level.SERIES, (row.study, row.series), {}, row.attrs), row.written) for row in series]
    if study is not None:
        listing = listing_key(study.study, study.created if study.keyed_by_creation else None)
        owned.append(([listing, *changed_pointers(Level.STUDY, (study.study,), {}, study.attrs)], study.written))
    return owned
