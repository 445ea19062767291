"""Reindex operations: indexing new extended query tags in what was stored before they were added.

An operation walks every data partition's studies (the listing of every study, in its key order) a page at a
time, reads each instance's stored metadata (never the files), copies the tags' values into the study, series
and instance rows (ETag-guarded, as any commit) and writes their lookup pointers. Its progress (a cursor) is
kept in its row after every page. The work runs in the Azure Functions way: a message on the operations
queue triggers a function that works for a while (WORK_SECONDS), then queues the next message
and returns; a host that dies mid-way loses its message's invisibility and its lease on the row (both expire),
and another host picks the work up from the cursor. One host at a time advances an operation: it leases
the operation's row (ETag-guarded, for DICOM_OPERATION_LEASE_SECONDS).
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from dicom.attributes import Level
from dicom.validation import value_problem

from . import extended_tags
from .clients import DEFAULT_PARTITION, Storage, get_storage
from .extended_tags import ExtendedTag
from .instance_files import read_metadata
from .lookup import ALL_STUDIES, changed_pointers, write_pointers
from .partitions import all_partitions
from .reads import read_partition
from .rows import StudyPartition
from .settings import StorageSettings
from .transactions import create_or_replace, retry_on_conflict, submit

PAGE = 20  # studies read per step
# The queue's name comes from the app setting the trigger names (%DICOM_OPERATIONS_QUEUE%), else from the
# archive's table prefix, so archives sharing an account (tests, several deployments) never take each other's work.
OPERATIONS_QUEUE_SETTING = "%DICOM_OPERATIONS_QUEUE%"


def operations_queue() -> str:
    return os.environ.get("DICOM_OPERATIONS_QUEUE") or f"{StorageSettings.from_environment().table_prefix}-operations"


WORK_SECONDS = 50.0  # per message; then the next message carries on


def _lease_seconds() -> float:
    return float(os.environ.get("DICOM_OPERATION_LEASE_SECONDS", "120"))


async def start(operation_id: str) -> None:
    """Queue the operation's first step."""
    root = await get_storage(DEFAULT_PARTITION)
    await root.send(operations_queue(), json.dumps({"operation": operation_id}))


async def work_on(message: str) -> None:
    """What the queue-triggered function does with a message: a step of the operation it names."""
    operation_id = str(json.loads(message).get("operation", ""))
    root, table = await extended_tags.registry()
    entity = await root.get(table, "operation", operation_id)
    if entity is None or entity["Status"] in ("completed", "failed"):
        return
    leased = await _lease(table, entity)
    if leased is None:
        raise OperationBusy()  # leased by a live host: the message comes back after its invisibility ends
    if not await _run(root, table, leased, time.monotonic() + WORK_SECONDS):
        await start(operation_id)


class OperationBusy(Exception):
    """Another host holds the operation's lease."""


async def operation(operation_id: str) -> dict | None:
    """The operation as the reference writes it, or None."""
    root, table = await extended_tags.registry()
    entity = await root.get(table, "operation", operation_id)
    if entity is None:
        return None
    return {
        "operationId": operation_id, "type": entity["Type"], "createdTime": entity["Created"],
        "lastUpdatedTime": entity["Updated"], "status": entity["Status"], "percentComplete": int(entity["Percent"]),
        "resources": json.loads(entity["Tags"]),
    }  # fmt: skip


async def _lease(table: TableClient, entity: dict) -> dict | None:
    """The operation's row, leased to this host; None while another host holds it."""
    if float(entity.get("LeaseUntil") or 0) > time.time():
        return None
    leased = {**entity, "LeaseUntil": time.time() + _lease_seconds(), "Status": "running", "Updated": _now()}
    try:
        response = await table.update_entity(leased, mode=UpdateMode.REPLACE, etag=entity.metadata["etag"],
                                             match_condition=MatchConditions.IfNotModified)  # fmt: skip
    except HttpResponseError:
        return None  # another host leased it first
    leased["etag"] = response.get("etag")
    return leased


async def _run(root: Storage, table: TableClient, state: dict, deadline: float) -> bool:
    """Work until done (True) or the deadline (False); the cursor is saved after every page."""
    tag_ids = set(json.loads(state["Tags"]))
    tags = [t for t in await extended_tags.all_tags(fresh=True) if t.tag in tag_ids]
    if not tags:  # deleted meanwhile: nothing left to index
        await _finish(table, state, [])
        return True
    partitions = sorted({DEFAULT_PARTITION} | {p.key for p in await all_partitions()})
    if int(state["Total"]) < 0:
        state["Total"] = sum([len(await _listing(await get_storage(key), "", None)) for key in partitions])
    cursor = json.loads(state["Cursor"] or "{}")
    key, after = int(cursor.get("partition", partitions[0])), cursor.get("after", "")
    while time.monotonic() < deadline:
        storage = await get_storage(key)
        page = await _listing(storage, after, PAGE)
        for listing_key, study in page:
            errors = await _reindex_study(storage, study, tags)
            await _record_errors(table, errors)
            after = listing_key
        state["Done"] = int(state["Done"]) + len(page)
        if not page:
            later = [k for k in partitions if k > key]
            if not later:
                await _finish(table, state, tags)
                return True
            key, after = later[0], ""
        state["Cursor"] = json.dumps({"partition": key, "after": after})
        state["Percent"] = min(99, int(100 * int(state["Done"]) / max(1, int(state["Total"]))))
        state["Updated"] = _now()
        state["LeaseUntil"] = time.time() + _lease_seconds()
        await table.upsert_entity(_row(state), mode=UpdateMode.REPLACE)
    state["LeaseUntil"] = 0.0
    await table.upsert_entity(_row(state), mode=UpdateMode.REPLACE)
    return False


