"""Retrieving instances: one as application/dicom, or a study, series or instance as multipart/related."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from archive.clients import Storage, get_storage
from archive.partitions import Partition
from archive.rows import InstanceRecord
from dicom.errors import CannotProvide
from dicom.pixels.transcode import can_transcode
from dicomweb_wire.mediatypes import ORIGINAL
from dicomweb_wire.multipart import closing, new_boundary, part_head, related_content_type
from shared.auth import Access, requires
from shared.negotiation import DICOM, instance_format

from .conversion import Opened, open_instance
from .records import find_instances

log = logging.getLogger("dicomweb")


@requires(Access.READ)
async def retrieve(
    request: Request,
    api_version: str,
    partition: Partition,
    study: str,
    series: str | None = None,
    instance: str | None = None,
) -> Response:
    choice = instance_format(request.headers.get("accept"), single_allowed=instance is not None)
    storage = await get_storage(partition.key)
    records = await find_instances(storage, study, series, instance)
    _check_convertible(records, choice.transfer_syntax)
    first = await open_instance(storage, records[0], choice.transfer_syntax)  # fails before the 200 starts
    if not choice.multipart:
        return StreamingResponse(
            first.chunks,
            media_type=f"{DICOM}; transfer-syntax={first.transfer_syntax}",
            headers={"Content-Length": str(first.length)} if first.length is not None else None,
        )
    boundary = new_boundary()
    return StreamingResponse(
        _multipart_instances(storage, records, first, choice.transfer_syntax, boundary),
        media_type=related_content_type(DICOM, boundary),
    )


def _check_convertible(records: list[InstanceRecord], syntax: str) -> None:
    for record in records:
        if syntax != ORIGINAL and not can_transcode(record.transfer_syntax, syntax):
            raise CannotProvide(
                f"An instance is stored as {record.transfer_syntax}, which cannot be converted to {syntax}. "
                "Ask for it as stored with transfer-syntax=* in the Accept header, e.g. "
                'Accept: multipart/related; type="application/dicom"; transfer-syntax=*'
            )


async def _multipart_instances(
    storage: Storage, records: list[InstanceRecord], first: Opened, syntax: str, boundary: str
) -> AsyncIterator[bytes]:
    opened: Opened | None = first
    for record in records:
        try:
            current = opened if opened is not None else await open_instance(storage, record, syntax)
        except Exception as error:  # deleted after the listing: leave it out rather than break the response
            log.warning("an instance was left out of a multipart retrieve: %s", type(error).__name__)
            continue
        opened = None
        yield part_head(boundary, [("Content-Type", f"{DICOM}; transfer-syntax={current.transfer_syntax}")])
        async for chunk in current.chunks:
            yield chunk
        yield b"\r\n"
    yield closing(boundary)
