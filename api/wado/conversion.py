"""An instance in the transfer syntax asked for: streamed as stored, converted while it streams (memory of one
frame), or else converted in memory, one instance at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from azure.core.exceptions import ResourceNotFoundError

from archive.clients import Storage
from archive.instance_files import current, open_file, read_range
from archive.rows import InstanceRecord
from dicom.errors import Missing
from dicom.pixels.transcode import SEQUENCE_DELIMITER, encode_frame_jp2, fragment_item, reencoded_header, transcode
from dicomweb_wire.mediatypes import EXPLICIT_VR_LITTLE_ENDIAN, ORIGINAL

from .stored_frames import (
    LITTLE_ENDIAN_NATIVE,
    native_frames,
    pixel_value_length,
    read_whole_file,
    require_stored_whole,
)


@dataclass
class Opened:
    transfer_syntax: str
    chunks: AsyncIterator[bytes]
    length: int | None  # unknown for data encoded as it streams


async def open_instance(storage: Storage, record: InstanceRecord, syntax: str) -> Opened:
    """The instance as asked: its blob streamed as stored, or converted in memory (one instance at a time)."""
    for _ in range(3):
        try:
            if syntax in (ORIGINAL, record.transfer_syntax):
                chunks = await open_file(storage, record)
                return Opened(record.transfer_syntax, chunks, record.size)
            if streamed := await _open_converted(storage, record, syntax):
                return streamed
            data = await asyncio.to_thread(transcode, await read_whole_file(storage, record), syntax)
            return Opened(syntax, _once(data), len(data))
        except ResourceNotFoundError:  # an upsert replaced it meanwhile: follow the index to the new one
            latest = await current(storage, record)
            if latest is None:
                raise Missing("The instance was deleted while it was being retrieved.") from None
            record = latest
    raise Missing("The instance is being replaced repeatedly; retry.")


async def _open_converted(storage: Storage, record: InstanceRecord, syntax: str) -> Opened | None:
    """The instance converted while it streams, in memory of one frame; None where store time did not locate
    its frames or something follows its pixel data (then it is converted in memory)."""
    require_stored_whole(record)
    layout = record.frames
    if syntax == EXPLICIT_VR_LITTLE_ENDIAN and layout is not None and record.transfer_syntax in LITTLE_ENDIAN_NATIVE:
        # Implicit VR: only the header changes; the pixel bytes stream as stored.
        header = await read_range(storage, record, 0, layout.offset)
        length = pixel_value_length(record, header)
        if length is None:
            return None
        head, _ = await asyncio.to_thread(reencoded_header, header, syntax, layout.count, None, length)
        pixels = await open_file(storage, record, layout.offset, length)
        return Opened(syntax, _chain([head], pixels, b"\0" * (length % 2)), len(head) + length + length % 2)
    frames = await native_frames(storage, record)
    if frames is None:
        return None
    length = len(frames.first) * frames.count
    head, module = await asyncio.to_thread(
        reencoded_header, frames.header, syntax, frames.count, frames.description, length
    )
    if syntax == EXPLICIT_VR_LITTLE_ENDIAN:
        pad = b"\0" * (length % 2)
        return Opened(syntax, _chain([head, frames.first], frames.rest, pad), len(head) + length + len(pad))
    first = fragment_item(await asyncio.to_thread(encode_frame_jp2, frames.first, module))

    async def encoded() -> AsyncIterator[bytes]:
        async for frame in frames.rest:
            yield fragment_item(await asyncio.to_thread(encode_frame_jp2, frame, module))

    return Opened(syntax, _chain([head, first], encoded(), SEQUENCE_DELIMITER), None)


async def _chain(first: list[bytes], rest: AsyncIterator[bytes], tail: bytes) -> AsyncIterator[bytes]:
    for chunk in first:
        yield chunk
    async for chunk in rest:
        yield chunk
    if tail:
        yield tail


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
