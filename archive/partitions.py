"""Data partitions: several institutions in one archive, each with an archive of its own.

A partition's instances, index and journal live in its own container and tables (StorageSettings.of_partition),
named by its number, never by its name, so the same UIDs in two partitions are two independent copies and a
partition's searches read only its own entities. The default partition, `Microsoft.Default` (number 1), is the
archive as it was before partitions were turned on.

Table `<prefix>partitions` (in the default partition's account) registers them:
    PartitionKey "partition", RowKey <name>      Key (its number), Created (ISO 8601, UTC)
    PartitionKey "counter",   RowKey "key"       Next (the next number to give), guarded by its ETag
Partitions are created by their first store and never renamed or deleted, so a name's number is cached.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

from .clients import DEFAULT_PARTITION, Storage, get_storage
from .lookup import ALL_STUDIES
from .transactions import StudyBusy

DEFAULT_NAME = "Microsoft.Default"
NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_REGISTERED = "partition"
_COUNTER = ("counter", "key")
_known: dict[str, Partition] = {}


@dataclass(frozen=True)
class Partition:
    name: str
    key: int
    created: str


def is_valid_name(name: str) -> bool:
    return NAME.fullmatch(name) is not None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _of(entity: dict) -> Partition:
    return Partition(entity["RowKey"], int(entity["Key"]), entity["Created"])


async def find(name: str) -> Partition | None:
    """The partition of that name, if it was ever stored into."""
    if name in _known:
        return _known[name]
    registry = await get_storage()
    entity = await registry.get(registry.partitions, _REGISTERED, name)
    if entity is None:
        return None
    _known[name] = _of(entity)
    return _known[name]


async def find_or_create(name: str) -> Partition:
    """The partition a store writes into, registered on its first store."""
    found = await find(name)
    if found is not None:
        return found
    registry = await get_storage()
    key = DEFAULT_PARTITION if name == DEFAULT_NAME else await _next_key(registry)
    # If another request registered it first, its number wins and ours is never used.
    with contextlib.suppress(ResourceExistsError):
        await registry.partitions.create_entity(
            {"PartitionKey": _REGISTERED, "RowKey": name, "Key": key, "Created": _now()}
        )
    found = await find(name)
    assert found is not None
    return found


async def _next_key(registry: Storage) -> int:
    """A number no other partition has: the counter row, advanced under its ETag."""
    for _ in range(30):
        entity = await registry.get(registry.partitions, *_COUNTER)
        try:
            if entity is None:
                await registry.partitions.create_entity(
                    {"PartitionKey": _COUNTER[0], "RowKey": _COUNTER[1], "Next": DEFAULT_PARTITION + 2}
                )
                return DEFAULT_PARTITION + 1
            key = int(entity["Next"])
            await registry.partitions.update_entity(
                {**entity, "Next": key + 1}, etag=entity.metadata["etag"], match_condition=MatchConditions.IfNotModified
            )
            return key
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            continue  # another partition took this number: read the counter again
    raise StudyBusy()


async def all_partitions() -> list[Partition]:
    """Every partition, by name; the default one also when it holds data stored before partitions were on."""
    registry = await get_storage()
    entities = await registry.query(registry.partitions, "PartitionKey eq @pk", {"pk": _REGISTERED})
    found = {entity["RowKey"]: _of(entity) for entity in entities}
    if DEFAULT_NAME not in found:
        listing = registry.lookup.query_entities("PartitionKey eq @pk", parameters={"pk": ALL_STUDIES})
        async for _ in listing:  # the first study of the default partition's listing is enough
            found[DEFAULT_NAME] = Partition(DEFAULT_NAME, DEFAULT_PARTITION, "")
            break
    return sorted(found.values(), key=lambda partition: partition.key)
