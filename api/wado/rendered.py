"""Rendered images and thumbnails: one frame as JPEG or PNG, read with the file's header alone where possible."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from archive.clients import Storage, get_storage, start_counting_bytes
from archive.partitions import Partition
from archive.rows import InstanceRecord
from dicom.errors import Invalid
from dicom.layout import require_frames
from dicom.pixels.render import THUMBNAIL_SIZE, RenderRequest, render, render_frame
from shared.auth import Access, requires
from shared.negotiation import render_request

from .frames import parse_frame_list
from .records import find_instance, find_instances
from .stored_frames import header_and_frame, read_whole_file, require_stored_whole


@requires(Access.READ)
async def rendered(
    request: Request,
    api_version: str,
    partition: Partition,
    study: str,
    series: str,
    instance: str,
    frames: str | None = None,
) -> Response:
    asked = render_request(request.headers.get("accept"), request.query_params.get("quality"))
    frame = 1
    if frames is not None:
        numbers = parse_frame_list(frames)
        if len(numbers) != 1:
            raise Invalid("Render one frame at a time, e.g. frames/1/rendered.")
        frame = numbers[0]
    storage = await get_storage(partition.key)
    record = await find_instance(storage, study, series, instance)
    return await _rendered_response(storage, record, frame, asked, None)


@requires(Access.READ)
async def thumbnail(
    request: Request,
    api_version: str,
    partition: Partition,
    study: str,
    series: str | None = None,
    instance: str | None = None,
) -> Response:
    """A small JPEG of the instance, or of the middle instance of a series or study (viewers' study lists)."""
    asked = render_request(request.headers.get("accept"), request.query_params.get("quality"))
    storage = await get_storage(partition.key)
    records = await find_instances(storage, study, series, instance)
    return await _rendered_response(storage, records[len(records) // 2], 1, asked, THUMBNAIL_SIZE)


async def _rendered_response(
    storage: Storage, record: InstanceRecord, frame: int, asked: RenderRequest, max_size: int | None
) -> Response:
    """The header and the one frame, where store time located the frames; else the whole file."""
    counter = start_counting_bytes()
    require_frames([frame], record.frame_count)
    require_stored_whole(record)
    located = await header_and_frame(storage, record, frame)
    if located is not None:
        image = await asyncio.to_thread(render_frame, *located, frame, asked, max_size)
    else:
        image = await asyncio.to_thread(render, await read_whole_file(storage, record), frame, asked, max_size)
    headers = {"X-Storage-Bytes-Read": str(counter[0])}
    return Response(image, media_type=asked.media_type, headers=headers)
