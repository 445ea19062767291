"""The change feed API, as the Azure DICOM service has it: GET {base}/changefeed and {base}/changefeed/latest.

v2 pages by time (startTime inclusive, endTime exclusive) and then by position (offset entries skipped, limit
1-200, default 100); v1 by sequence (offset: the sequence after which to start; limit 1-100, default 10).
Reading a page is one range read of the feed's partition (archive.changefeed), never of the archive.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from archive import changefeed, partitions
from archive.changefeed import Entry
from archive.clients import get_storage
from archive.instance_files import read_version_metadata
from dicom.dicom_json import BULK_DATA_TOKEN
from dicom.errors import Invalid
from shared.auth import Access, requires
from shared.parameters import flag, number
from shared.partitions import api_path, enabled, may_use
from shared.settings import public_base_url

METADATA_CONCURRENCY = 16
LIMITS = {"v1": (10, 100), "v2": (100, 200)}  # default, most


@requires(Access.READ)
async def changes(request: Request, api_version: str, claims: dict | None = None) -> Response:
    params = request.query_params
    default, most = LIMITS[api_version]
    limit = number(params, "limit", default, 1, most)
    offset = number(params, "offset", 0, 0, 10**15)
    with_metadata = flag(params, "includemetadata")
    if api_version == "v1":
        first, last = offset + 1, offset + limit
    else:
        start, end = _time(params, "startTime"), _time(params, "endTime")
        if start and end and end <= start:
            raise Invalid("endTime must be after startTime.")
        first = (await changefeed.first_at_or_after(start) if start else 1) + offset
        last = min(first + limit, await changefeed.first_at_or_after(end)) - 1
    entries = await changefeed.between(first, last)
    body = await _bodies(entries, api_version, with_metadata, claims)
    return Response(json.dumps(body), media_type="application/json")


@requires(Access.READ)
async def latest(request: Request, api_version: str, claims: dict | None = None) -> Response:
    entry = await changefeed.latest()
    with_metadata = flag(request.query_params, "includemetadata")
    body = await _bodies([entry] if entry else [], api_version, with_metadata, claims)
    return Response(json.dumps(body[0] if body else {}), media_type="application/json")


async def _bodies(entries: list[Entry], api_version: str, with_metadata: bool, claims: dict | None) -> list[dict]:
    """Entries as the reference writes them; with an access map, only those of the caller's partitions."""
    names = {p.key: p.name for p in await partitions.all_partitions()} if enabled() else {}
    visible = [e for e in entries if not names or may_use(claims, names.get(e.partition, ""))]
    semaphore = asyncio.Semaphore(METADATA_CONCURRENCY)

    async def one(entry: Entry) -> dict:
        body: dict = {
            "Sequence": entry.sequence, "StudyInstanceUid": entry.study, "SeriesInstanceUid": entry.series,
            "SopInstanceUid": entry.sop, "Action": entry.action, "Timestamp": entry.timestamp, "State": entry.state,
        }  # fmt: skip
        if names:
            body["PartitionName"] = names.get(entry.partition, partitions.DEFAULT_NAME)
        if with_metadata:
            async with semaphore:
                body["Metadata"] = await _metadata(entry, api_version, names)
        return body

    return list(await asyncio.gather(*(one(entry) for entry in visible)))


async def _metadata(entry: Entry, api_version: str, names: dict[int, str]) -> dict | None:
    """The instance's DICOM JSON while this entry's version is the stored one."""
    if entry.state != changefeed.CURRENT:
        return None
    data = await read_version_metadata(await get_storage(entry.partition), entry.version)
    if data is None:
        return None
    partition = partitions.Partition(names.get(entry.partition, partitions.DEFAULT_NAME), entry.partition, "")
    url = f"{public_base_url()}/{api_path(api_version, partition)}/studies/{entry.study}/series/{entry.series}"
    url += f"/instances/{entry.sop}/bulkdata/"
    return json.loads(data.replace(f'"{BULK_DATA_TOKEN}'.encode(), f'"{url}'.encode()))


def _time(params: Mapping[str, str], name: str) -> datetime | None:
    text = params.get(name)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as error:
        raise Invalid(f"{name} '{text[:40]}' is not an ISO 8601 date-time, e.g. 2026-12-01T08:00:00Z.") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
