"""The instances a WADO path names, or a 404 that says which level was not found."""

from __future__ import annotations

from archive.clients import Storage
from archive.reads import list_instances
from archive.rows import InstanceRecord
from dicom.errors import Missing
from shared.runner import note


async def find_instances(storage: Storage, study: str, series: str | None, sop: str | None) -> list[InstanceRecord]:
    records = await list_instances(storage, study, series, sop)
    if not records:
        what = "instance" if sop else "series" if series else "study"
        raise Missing(f"The {what} was not found in this archive.")
    note(instances=len(records))
    return records


async def find_instance(storage: Storage, study: str, series: str, sop: str) -> InstanceRecord:
    (record,) = await find_instances(storage, study, series, sop)
    return record
