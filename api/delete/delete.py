"""DELETE (non-standard, as the reference service has it): a study, a series or one instance."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from archive.clients import get_storage
from archive.folders import forget_study
from archive.partitions import Partition
from archive.reads import list_instances
from archive.removal import delete_instances
from dicom.errors import Missing
from shared.auth import Access, requires
from shared.runner import note


@requires(Access.WRITE)
async def delete(
    request: Request,
    api_version: str,
    partition: Partition,
    study: str,
    series: str | None = None,
    instance: str | None = None,
) -> Response:
    storage = await get_storage(partition.key)
    records = await list_instances(storage, study, series, instance)
    deleted = await delete_instances(storage, records) if records else []
    note(instances_deleted=len(deleted))
    if not deleted:
        what = "instance" if instance else "series" if series else "study"
        raise Missing(f"The {what} was not found in this archive (it may have been deleted already).")
    if series is None:  # the study is gone: so are its places in folders (studies emptied otherwise: at read time)
        await forget_study(storage, study)
    return Response(status_code=204)