async def _finish(table: TableClient, state: dict, tags: list[ExtendedTag]) -> None:
    """The tags become Ready; one that met values it could not index is Disabled until an owner enables it."""
    for tag in tags:
        entity = await table.get_entity("tag", tag.tag)
        failed = table.query_entities("PartitionKey eq @pk", parameters={"pk": f"error|{tag.tag}"})
        count = len([row async for row in failed])
        update = {**entity, "Status": extended_tags.READY, "Errors": count}
        if count:
            update["QueryStatus"] = extended_tags.DISABLED
        await table.update_entity(update, mode=UpdateMode.REPLACE)
    state.update(Status="completed", Percent=100, Updated=_now(), LeaseUntil=0.0)
    await table.upsert_entity(_row(state), mode=UpdateMode.REPLACE)
    extended_tags.forget_cache()


def _row(state: dict) -> dict:
    return {name: value for name, value in state.items() if name != "etag"}


async def _listing(storage: Storage, after: str, page: int | None) -> list[tuple[str, str]]:
    """(listing key, study) of the partition's studies after `after`, in key order: `page` of them (read a page
    at a time, not the rest of the listing each step), or all when None."""
    query = ("PartitionKey eq @pk and RowKey gt @after", {"pk": ALL_STUDIES, "after": after})
    if page is None:
        entities = await storage.query(storage.lookup, *query)
    else:
        entities = []
        async for found in storage.query_pages(storage.lookup, *query, page):
            entities += found
            if len(entities) >= page:
                break
    return [(e["RowKey"], e["RowKey"].rsplit("!", 1)[-1]) for e in entities[:page]]


async def _reindex_study(storage: Storage, study: str, tags: list[ExtendedTag]) -> list[tuple[str, tuple, str]]:
    """Copy the tags' values from each instance's metadata into the study's rows; the values that break their VR."""
    errors: list[tuple[str, tuple, str]] = []

    async def attempt(_: int) -> None:
        errors.clear()
        partition = await read_partition(storage, study)
        if partition.study is None:
            return
        metadata = {key: json.loads(await read_metadata(storage, record))
                    for key, record in partition.instances.items()}  # fmt: skip
        operations, pointers = _changes(study, partition, metadata, tags, errors)
        await write_pointers(storage, pointers)
        for start in range(0, len(operations), 99):
            await submit(storage.studies, operations[start : start + 99])

    await retry_on_conflict(attempt)  # StudyBusy leaves the cursor here: the next run retries the study
    return errors


def _changes(study: str, partition: StudyPartition, metadata: dict, tags: list[ExtendedTag],
             errors: list) -> tuple[list[tuple], list]:  # fmt: skip
    operations: list[tuple] = []
    pointers: list = []
    extra = [t.attribute for t in tags]
    assert partition.study is not None
    study_attrs = dict(partition.study.attrs)
    series_attrs = {uid: dict(row.attrs) for uid, row in partition.series.items()}
    for (series, sop), record in partition.instances.items():
        values = metadata[(series, sop)]
        attrs = dict(record.attrs)
        for tag in tags:
            element = values.get(tag.tag)
            problem = next((value_problem(tag.vr, v) for v in (element or {}).get("Value") or []), None)
            if problem:
                errors.append((tag.tag, (study, series, sop), problem))
                continue
            if not element:
                continue
            target = {Level.INSTANCE: attrs, Level.SERIES: series_attrs.get(series), Level.STUDY: study_attrs}
            if target[tag.level] is not None:
                target[tag.level][tag.tag] = element
        if attrs != record.attrs:
            pointers += changed_pointers(Level.INSTANCE, (study, series, sop), record.attrs, attrs, extra)
            record.attrs = attrs
            operations.append(create_or_replace(record.to_entity(), record.etag, True))
    for uid, row in partition.series.items():
        if series_attrs[uid] != row.attrs:
            pointers += changed_pointers(Level.SERIES, (study, uid), row.attrs, series_attrs[uid], extra)
            row.attrs = series_attrs[uid]
            operations.append(create_or_replace(row.to_entity(), row.etag, True))
    row = partition.study
    if row is not None and study_attrs != row.attrs:
        pointers += changed_pointers(Level.STUDY, (study,), row.attrs, study_attrs, extra)
        row.attrs = study_attrs
        operations.append(create_or_replace(row.to_entity(), row.etag, True))
    return operations, pointers


async def _record_errors(table: TableClient, errors: list[tuple[str, tuple, str]]) -> None:
    for tag, (study, series, sop), message in errors:
        await table.upsert_entity({"PartitionKey": f"error|{tag}", "RowKey": f"{study}|{series}|{sop}",
                                   "Study": study, "Series": series, "Sop": sop, "Created": _now(),
                                   "Message": message})  # fmt: skip


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
