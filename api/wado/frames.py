"""Retrieving frames: each one or a few ranged reads of the stored file, as stored or decoded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator

from pydicom.datadict import tag_for_keyword
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from archive.clients import Storage, get_storage, start_counting_bytes
from archive.instance_files import open_file, read_metadata
from archive.partitions import Partition
from archive.rows import InstanceRecord
from dicom.errors import CannotProvide, Invalid
from dicom.layout import PIXEL_MODULE, require_frames
from dicom.pixels.limits import require_whole
from dicom.pixels.transcode import can_transcode, decode_frame, encode_frame_jp2, frames_of
from dicom.values import first_text, whole_number
from dicomweb_wire.mediatypes import EXPLICIT_VR_LITTLE_ENDIAN, ORIGINAL
from dicomweb_wire.multipart import closing, new_boundary, part_head, related_content_type
from shared.auth import Access, requires
from shared.negotiation import JP2, OCTET_STREAM, Choice, frame_format

from .records import find_instance
from .stored_frames import (
    LITTLE_ENDIAN_NATIVE,
    little_endian,
    ranged_native,
    read_frame,
    read_whole_file,
    require_stored_whole,
)

JPEG_2000 = {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"}
MAX_FRAMES = 256  # frames one request may ask for
STREAMED_FRAME_BYTES = 8 * 1024 * 1024  # larger uncompressed frames pass through in chunks, never whole in memory
Frame = bytes | AsyncIterator[bytes]  # a frame's bytes, or (a large one) its chunks as they come


def parse_frame_list(text: str) -> list[int]:
    """Frame numbers, each once; a list that repeats one or names more than MAX_FRAMES would only multiply
    the work of a single request."""
    parsed = [whole_number(item.strip()) for item in text.split(",")]
    frames = [number for number in parsed if number is not None and number >= 1]
    if len(frames) != len(parsed):
        raise Invalid(f"Frame numbers start at 1 and are comma separated (e.g. frames/1,2); got '{text[:80]}'.")
    if len(set(frames)) != len(frames):
        raise Invalid(f"Frame numbers must each be asked once; got '{text[:80]}'.")
    if len(frames) > MAX_FRAMES:
        raise Invalid(f"At most {MAX_FRAMES} frames can be asked at once; got {len(frames)}. Ask in several requests.")
    return frames


@requires(Access.READ)
async def frames(
    request: Request, api_version: str, partition: Partition, study: str, series: str, instance: str, frames: str
) -> Response:
    numbers = parse_frame_list(frames)
    choice = frame_format(request.headers.get("accept"), len(numbers))
    storage = await get_storage(partition.key)
    record = await find_instance(storage, study, series, instance)
    counter = start_counting_bytes()
    # image/jp2 of data stored otherwise: decoded here, then encoded as JPEG 2000 lossless below.
    encode_jp2 = choice.part_type == JP2 and record.transfer_syntax not in JPEG_2000
    if encode_jp2:
        choice = Choice(choice.multipart, EXPLICIT_VR_LITTLE_ENDIAN, JP2)
    if choice.transfer_syntax not in (ORIGINAL, EXPLICIT_VR_LITTLE_ENDIAN) or not can_transcode(
        record.transfer_syntax, EXPLICIT_VR_LITTLE_ENDIAN
    ):
        raise CannotProvide(
            f"Frames of this instance (stored as {record.transfer_syntax}) are available with transfer-syntax=* "
            "(as stored) or 1.2.840.10008.1.2.1 (decoded)."
        )
    require_frames(numbers, record.frame_count)
    decoded = choice.transfer_syntax == EXPLICIT_VR_LITTLE_ENDIAN
    contents, syntax = await _frame_contents(storage, record, numbers, decoded, whole=encode_jp2)
    if encode_jp2:
        module = record.encapsulated.pixel_module if record.encapsulated else await _pixel_module(storage, record)
        contents = _each_in_thread(contents, lambda frame: encode_frame_jp2(frame, module))
    part_type = JP2 if choice.part_type == JP2 else f"{OCTET_STREAM}; transfer-syntax={syntax}"
    # The first frame is read (and checked, and decoded) before the response starts, so a frame that cannot
    # be served answers 406; later ones follow one at a time, and a failure among them ends the response
    # without its closing boundary rather than sending a short frame as if whole.
    first = await anext(contents)
    headers = {"X-Storage-Bytes-Read": str(counter[0])}  # before the response starts: the first frame's
    if not choice.multipart and isinstance(first, bytes):
        return Response(first, media_type=part_type, headers=headers)
    if not choice.multipart:
        assert record.frames is not None  # a streamed frame is a located native one
        headers["Content-Length"] = str(record.frames.length)
        return StreamingResponse(first, media_type=part_type, headers=headers)
    boundary = new_boundary()
    return StreamingResponse(
        _parts(first, contents, boundary, part_type),
        media_type=related_content_type(part_type.split(";")[0], boundary),
        headers=headers,
    )


async def _frame_contents(
    storage: Storage, record: InstanceRecord, numbers: list[int], decoded: bool, whole: bool
) -> tuple[AsyncIterator[Frame], str]:
    """The frames asked for, one at a time (as stored, or decoded to native little endian), and their syntax.

    Uncompressed frames over STREAMED_FRAME_BYTES that need no change come as streams of chunks (unless
    `whole` frames are needed), so even one huge frame is never held in memory.
    """
    layout, fragments = record.frames, record.encapsulated
    require_stored_whole(record)
    if layout is not None and (not decoded or ranged_native(record)):
        unchanged = not decoded or record.transfer_syntax in LITTLE_ENDIAN_NATIVE
        streamed = unchanged and not whole and layout.length > STREAMED_FRAME_BYTES

        async def stored() -> AsyncIterator[Frame]:
            for number in numbers:
                if streamed:
                    yield _streamed_frame(storage, record, number)
                    continue
                frame = await read_frame(storage, record, number)
                yield little_endian(record, frame) if decoded else frame

        return stored(), EXPLICIT_VR_LITTLE_ENDIAN if decoded else record.transfer_syntax
    if fragments is not None:  # compressed: each frame is one or a few ranged reads of its fragments
        module, syntax = fragments.pixel_module, record.transfer_syntax

        async def compressed() -> AsyncIterator[bytes]:
            for number in numbers:
                raw = await read_frame(storage, record, number)
                yield await asyncio.to_thread(decode_frame, raw, syntax, module, number) if decoded else raw

        return compressed(), EXPLICIT_VR_LITTLE_ENDIAN if decoded else syntax
    # no recorded layout (deflated, 1-bit big endian, or fragments not told apart): the file, checked whole
    data = await read_whole_file(storage, record)
    frames, syntax = await asyncio.to_thread(frames_of, data, numbers, EXPLICIT_VR_LITTLE_ENDIAN if decoded else None)
    return _each_in_thread(frames, lambda frame: frame), syntax


async def _streamed_frame(storage: Storage, record: InstanceRecord, number: int) -> AsyncIterator[bytes]:
    """One uncompressed frame's bytes as they come from storage; a file that ends early breaks the response
    off (no closing boundary) rather than passing a short frame as whole."""
    assert record.frames is not None
    offset, length = record.frames.byte_range(number)
    sent = 0
    async for chunk in await open_file(storage, record, offset, length):
        sent += len(chunk)
        yield chunk
    require_whole(sent, length, number)


async def _each_in_thread(
    frames: Iterator[bytes] | AsyncIterator[bytes], work: Callable[[bytes], bytes]
) -> AsyncIterator[bytes]:
    """Each frame through `work` (decoding, encoding) off the event loop, one at a time."""
    if isinstance(frames, AsyncIterator):
        async for frame in frames:
            yield await asyncio.to_thread(work, frame)
        return
    while (frame := await asyncio.to_thread(next, frames, None)) is not None:
        yield await asyncio.to_thread(work, frame)


async def _parts(first: Frame, rest: AsyncIterator[Frame], boundary: str, part_type: str) -> AsyncIterator[bytes]:
    async def each() -> AsyncIterator[Frame]:
        yield first
        async for frame in rest:
            yield frame

    async for frame in each():
        yield part_head(boundary, [("Content-Type", part_type)])
        if isinstance(frame, bytes):
            yield frame
        else:
            async for chunk in frame:
                yield chunk
        yield b"\r\n"
    yield closing(boundary)


async def _pixel_module(storage: Storage, record: InstanceRecord) -> dict[str, object]:
    """Rows, bits and the like of an uncompressed instance, from its stored metadata."""
    metadata = json.loads(await read_metadata(storage, record))
    module = {}
    for name, keyword in PIXEL_MODULE.items():
        value = first_text(metadata.get(f"{tag_for_keyword(keyword):08X}"))
        if value:
            module[name] = value if name == "photometric_interpretation" else int(value)
    return module
