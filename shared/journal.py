"""A write-ahead journal of blob versions whose fate is undecided, so no crash leaves an orphan behind.

Before a store uploads a version, or a delete removes one, a journal entry names the version and the
instance it belongs to; the entry is closed when the operation ends. Whatever a crash leaves open,
cleanup resolves with one rule: a version's blobs stay exactly when the index points at them, and a
delete that was asked for is finished.

Table `<prefix>journal` holds only operations in flight (or interrupted), so cleanup reads it whole.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from azure.data.tables import UpdateMode

from .storage import Storage

log = logging.getLogger(__name__)

STORE = "store"
DELETE = "delete"
# Cleanup leaves entries younger than GRACE alone: their operation may still be running. A store gives up
# committing after COMMIT_DEADLINE, well inside GRACE, so cleanup never removes a version a store commits.
GRACE = timedelta(hours=1)
COMMIT_DEADLINE = timedelta(minutes=30)


@dataclass(frozen=True)
class Item:
    study: str
    series: str
    sop: str
    version: str


@dataclass
class Entry:
    id: str
    kind: str
    items: list[Item]
    opened: float  # time.monotonic() when written, for the commit deadline

    def past_deadline(self) -> bool:
        return time.monotonic() - self.opened > COMMIT_DEADLINE.total_seconds()


def _entity(entry: Entry) -> dict:
    items = [[i.study, i.series, i.sop, i.version] for i in entry.items]
    return {"PartitionKey": entry.id, "RowKey": entry.kind, "Items": json.dumps(items, separators=(",", ":"))}


def items_of(entity: dict) -> list[Item]:
    return [Item(*values) for values in json.loads(entity["Items"])]


async def open_entry(storage: Storage, kind: str, items: list[Item]) -> Entry:
    entry = Entry(uuid.uuid4().hex, kind, list(items), time.monotonic())
    await storage.journal.create_entity(_entity(entry))
    return entry


async def add_items(storage: Storage, entry: Entry, items: list[Item]) -> None:
    """Name more versions (the one an upsert replaces, one a racing upsert wrote) before touching them."""
    new = [item for item in items if item not in entry.items]
    if new:
        entry.items += new
        await storage.journal.upsert_entity(_entity(entry), mode=UpdateMode.REPLACE)


async def close_entry(storage: Storage, entry: Entry) -> None:
    """The operation ended; a failure here only leaves work for cleanup, which resolves it the same way."""
    try:
        await storage.journal.delete_entity(entry.id, entry.kind)
    except Exception:
        log.warning("journal entry %s left open for cleanup", entry.id, exc_info=True)
