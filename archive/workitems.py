"""Workitems in Table Storage: each one entity, changed only under its ETag, and pointer rows to find them.

Table `<prefix>workitems` of each data partition:
    PartitionKey "item"              RowKey <workitem UID>   Data0..DataN (its DICOM JSON in pieces), Transaction
                                                             (its Transaction UID, never in the JSON), Owner
    PartitionKey <index>|<hash>      RowKey <workitem UID>   a pointer: the workitem has that value
    PartitionKey "start"             RowKey <YYYYMMDDhhmmss>!<workitem UID>   by Scheduled Procedure Step Start
<hash> is archive.lookup.keyed_hash of the normalised value, so no key reveals a patient's name or ID.

Why nothing is ever half-done without a journal: the workitem entity is the only truth, and every change
(create, update, claim, complete, cancel) is one write of that one entity, guarded by its ETag, so two
changes racing (two performers claiming the same item) cannot both succeed: the loser re-reads and is judged
against the winner's state. Pointers are written before the entity that needs them and are only hints:
a search reads the workitems they name and checks every condition on the workitem itself, so a pointer left
by a crash or by an old value is harmless; searches remove those older than STALE_POINTER_AGE (never newer
ones, which may belong to a change still in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceModifiedError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from dicom.errors import Invalid, Missing
from dicom.values import DicomJson
from dicom.workitem import StateConflict
from dicom.workitem_query import Condition, Query, index_values, matches, pointer_values, start_of

from .clients import Storage
from .lookup import keyed_hash
from .rows import timestamp

TABLE = "workitems"
ITEM = "item"
START = "start"
PIECE = 30_000  # characters per string property (Table Storage allows 32K)
MAX_JSON = 400_000  # characters of DICOM JSON in one entity (Table Storage allows 1 MiB per entity)
ATTEMPTS = 8
STALE_POINTER_AGE = timedelta(minutes=15)
READ_CONCURRENCY = 16
# The index a search is driven by: the most selective condition it has.
PREFERENCE = ["study", "patient", "accession", "other", "procedure", "assignee", "name", "name~", "station",
              "location", "class", "start", "state"]  # fmt: skip


@dataclass
class Stored:
    uid: str
    item: DicomJson
    transaction: str | None
    owner: str | None
    etag: str


def _pointer_key(index: str, value: str) -> str:
    return f"{index}|{keyed_hash('workitem.' + index, value)}"


def pointers_of(uid: str, item: DicomJson) -> list[tuple[str, str]]:
    keys = [(_pointer_key(index, value), uid) for index, value in index_values(item)]
    start = start_of(item)
    return [*keys, (START, f"{start}!{uid}")] if start else keys


def _entity(uid: str, item: DicomJson, transaction: str | None, owner: str | None) -> dict:
    text = json.dumps(item, separators=(",", ":"), ensure_ascii=False)
    if len(text) > MAX_JSON:
        raise Invalid(f"The workitem's DICOM JSON is over {MAX_JSON} characters; leave bulk data out of it.")
    pieces = {f"Data{n}": text[i : i + PIECE] for n, i in enumerate(range(0, len(text), PIECE))}
    return {"PartitionKey": ITEM, "RowKey": uid, **pieces, "Transaction": transaction or "", "Owner": owner or ""}


def _stored(entity: dict) -> Stored:
    text = "".join(entity[f"Data{n}"] for n in range(len([k for k in entity if k.startswith("Data")])))
    return Stored(entity["RowKey"], json.loads(text), entity.get("Transaction") or None,
                  entity.get("Owner") or None, entity.metadata["etag"])  # fmt: skip


async def table_of(storage: Storage) -> TableClient:
    return await storage.table(TABLE)


async def _write_pointers(table: TableClient, keys: list[tuple[str, str]]) -> None:
    await asyncio.gather(
        *(table.upsert_entity({"PartitionKey": pk, "RowKey": rk}, mode=UpdateMode.REPLACE) for pk, rk in keys)
    )


async def create(storage: Storage, uid: str, item: DicomJson, owner: str | None) -> None:
    """Store a new workitem; StateConflict when the UID is taken."""
    table = await table_of(storage)
    entity = _entity(uid, item, None, owner)
    await _write_pointers(table, pointers_of(uid, item))
    try:
        await table.create_entity(entity)
    except ResourceExistsError as error:
        raise StateConflict(f"A workitem with UID {uid} already exists.") from error


async def find(storage: Storage, uid: str) -> Stored | None:
    entity = await storage.get(await table_of(storage), ITEM, uid)
    return _stored(entity) if entity is not None else None


async def get(storage: Storage, uid: str) -> Stored:
    stored = await find(storage, uid)
    if stored is None:
        raise Missing(f"There is no workitem {uid} (in this partition).")
    return stored


Change = Callable[[Stored], tuple[DicomJson, str | None]]


async def change(storage: Storage, uid: str, decide: Change) -> DicomJson:
    """Apply `decide` (the workitem -> its new dataset and Transaction UID, or an error) atomically: written
    only if nobody changed the workitem since it was read, else decided again on the newer workitem."""
    table = await table_of(storage)
    for _ in range(ATTEMPTS):
        stored = await get(storage, uid)
        item, transaction = decide(stored)
        entity = _entity(uid, item, transaction, stored.owner)
        await _write_pointers(table, [k for k in pointers_of(uid, item) if k not in pointers_of(uid, stored.item)])
        try:
            await table.update_entity(entity, mode=UpdateMode.REPLACE,
                                      etag=stored.etag, match_condition=MatchConditions.IfNotModified)  # fmt: skip
        except ResourceModifiedError:
            continue
        return item
    raise StateConflict("The workitem kept changing while this request was applied; retry it.")


async def delete(storage: Storage, stored: Stored) -> None:
    """Remove a workitem (if unchanged since read), then its pointers (a failure leaves harmless hints)."""
    table = await table_of(storage)
    try:
        await table.delete_entity(ITEM, stored.uid, etag=stored.etag, match_condition=MatchConditions.IfNotModified)
    except ResourceModifiedError as error:
        raise StateConflict("The workitem changed while it was being deleted; retry.") from error
    with contextlib.suppress(HttpResponseError):
        await asyncio.gather(*(table.delete_entity(pk, rk) for pk, rk in pointers_of(stored.uid, stored.item)))


async def _candidates(storage: Storage, table: TableClient, driver: Condition | None) -> list[dict]:
    """The pointer rows (or workitem entities, without a usable condition) a search starts from."""
    if driver is None:
        return await storage.query(table, "PartitionKey eq @p", {"p": ITEM})
    if driver.index == "start":
        low = "".join(c for c in driver.values[0] if c.isdigit())
        high = "".join(c for c in driver.values[1] if c.isdigit()) + ":"  # ':' sorts after every digit
        return await storage.query(table, "PartitionKey eq @p and RowKey ge @lo and RowKey lt @hi",
                                   {"p": START, "lo": low, "hi": high if len(high) > 1 else "~"})  # fmt: skip
    found = []
    for index, value in pointer_values(driver):
        found += await storage.query(table, "PartitionKey eq @p", {"p": _pointer_key(index, value)})
    return found


def _driver(conditions: list[Condition]) -> Condition | None:
    usable = [c for c in conditions if ("name~" if c.fuzzy else c.index) in PREFERENCE]
    return min(usable, key=lambda c: PREFERENCE.index("name~" if c.fuzzy else c.index), default=None)


async def search(storage: Storage, query: Query) -> list[DicomJson]:
    """The workitems matching every condition, ordered by scheduled start then UID; reads the driving
    condition's pointers and the workitems they name, nothing else."""
    table = await table_of(storage)
    driver = _driver(query.conditions)
    rows = await _candidates(storage, table, driver)
    if driver is None:
        found = [_stored(row) for row in rows]
    else:
        uids = sorted({row["RowKey"].rsplit("!", 1)[-1] for row in rows})
        gate = asyncio.Semaphore(READ_CONCURRENCY)

        async def read(uid: str) -> Stored | None:
            async with gate:
                return await find(storage, uid)

        found = [s for s in await asyncio.gather(*(read(uid) for uid in uids)) if s is not None]
        await _drop_stale(table, rows, {s.uid: s for s in found})
    hits = [s.item for s in found if all(matches(s.item, c) for c in query.conditions)]
    hits.sort(key=lambda item: (start_of(item), str(item.get("00080018", {}).get("Value", [""])[0])))
    return hits


def is_stale(key: tuple[str, str], written: datetime | None, item: DicomJson | None, cutoff: datetime) -> bool:
    """Whether a pointer may be removed: written before `cutoff` (so no change in flight still needs it) and
    leading to a workitem that is gone or no longer has its value."""
    if written is None or written >= cutoff:
        return False
    return item is None or key not in pointers_of(key[1].rsplit("!", 1)[-1], item)


async def _drop_stale(table: TableClient, rows: list[dict], items: dict[str, Stored]) -> None:
    """Remove stale pointers a search met, each only if nobody rewrote it meanwhile (its ETag)."""
    cutoff = datetime.now(UTC) - STALE_POINTER_AGE
    for row in rows:
        stored = items.get(row["RowKey"].rsplit("!", 1)[-1])
        key = (row["PartitionKey"], row["RowKey"])
        if is_stale(key, timestamp(row), stored.item if stored else None, cutoff):
            with contextlib.suppress(HttpResponseError):
                await table.delete_entity(
                    *key, etag=row.metadata["etag"], match_condition=MatchConditions.IfNotModified
                )
