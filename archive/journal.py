"""A write-ahead journal of blob versions whose fate is undecided, so no crash leaves an orphan behind.

Before a store uploads a version, or a delete removes one, a journal entry names the version and the
instance it belongs to; the entry is closed when the operation ends. Whatever a crash leaves open,
cleanup resolves with one rule: a version's blobs stay exactly when the index points at them, and a
delete that was asked for is finished.

Table `<prefix>journal` holds only operations in flight (or interrupted), so cleanup reads it whole.
The entries of one request share a partition, so they are closed together in one transaction.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from azure.data.tables import UpdateMode

from .clients import Storage
from .transactions import TRANSACTION_LIMIT

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
    request: str  # PartitionKey: the request that opened it
    id: str  # RowKey
    kind: str
    items: list[Item]
    opened: float  # time.monotonic() when written, for the commit deadline

    def past_deadline(self) -> bool:
        return time.monotonic() - self.opened > COMMIT_DEADLINE.total_seconds()

    @classmethod
    def from_entity(cls, entity: dict) -> Entry:
        items = [Item(*values) for values in json.loads(entity["Items"])]
        return cls(entity["PartitionKey"], entity["RowKey"], entity["Kind"], items, opened=0)


def _entity(entry: Entry) -> dict:
    items = [[i.study, i.series, i.sop, i.version] for i in entry.items]
    return {"PartitionKey": entry.request, "RowKey": entry.id, "Kind": entry.kind,
            "Items": json.dumps(items, separators=(",", ":"))}  # fmt: skip


def new_request_id() -> str:
    return uuid.uuid4().hex


async def open_entry(storage: Storage, kind: str, items: list[Item], request: str | None = None) -> Entry:
    entry = Entry(request or new_request_id(), uuid.uuid4().hex, kind, list(items), time.monotonic())
    await storage.journal.create_entity(_entity(entry))
    return entry


async def add_items(storage: Storage, entry: Entry, items: list[Item]) -> None:
    """Name more versions (the one an upsert replaces, one a racing upsert wrote) before touching them."""
    new = [item for item in items if item not in entry.items]
    if new:
        entry.items += new
        await storage.journal.upsert_entity(_entity(entry), mode=UpdateMode.REPLACE)


async def close_entries(storage: Storage, entries: list[Entry]) -> None:
    """The operations ended; a failure here only leaves work for cleanup, which resolves it the same way."""
    by_request: dict[str, list[Entry]] = {}
    for entry in entries:
        by_request.setdefault(entry.request, []).append(entry)
    for request, group in by_request.items():
        for start in range(0, len(group), TRANSACTION_LIMIT):
            chunk = group[start : start + TRANSACTION_LIMIT]
            try:
                if len(chunk) == 1:
                    await storage.journal.delete_entity(request, chunk[0].id)
                else:
                    await storage.journal.submit_transaction([("delete", _entity(e)) for e in chunk])
            except Exception:
                log.warning("journal entries of %s left open for cleanup", request, exc_info=True)
