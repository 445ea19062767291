"""Creating, listing and revoking share links (owners): the answer to creating one is the only place its link
appears; afterwards the service knows the link's secret only as a hash."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from archive.clients import Storage, get_storage
from archive.folders import require_folder, study_of_order
from archive.partitions import Partition
from archive.reads import read_study
from archive.shares import create_share, list_shares, revoke_share
from dicom.errors import Invalid, Missing
from dicomweb_wire.uids import clean_uid, is_valid_uid
from shared.auth import Access, requires
from shared.partitions import api_path
from shared.settings import public_base_url

from ..folders.requests import read_json, text_field

DEFAULT_MAX_DAYS = 90
MAX_STUDIES = 100
MAX_PASSWORD = 256


def max_days() -> int:
    """DICOM_SHARE_MAX_DAYS: the longest a link may live; a folder share without an expiry gets this."""
    return int(os.environ.get("DICOM_SHARE_MAX_DAYS") or DEFAULT_MAX_DAYS)


def _expiry(body: dict[str, Any], folder: bool, now: datetime) -> datetime:
    """The end (UTC) of the day `expires` names; required for study shares, max_days() ahead at most."""
    text = body.get("expires")
    latest = now + timedelta(days=max_days())
    if text is None and folder:
        return latest
    try:
        day = date.fromisoformat(text) if isinstance(text, str) and len(text) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise Invalid("'expires' is required (for a study share) as a date YYYY-MM-DD: the link's last day (UTC).")
    expires = datetime.combine(day, time(23, 59, 59), UTC)
    if expires <= now:
        raise Invalid(f"'expires' ({text}) is in the past: give today or a later day.")
    if expires > latest + timedelta(days=1):
        raise Invalid(f"'expires' is more than {max_days()} days ahead (DICOM_SHARE_MAX_DAYS); give an earlier day.")
    return expires


def _uids(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name) or []
    if not isinstance(value, list) or len(value) > MAX_STUDIES:
        raise Invalid(f"'{name}' is a list of at most {MAX_STUDIES} UIDs.")
    uids = list(dict.fromkeys(clean_uid(str(uid)) for uid in value))
    if not all(is_valid_uid(uid) for uid in uids):
        raise Invalid(f"'{name}' holds something that is not a valid UID (digits and dots only).")
    return uids


async def _shared_studies(storage: Storage, body: dict[str, Any]) -> list[str]:
    """The studies named, and those of the orders named (worklist items), each stored in this partition."""
    studies = _uids(body, "studies") + [await study_of_order(storage, order) for order in _uids(body, "orders")]
    if not 0 < len(set(studies)) <= MAX_STUDIES:
        raise Invalid(f"Name 1 to {MAX_STUDIES} 'studies' (Study Instance UIDs) or 'orders' (worklist item UIDs).")
    for study in studies:
        if await read_study(storage, study) is None:
            raise Missing(f"The study {study} has no images in this partition (yet); nothing was shared.")
    return list(dict.fromkeys(studies))


@requires(Access.WRITE)
async def create_share_link(request: Request, api_version: str, partition: Partition) -> Response:
    """POST /shares {"studies": [...], "orders": [...]} or {"folder": id}, with expires, password, downloadable,
    title and description."""
    body = await read_json(request)
    storage = await get_storage(partition.key)
    folder = body.get("folder")
    if (folder is None) == (body.get("studies") is None and body.get("orders") is None):
        raise Invalid("Name either 'studies' and/or 'orders' (lists of UIDs) or 'folder' (a folder id).")
    if folder is not None:
        if not isinstance(folder, str):
            raise Invalid("'folder' is a folder id (a string).")
        await require_folder(storage, folder)
        studies: list[str] = []
    else:
        studies = await _shared_studies(storage, body)
    downloadable = body.get("downloadable", False)
    if not isinstance(downloadable, bool):
        raise Invalid("'downloadable' is true or false.")
    share, token = await create_share(
        storage, studies=studies, folder=folder or "", expires=_expiry(body, folder is not None, datetime.now(UTC)),
        password=text_field(body, "password", MAX_PASSWORD) or "", downloadable=downloadable,
        title=text_field(body, "title") or "", description=text_field(body, "description") or "",
    )  # fmt: skip
    url = f"{public_base_url()}/{api_path(api_version, partition)}/share/{token}"
    answer = {**share.summary(), "url": url}
    return Response(json.dumps(answer), status_code=201, media_type="application/json", headers={"Location": url})


@requires(Access.WRITE)
async def list_share_links(request: Request, api_version: str, partition: Partition) -> Response:
    shares = await list_shares(await get_storage(partition.key))
    return Response(json.dumps([share.summary() for share in shares]), media_type="application/json")


@requires(Access.WRITE)
async def revoke_share_link(request: Request, api_version: str, partition: Partition, share_id: str) -> Response:
    if not await revoke_share(await get_storage(partition.key), share_id):
        raise Missing("There is no share of that id in this partition (list shares to see their ids).")
    return Response(status_code=204)
