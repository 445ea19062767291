"""DELETE (non-standard, as the reference service has it): a study, a series or one instance."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from .auth import Access, requires
from .errors import not_found
from .http import check_version, note
from .index import delete_instances, list_instances
from .storage import get_storage
from .uids import require_uid


@requires(Access.WRITE)
async def delete(
    request: Request, version: str, study: str, series: str | None = None, instance: str | None = None
) -> Response:
    check_version(version)
    study = require_uid(study, "study instance UID")
    series = require_uid(series, "series instance UID") if series is not None else None
    instance = require_uid(instance, "SOP instance UID") if instance is not None else None
    storage = await get_storage()
    records = await list_instances(storage, study, series, instance)
    deleted = await delete_instances(storage, records) if records else []
    note(instances_deleted=len(deleted))
    if not deleted:
        what = "instance" if instance else "series" if series else "study"
        raise not_found(f"The {what} was not found in this archive (it may have been deleted already).")
    return Response(status_code=204)
