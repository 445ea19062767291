"""Retrieving frames: each one or a few ranged reads of the stored file, as stored or decoded."""

from __future__ import annotations

import asyncio
import json

from pydicom.datadict import tag_for_keyword
from starlette.requests import Request
from starlette.responses import Response

from archive.clients import Storage, get_storage, start_counting_bytes
from archive.instance_files import read_file, read_metadata, read_range, read_ranges
from archive.rows import InstanceRecord
from dicom.errors import CannotProvide, Invalid
from dicom.layout import PIXEL_MODULE, require_frames
from dicom.pixels.transcode import can_transcode, decode_frame, encode_frame_jp2, frames_of
from dicom.values import first_text, whole_number
from dicomweb_wire.mediatypes import EXPLICIT_VR_LITTLE_ENDIAN, ORIGINAL
from shared.auth import Access, requires
from shared.multipart import multipart_response
from shared.negotiation import JP2, OCTET_STREAM, Choice, frame_format

from .records import find_instance
from .stored_frames import little_endian, ranged_native

JPEG_2000 = {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"}
MAX_FRAMES = 256  # frames one request may ask for


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
async def frames(request: Request, api_version: str, study: str, series: str, instance: str, frames: str) -> Response:
    numbers = parse_frame_list(frames)
    choice = frame_format(request.headers.get("accept"), len(numbers))
    storage = await get_storage()
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
    layout, fragments = record.frames, record.encapsulated
    require_frames(numbers, record.frame_count)
    decoded = choice.transfer_syntax == EXPLICIT_VR_LITTLE_ENDIAN
    if layout is not None and (not decoded or ranged_native(record)):
        syntax = EXPLICIT_VR_LITTLE_ENDIAN if decoded else record.transfer_syntax
        contents: list[bytes] = list(
            await asyncio.gather(*(read_range(storage, record, *layout.byte_range(n)) for n in numbers))
        )
        if decoded:
            contents = [little_endian(record, content) for content in contents]
    elif fragments is not None:  # compressed: each frame is one or a few ranged reads of its fragments
        raw = list(await asyncio.gather(*(read_ranges(storage, record, fragments.frames[n - 1]) for n in numbers)))
        syntax = EXPLICIT_VR_LITTLE_ENDIAN if decoded else record.transfer_syntax
        if decoded:
            pixel, stored = fragments.pixel_module, record.transfer_syntax
            contents = await asyncio.to_thread(lambda: [decode_frame(f, stored, pixel) for f in raw])
        else:
            contents = raw
    else:  # no recorded layout (deflated, 1-bit big endian, or fragments not told apart)
        data = await read_file(storage, record)
        contents, syntax = await asyncio.to_thread(
            frames_of, data, numbers, choice.transfer_syntax if decoded else None
        )
    if encode_jp2:
        module = fragments.pixel_module if fragments else await _pixel_module(storage, record)
        contents = await asyncio.to_thread(lambda: [encode_frame_jp2(c, module) for c in contents])
    part_type = JP2 if choice.part_type == JP2 else f"{OCTET_STREAM}; transfer-syntax={syntax}"
    headers = {"X-Storage-Bytes-Read": str(counter[0])}
    if not choice.multipart:
        return Response(contents[0], media_type=part_type, headers=headers)
    return multipart_response(contents, part_type, headers)


async def _pixel_module(storage: Storage, record: InstanceRecord) -> dict[str, object]:
    """Rows, bits and the like of an uncompressed instance, from its stored metadata."""
    metadata = json.loads(await read_metadata(storage, record))
    module = {}
    for name, keyword in PIXEL_MODULE.items():
        value = first_text(metadata.get(f"{tag_for_keyword(keyword):08X}"))
        if value:
            module[name] = value if name == "photometric_interpretation" else int(value)
    return module
