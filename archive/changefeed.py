"""The change feed: every instance created (stored or replaced) or deleted, in one order all readers share.

The guarantee readers rely on: sequences increase, and a reader that has read up to sequence N never later
finds a new entry at or below N, however many hosts commit at once. Table Storage gives no global counter,
so the feed is one table partition (`<prefix>changefeed`, in the default partition's account, for every data
partition) holding a counter row and the entries, and every append is one entity-group transaction that
advances the counter (guarded by its ETag) and writes the entries numbered from it. A transaction is atomic
and the next one can only read the advanced counter, so the entries written are always exactly 1..Next-1: a
prefix, without gaps. Appends from many hosts serialize on that one row (conflicts retry), which bounds the
feed at one partition's throughput: the price of the guarantee.

    RowKey                         what
    <sequence, 19 digits>          an entry: Action, Partition (its number), Study, Series, Sop, Version,
                                   State (current, replaced, deleted; kept up to date), Time (ISO UTC;
                                   "Timestamp" is the Table service's own property)
    t|<timestamp>|<sequence>       the first entry a transaction wrote at that time (for startTime/endTime)
    v|<version>|<action>           the entry of a version's create or delete (its Sequence): makes appends
                                   idempotent (cleanup re-records what a crash interrupted) and finds the
                                   entry whose State a later change updates
    ~next                          the counter: Next (the next sequence) and Stamp (the last timestamp, so
                                   timestamps never go backwards whatever the hosts' clocks)
Keys hold no UIDs: a version is a random id.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import UTC, datetime

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
from azure.data.tables import TableEntity, TableTransactionError, UpdateMode

from .clients import DEFAULT_PARTITION, Storage, get_storage
from .transactions import MAX_ATTEMPTS, StudyBusy

FEED = "feed"
COUNTER = "~next"
CREATE, DELETE = "create", "delete"
CURRENT, REPLACED, DELETED = "current", "replaced", "deleted"
PER_TRANSACTION = 30  # entries per append: each takes up to 3 operations (entry, marker, a State update)
# The counter as this process last wrote it, per feed table: the next append tries it without reading it first
# (one round trip instead of two); if another host advanced it meanwhile, the ETag refuses and it is read.
_last_written: dict[str, TableEntity] = {}


@dataclass(frozen=True)
class Change:
    action: str  # CREATE or DELETE
    partition: int
    study: str
    series: str
    sop: str
    version: str  # the version created, or the one deleted
    replaces: str | None = None  # for a create that replaced an instance: the replaced version


@dataclass
class Entry:
    sequence: int
    action: str
    partition: int
    study: str
    series: str
    sop: str
    version: str
    state: str
    timestamp: str

    @classmethod
    def of(cls, entity: dict) -> Entry:
        fields = ("Action", "Partition", "Study", "Series", "Sop", "Version", "State", "Time")
        action, partition, *rest = (entity[name] for name in fields)
        return cls(int(entity["RowKey"]), action, int(partition), *rest)


def _key(sequence: int) -> str:
    return f"{sequence:019d}"


def _marker(version: str, action: str) -> str:
    return f"v|{version}|{action}"


async def _feed() -> tuple[Storage, object]:
    root = await get_storage(DEFAULT_PARTITION)
    return root, await root.table("changefeed")


async def record(changes: list[Change], recovering: bool = False) -> None:
    """Append the changes (in the order given); a failure leaves them for the caller's journal entry, so
    cleanup records them later. A commit or delete that just happened cannot be in the feed yet; cleanup
    (`recovering`) may find a change a crash left recorded, so only then are the markers read and those skipped."""
    for start in range(0, len(changes), PER_TRANSACTION):
        await _append(changes[start : start + PER_TRANSACTION], recovering)


async def _append(changes: list[Change], recovering: bool) -> None:
    root, table = await _feed()
    for attempt in range(MAX_ATTEMPTS):
        counter = _last_written.pop(table.url, None) if attempt == 0 else None
        counter = counter or await root.get(table, FEED, COUNTER)
        pending = changes
        if recovering:
            markers = await asyncio.gather(*(root.get(table, FEED, _marker(c.version, c.action)) for c in changes))
            pending = [change for change, marker in zip(changes, markers, strict=True) if marker is None]
        if not pending:
            return
        operations = await _operations(root, table, counter, pending)
        try:
            written = await table.submit_transaction(operations)
            _last_written[table.url] = _with_etag(operations[-1][1], written[-1]["etag"])
            return
        except (TableTransactionError, ResourceExistsError, ResourceModifiedError):
            await asyncio.sleep(random.uniform(0, min(0.5, 0.01 * 2**attempt)))  # another host appended first
    raise StudyBusy()


def _with_etag(row: dict, etag: str) -> TableEntity:
    entity = TableEntity(row)
    entity._metadata = {"etag": etag, "timestamp": None}
    return entity


async def _operations(root: Storage, table: object, counter: dict | None, changes: list[Change]) -> list[tuple]:
    first = int(counter["Next"]) if counter else 1
    now = feed_time(datetime.now(UTC))
    stamp = max(now, counter["Stamp"]) if counter else now
    operations: list[tuple] = []
    updated: set[int] = set()
    for offset, change in enumerate(changes):
        sequence = first + offset
        state = DELETED if change.action == DELETE else CURRENT
        operations.append(("create", {
            "PartitionKey": FEED, "RowKey": _key(sequence), "Action": change.action, "Partition": change.partition,
            "Study": change.study, "Series": change.series, "Sop": change.sop, "Version": change.version,
            "State": state, "Time": stamp,
        }))  # fmt: skip
        operations.append(("create", {"PartitionKey": FEED, "RowKey": _marker(change.version, change.action),
                                      "Sequence": sequence}))  # fmt: skip
        earlier = change.replaces if change.action == CREATE else change.version
        if earlier is not None:
            operations += await _state_update(root, table, earlier, REPLACED if change.action == CREATE else DELETED,
                                              updated)  # fmt: skip
    operations.append(("create", {"PartitionKey": FEED, "RowKey": f"t|{stamp}|{_key(first)}", "Sequence": first}))
    next_row = {"PartitionKey": FEED, "RowKey": COUNTER, "Next": first + len(changes), "Stamp": stamp}
    if counter is None:
        operations.append(("create", next_row))
    else:
        operations.append(("update", next_row, {"mode": UpdateMode.REPLACE, "etag": counter.metadata["etag"],
                                                "match_condition": MatchConditions.IfNotModified}))  # fmt: skip
    return operations


async def _state_update(root: Storage, table: object, version: str, state: str, updated: set[int]) -> list[tuple]:
    """The update of the entry that created `version` to its new State (none if the feed never had it)."""
    marker = await root.get(table, FEED, _marker(version, CREATE))
    if marker is None or int(marker["Sequence"]) in updated:
        return []
    entry = await root.get(table, FEED, _key(int(marker["Sequence"])))
    if entry is None or entry["State"] == state:
        return []
    updated.add(int(marker["Sequence"]))
    return [("update", {**entry, "State": state}, {"mode": UpdateMode.REPLACE, "etag": entry.metadata["etag"],
                                                     "match_condition": MatchConditions.IfNotModified})]  # fmt: skip


# ---- reading ------------------------------------------------------------------------------------------------


async def latest() -> Entry | None:
    root, table = await _feed()
    counter = await root.get(table, FEED, COUNTER)
    if counter is None:
        return None
    entity = await root.get(table, FEED, _key(int(counter["Next"]) - 1))
    return Entry.of(entity) if entity else None


async def between(first: int, last: int) -> list[Entry]:
    """Entries with first <= sequence <= last, in order (one range read of the feed partition)."""
    if last < first:
        return []
    root, table = await _feed()
    entities = await root.query(table, "PartitionKey eq @pk and RowKey ge @low and RowKey le @high",
                                {"pk": FEED, "low": _key(first), "high": _key(last)})  # fmt: skip
    return [Entry.of(entity) for entity in entities]


def feed_time(moment: datetime) -> str:
    """How the feed writes a time (sortable as text)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def first_at_or_after(moment: datetime | None) -> int:
    """The sequence of the first entry written at or after `moment`, or the next one to be written."""
    root, table = await _feed()
    if moment is not None:
        rows = root.query_pages(table, "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
                                {"pk": FEED, "low": f"t|{feed_time(moment)}", "high": "t}"}, 1)  # fmt: skip
        async for page in rows:
            if page:
                return int(page[0]["Sequence"])
    counter = await root.get(table, FEED, COUNTER)
    return int(counter["Next"]) if counter else 1
