"""Retrieving metadata: the DICOM JSON written at store time, with bulk data as URLs, and an ETag."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

from azure.core.exceptions import ResourceNotFoundError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from archive.clients import Storage, get_storage
from archive.instance_files import current, read_metadata
from archive.partitions import Partition
from archive.rows import InstanceRecord
from dicom.dicom_json import BULK_DATA_TOKEN
from shared.auth import Access, requires
from shared.negotiation import DICOM_JSON, require_json_accept
from shared.partitions import api_path
from shared.settings import public_base_url

from .records import find_instances

METADATA_CONCURRENCY = 16


@requires(Access.READ)
async def metadata(
    request: Request,
    api_version: str,
    partition: Partition,
    study: str,
    series: str | None = None,
    instance: str | None = None,
) -> Response:
    require_json_accept(request)
    storage = await get_storage(partition.key)
    records = await find_instances(storage, study, series, instance)
    etag = metadata_etag(records)
    headers = {"ETag": etag}
    if etag in _entity_tags(request.headers.get("if-none-match")):
        return Response(status_code=304, headers=headers)
    base = f"{public_base_url()}/{api_path(api_version, partition)}"
    return StreamingResponse(_metadata_array(storage, records, base), media_type=DICOM_JSON, headers=headers)


def metadata_etag(records: list[InstanceRecord]) -> str:
    """Changes whenever an instance is added, deleted or replaced: it hashes each instance's stored version."""
    versions = sorted(f"{r.series}/{r.sop}/{r.version}" for r in records)
    return '"' + hashlib.sha256("\n".join(versions).encode()).hexdigest()[:32] + '"'


def _entity_tags(header: str | None) -> set[str]:
    if not header:
        return set()
    return {tag.strip().removeprefix("W/") for tag in header.split(",")}


async def _metadata_array(storage: Storage, records: list[InstanceRecord], base: str) -> AsyncIterator[bytes]:
    """Metadata JSON was written at store time, so no .dcm file is ever parsed here."""
    yield b"["
    written = 0
    for start in range(0, len(records), METADATA_CONCURRENCY):
        window = records[start : start + METADATA_CONCURRENCY]
        bodies = await asyncio.gather(*(_metadata_of(storage, r, base) for r in window))
        for body in bodies:
            if body is not None:
                yield (b"," if written else b"") + body
                written += 1
    yield b"]"


async def _metadata_of(storage: Storage, record: InstanceRecord, base: str) -> bytes | None:
    try:
        body = await read_metadata(storage, record)
    except ResourceNotFoundError:  # an upsert replaced it meanwhile: follow the index to the new one
        latest = await current(storage, record)
        if latest is None:
            return None
        record = latest
        body = await read_metadata(storage, record)
    instance_url = f"{base}/studies/{record.study}/series/{record.series}/instances/{record.sop}"
    return body.replace(f'"{BULK_DATA_TOKEN}'.encode(), f'"{instance_url}/bulkdata/'.encode())
