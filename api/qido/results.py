"""Reading the rows a search's candidates name, at the level asked, with the attributes the archive computes."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

from archive.clients import Storage
from archive.reads import list_instances, read_partition, read_series, read_study, read_study_and_series
from archive.rows import InstanceRecord, SeriesRow, StudyRow
from dicom.attributes import Level
from dicom.values import DicomJson

# Row reads in flight per search: a viewer's study list (limit 101) in two waves, each read a small entity.
READ_CONCURRENCY = 64
Target = tuple[str, ...]


@dataclass
class Row:
    key: Target
    updated: str  # what results are ordered by, newest first: a study's creation, a series' or instance's update
    attrs: DicomJson


def study_attrs(row: StudyRow) -> DicomJson:
    """The study's attributes with its modalities and counts, derived when it was written."""
    attrs = dict(row.attrs)
    modalities = {"vr": "CS", "Value": row.modalities} if row.modalities else {"vr": "CS"}
    attrs["00080061"] = modalities
    attrs["00080060"] = modalities  # Modality asked of a study (viewers' study lists do): its series' modalities
    attrs["00201206"] = {"vr": "IS", "Value": [row.series_count]}
    attrs["00201208"] = {"vr": "IS", "Value": [row.instance_count]}
    return attrs


def series_attrs(row: SeriesRow) -> DicomJson:
    return {**row.attrs, "00201209": {"vr": "IS", "Value": [row.instances]}}


async def _rows_of_study(storage: Storage, study: str, targets: set[Target], level: Level) -> list[Row]:
    """The result rows at `level` under one study, restricted to the targets when they are deeper."""
    whole_study = any(len(t) == 1 for t in targets)
    if level == Level.STUDY:
        study_row = await read_study(storage, study)
        return [Row((study,), study_row.created, study_attrs(study_row))] if study_row else []
    instances: list[InstanceRecord] = []
    if whole_study and level == Level.SERIES:
        partition = await read_study_and_series(storage, study)
        study_row, series_rows = partition.study, partition.series
    elif whole_study:
        partition = await read_partition(storage, study)
        study_row, series_rows, instances = partition.study, partition.series, list(partition.instances.values())
    else:
        series_uids = {t[1] for t in targets}
        study_row, *found = await asyncio.gather(
            read_study(storage, study), *(read_series(storage, study, s) for s in series_uids)
        )
        series_rows = {row.series: row for row in found if row}
        if level == Level.INSTANCE:
            instances = await _instances_of_targets(storage, study, targets)
    if study_row is None:
        return []
    study_level = study_attrs(study_row)
    by_series = {uid: {**study_level, **series_attrs(row)} for uid, row in series_rows.items()}
    if level == Level.SERIES:
        return [
            Row((study, uid), series_rows[uid].updated, attrs)
            for uid, attrs in by_series.items()
            if whole_study or (study, uid) in targets
        ]
    return [
        Row((study, r.series, r.sop), r.updated, {**by_series[r.series], **r.attrs})
        for r in instances
        if r.series in by_series and _under_targets((study, r.series, r.sop), targets)
    ]


def _under_targets(key: Target, targets: set[Target]) -> bool:
    return any(key[: len(t)] == t for t in targets)


async def _instances_of_targets(storage: Storage, study: str, targets: set[Target]) -> list[InstanceRecord]:
    series_targets = {t[1] for t in targets if len(t) == 2}
    sop_targets = [t for t in targets if len(t) == 3 and t[1] not in series_targets]
    found = await asyncio.gather(
        *(list_instances(storage, study, series) for series in series_targets),
        *(list_instances(storage, study, t[1], t[2]) for t in sop_targets),
    )
    return [record for records in found for record in records]


async def rows_of(storage: Storage, targets: set[Target], level: Level) -> list[Row]:
    """The rows at `level` of every target, a study at a time (at most READ_CONCURRENCY at once)."""
    by_study: dict[str, set[Target]] = defaultdict(set)
    for target in targets:
        by_study[target[0]].add(target)
    semaphore = asyncio.Semaphore(READ_CONCURRENCY)

    async def one(study: str) -> list[Row]:
        async with semaphore:
            return await _rows_of_study(storage, study, by_study[study], level)

    found = await asyncio.gather(*(one(study) for study in by_study))
    return [row for rows in found for row in rows]
