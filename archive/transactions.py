"""Entity-group transactions on one study partition, with optimistic concurrency (the app runs on many hosts).

Every write reads the rows it changes, submits them guarded by their ETags, and retries from the read when
another writer got there first.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceModifiedError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from dicom.errors import Busy

MAX_ATTEMPTS = 30
TRANSACTION_LIMIT = 100  # operations in one entity-group transaction
PAYLOAD_LIMIT = 4 * 1024 * 1024  # bytes of one entity-group transaction's request body (Azure and Azurite)
# What a group is sized with: each operation's own MIME headers in the batch body, the batch's framing, and a
# study or series row at its largest (its Attrs property is at most 32K characters, which JSON may escape twice).
OPERATION_OVERHEAD = 1024
BATCH_OVERHEAD = 64 * 1024
LARGEST_SUMMARY_ROW = 72 * 1024
T = TypeVar("T")


class Conflict(Exception):
    """Another writer changed the partition since it was read."""


class StudyBusy(Busy):
    def __init__(self) -> None:
        super().__init__("The study is being changed by many requests at once; retry shortly.")


def create_or_replace(entity: dict, existing_etag: str | None, exists: bool) -> tuple:
    """Create a row that was absent when read, or replace it if unchanged since."""
    if not exists:
        return ("create", entity)
    return ("update", entity, _if_unchanged(existing_etag, mode=UpdateMode.REPLACE))


def delete_if_unchanged(entity: dict, existing_etag: str | None) -> tuple:
    return ("delete", entity, _if_unchanged(existing_etag))


def _if_unchanged(existing_etag: str | None, **extra: Any) -> dict:
    return {"etag": existing_etag, "match_condition": MatchConditions.IfNotModified, **extra}


def _is_conflict(error: Exception) -> bool:
    if isinstance(error, (TableTransactionError, ResourceExistsError, ResourceModifiedError)):
        return True
    return isinstance(error, HttpResponseError) and error.status_code in (409, 412)


async def submit(table: TableClient, operations: list[tuple]) -> None:
    """One transaction; Conflict when a guarded row changed (the caller re-reads and retries)."""
    try:
        await table.submit_transaction(operations)
    except Exception as error:
        if _is_conflict(error):
            raise Conflict() from error
        raise


async def retry_on_conflict(attempt: Callable[[int], Awaitable[T]]) -> T:
    """Run `attempt` (read, decide, submit) until it meets no Conflict; StudyBusy after MAX_ATTEMPTS."""
    for number in range(MAX_ATTEMPTS):
        try:
            return await attempt(number)
        except Conflict:
            # Jittered backoff between optimistic-concurrency retries against other writers.
            await asyncio.sleep(random.uniform(0, min(0.5, 0.01 * 2**number)))
    raise StudyBusy()


def fitting_groups(
    items: Iterable[T], series_of: Callable[[T], str], bytes_of: Callable[[T], int] = lambda _: 0
) -> Iterator[list[T]]:
    """Consecutive groups whose rows (each item's instance row, their series rows and the study row) fit one
    transaction: at most TRANSACTION_LIMIT operations and PAYLOAD_LIMIT bytes (bytes_of: an item's row)."""
    group: list[T] = []
    series: set[str] = set()
    payload = BATCH_OVERHEAD + LARGEST_SUMMARY_ROW + OPERATION_OVERHEAD  # the study row
    for item in items:
        new_series = 0 if series_of(item) in series else 1
        size = bytes_of(item) + OPERATION_OVERHEAD + new_series * (LARGEST_SUMMARY_ROW + OPERATION_OVERHEAD)
        operations = len(group) + 1 + len(series) + new_series + 1
        if group and (operations > TRANSACTION_LIMIT or payload + size > PAYLOAD_LIMIT):
            yield group
            group, series = [], set()
            payload = BATCH_OVERHEAD + LARGEST_SUMMARY_ROW + OPERATION_OVERHEAD
            size = bytes_of(item) + 2 * OPERATION_OVERHEAD + LARGEST_SUMMARY_ROW
        group.append(item)
        series.add(series_of(item))
        payload += size
    if group:
        yield group
