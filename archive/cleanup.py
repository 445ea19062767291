"""Cleanup: resolve what crashed stores and deletes left behind, and optionally audit every blob.

Runs on a timer in Azure (function_app.cleanup_timer), in the local host's background, and from the
command line (`python -m archive.admin cleanup`). Every step is idempotent, so runs may overlap or be killed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from . import changefeed
from .blobs import instance_blob, version_of
from .clients import DEFAULT_PARTITION, Storage, get_storage
from .journal import DELETE, GRACE, STORE, Entry, Item, close_entries
from .partitions import all_partitions
from .reads import every_instance, list_instances
from .removal import delete_chunk

log = logging.getLogger(__name__)


@dataclass
class Report:
    entries_resolved: int = 0  # journal entries of interrupted operations, now settled
    entries_waiting: int = 0  # younger than the grace period: their operation may still be running
    stores_rolled_back: int = 0  # versions uploaded but never committed, removed
    deletes_finished: int = 0  # instances whose interrupted delete was completed
    versions_removed: int = 0  # blob versions removed in all (rolled back, replaced, deleted)
    orphans_removed: int = 0  # audit: versions no journal entry and no index row names
    missing_files: list[str] = field(default_factory=list)  # audit: indexed instances whose file is gone

    def summary(self) -> str:
        facts = {name: value for name, value in vars(self).items() if name != "missing_files"}
        facts["missing_files"] = len(self.missing_files)
        return " ".join(f"{name}={value}" for name, value in facts.items())


async def cleanup(storage: Storage, grace: timedelta = GRACE, audit: bool = False) -> Report:
    report = Report()
    cutoff = datetime.now(UTC) - grace
    open_versions: set[str] = set()
    async for entity in storage.journal.list_entities():
        entry = Entry.from_entity(entity)
        if entity.metadata["timestamp"] > cutoff:
            report.entries_waiting += 1
            open_versions.update(item.version for item in entry.items)
            continue
        settled, versions = await _resolve(storage, entry, report)
        if settled and await _recorded(storage, entry, versions):
            await close_entries(storage, [entry])
            report.entries_resolved += 1
        else:
            open_versions.update(item.version for item in entry.items)
    if audit:
        await _audit(storage, cutoff, open_versions, report)
    log.info("cleanup %s", report.summary())
    return report


async def _resolve(storage: Storage, entry: Entry, report: Report) -> tuple[bool, dict[Item, str | None]]:
    """Settle every version the entry names: whether nothing is left to retry, and the version the index holds
    for each item's instance once settled (None: no instance)."""
    settled = True
    versions: dict[Item, str | None] = {}
    for item in entry.items:
        found = await list_instances(storage, item.study, item.series, item.sop)
        current = found[0] if found else None
        if entry.kind == DELETE and current is not None and current.version == item.version:
            removed = await delete_chunk(storage, [current], entry)
            report.deletes_finished += len(removed)
            versions[item] = None if removed else current.version
            current = None
        else:
            versions[item] = current.version if current else None
        if current is not None and current.version == item.version:
            continue  # the index points at it: it stays
        if await storage.delete_versions(item.version):
            settled = False
            continue
        report.versions_removed += 1
        if entry.kind == STORE and item == entry.items[0]:
            report.stores_rolled_back += 1
    return settled, versions


async def _recorded(storage: Storage, entry: Entry, versions: dict[Item, str | None]) -> bool:
    """Make sure the change feed has what the settled entry did (a crash may have come before it did);
    `versions`: what _resolve found the index holding, so nothing is read twice."""
    changes: list[changefeed.Change] = []
    for item in entry.items:
        current = versions[item]
        if entry.kind == STORE and item == entry.items[0] and current == item.version:
            replaced = next((i.version for i in entry.items[1:]), None)
            changes.append(changefeed.Change(changefeed.CREATE, storage.partition_key, item.study, item.series,
                                             item.sop, item.version, replaces=replaced))  # fmt: skip
        elif entry.kind == DELETE and current != item.version:
            changes.append(changefeed.Change(changefeed.DELETE, storage.partition_key, item.study, item.series,
                                             item.sop, item.version))  # fmt: skip
    try:
        await changefeed.record(changes, recovering=True)
    except Exception:
        log.warning("change feed not updated by cleanup; the next run retries", exc_info=True)
        return False
    return True


async def _audit(storage: Storage, cutoff: datetime, open_versions: set[str], report: Report) -> None:
    """Compare every blob with every instance row: a full scan, for an operator's occasional check."""
    created: dict[str, datetime] = {}
    with_file: set[str] = set()
    async for blob in storage.container.list_blobs():
        version = version_of(blob.name)
        if version is None:
            continue  # not ours
        created[version] = min(blob.creation_time, created.get(version, blob.creation_time))
        if blob.name == instance_blob(version):
            with_file.add(version)
    indexed = {
        version: Item(study, series, sop, version) async for study, series, sop, version in every_instance(storage)
    }
    orphans = [v for v, when in created.items() if v not in indexed and v not in open_versions and when < cutoff]
    for version in orphans:
        if not await storage.delete_versions(version):
            report.orphans_removed += 1
            report.versions_removed += 1
    report.missing_files = sorted(
        f"{item.study}/{item.series}/{item.sop}" for version, item in indexed.items() if version not in with_file
    )


async def cleanup_every_partition(grace: timedelta = GRACE, audit: bool = False) -> Report:
    """Cleanup of the default partition and every data partition (each has its own journal and blobs)."""
    total = Report()
    keys = {DEFAULT_PARTITION} | {partition.key for partition in await all_partitions()}
    for key in sorted(keys):
        report = await cleanup(await get_storage(key), grace, audit)
        for name, value in vars(report).items():
            if name == "missing_files":
                total.missing_files += [f"partition {key}: {path}" for path in value] if key != 1 else value
            else:
                setattr(total, name, getattr(total, name) + value)
    return total


async def scheduled_cleanup() -> Report:
    """The timer's run: journal entries only (cheap); the full audit is the operator's command."""
    return await cleanup_every_partition()
