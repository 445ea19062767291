"""Reading the index: a study's rows, its series, its instances; each read is one partition or one point."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from dicom.values import first_text, whole_number

from .clients import Storage
from .rows import (
    INSTANCE_PREFIX,
    STUDY_ROW,
    InstanceRecord,
    SeriesRow,
    StudyPartition,
    StudyRow,
    instance_key,
    instance_key_range,
    series_key,
)


async def read_study(storage: Storage, study: str) -> StudyRow | None:
    entity = await storage.get(storage.studies, study, STUDY_ROW)
    return StudyRow.from_entity(entity) if entity else None


async def read_series(storage: Storage, study: str, series: str) -> SeriesRow | None:
    entity = await storage.get(storage.studies, study, series_key(series))
    return SeriesRow.from_entity(entity) if entity else None


async def read_study_and_series(storage: Storage, study: str) -> StudyPartition:
    """The study row and all its series rows: one single-partition query."""
    entities = await storage.query(
        storage.studies, "PartitionKey eq @study and RowKey lt @upper", {"study": study, "upper": INSTANCE_PREFIX}
    )
    return StudyPartition.of(entities)


async def read_partition(storage: Storage, study: str) -> StudyPartition:
    """Every row of the study."""
    return StudyPartition.of(await storage.query(storage.studies, "PartitionKey eq @study", {"study": study}))


async def _read_study_series_and(storage: Storage, study: str, series: str, sop: str) -> StudyPartition:
    """The study row, its series rows and one instance's row, in one query (what a one-instance store needs)."""
    entities = await storage.query(
        storage.studies,
        "PartitionKey eq @study and (RowKey lt @series_end or RowKey eq @row )",
        {"study": study, "series_end": INSTANCE_PREFIX, "row": instance_key(series, sop)},
    )
    return StudyPartition.of(entities)


async def read_instance(storage: Storage, study: str, series: str, sop: str) -> InstanceRecord | None:
    entity = await storage.get(storage.studies, study, instance_key(series, sop))
    return InstanceRecord.from_entity(entity) if entity else None


async def read_instances(storage: Storage, study: str, series: str | None = None) -> list[InstanceRecord]:
    """The instances of a study or of one of its series, in row-key order."""
    lower, upper = instance_key_range(series)
    entities = await storage.query(
        storage.studies,
        "PartitionKey eq @study and RowKey ge @lower and RowKey lt @upper",
        {"study": study, "lower": lower, "upper": upper},
    )
    return [InstanceRecord.from_entity(entity) for entity in entities]


async def list_instances(
    storage: Storage, study: str, series: str | None = None, sop: str | None = None
) -> list[InstanceRecord]:
    """An instance, or the instances of a series or study in series and Instance Number order."""
    if series is not None and sop is not None:
        record = await read_instance(storage, study, series, sop)
        return [record] if record else []
    return sorted(await read_instances(storage, study, series), key=_instance_order)


def _instance_order(record: InstanceRecord) -> tuple:
    number = whole_number(first_text(record.attrs.get("00200013")), max_digits=12, signed=True)
    return (record.series, number or 0, record.sop)


async def read_rows_for_commit(storage: Storage, study: str, keys: list[tuple[str, str]]) -> StudyPartition:
    """The study row, its series rows and the rows of the committing instances that already exist."""
    if len(keys) == 1:  # the common case: one query
        partition = await _read_study_series_and(storage, study, *keys[0])
    else:
        partition, *found = await asyncio.gather(
            read_study_and_series(storage, study),
            *(read_instances(storage, study, series) for series in sorted({s for s, _ in keys})),
        )
        partition.instances = {record.key: record for records in found for record in records}
    wanted = set(keys)
    partition.instances = {key: record for key, record in partition.instances.items() if key in wanted}
    return partition


async def every_instance(storage: Storage) -> AsyncIterator[tuple[str, str, str, str]]:
    """(study, series, sop, version) of every instance row: a full scan, for the operator's audit."""
    lower, upper = instance_key_range()
    rows = storage.studies.query_entities(
        "RowKey ge @lower and RowKey lt @upper",
        parameters={"lower": lower, "upper": upper},
        select=["PartitionKey", "RowKey", "Blob"],
    )
    async for entity in rows:
        series, sop = entity["RowKey"][len(INSTANCE_PREFIX) :].split("|")
        yield entity["PartitionKey"], series, sop, entity["Blob"]
