"""WADO-RS: instances, metadata and frames, streamed from Blob Storage using what the index recorded."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass

from azure.core.exceptions import ResourceNotFoundError
from pydicom.datadict import tag_for_keyword
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from .auth import Access, requires
from .config import Settings
from .dicom_file import PIXEL_MODULE
from .dicom_json import BULK_DATA_TOKEN, first_text
from .errors import bad_request, not_acceptable, not_found
from .http import DICOM_JSON, check_version, note, require_json_accept
from .index import InstanceRecord, list_instances
from .mediatypes import EXPLICIT_VR_LITTLE_ENDIAN, ORIGINAL, MediaType, parse_accept
from .multipart import closing, new_boundary, part_head, related_content_type
from .render import THUMBNAIL_SIZE, RenderRequest, parse_render_request, render, render_frame
from .storage import Storage, get_storage, instance_blob, metadata_blob, start_counting_bytes
from .transcode import (
    SEQUENCE_DELIMITER,
    can_transcode,
    decode_described_frame,
    decode_frame,
    encode_frame_jp2,
    fragment_item,
    frames_of,
    little_endian_words,
    reencoded_header,
    transcode,
)
from .uids import require_uid

log = logging.getLogger("dicomweb")

DICOM = "application/dicom"
OCTET_STREAM = "application/octet-stream"
JP2 = "image/jp2"
JPEG_2000 = {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"}
# Uncompressed syntaxes whose bytes are Explicit VR Little Endian's as they are, for pixel data.
LITTLE_ENDIAN_NATIVE = {"1.2.840.10008.1.2", EXPLICIT_VR_LITTLE_ENDIAN}
BIG_ENDIAN = "1.2.840.10008.1.2.2"
WORD_BITS = {8, 16, 32, 64}  # big-endian samples of these sizes are swapped to little endian word by word
METADATA_CONCURRENCY = 16


@dataclass(frozen=True)
class Choice:
    multipart: bool
    transfer_syntax: str  # a UID, or ORIGINAL
    part_type: str = OCTET_STREAM  # frames only: application/octet-stream or image/jp2


async def _find(storage: Storage, study: str, series: str | None, sop: str | None) -> list[InstanceRecord]:
    study = require_uid(study, "study instance UID")
    series = require_uid(series, "series instance UID") if series is not None else None
    sop = require_uid(sop, "SOP instance UID") if sop is not None else None
    records = await list_instances(storage, study, series, sop)
    if not records:
        what = "instance" if sop else "series" if series else "study"
        raise not_found(f"The {what} was not found in this archive.")
    note(instances=len(records))
    return records


# ---- instances --------------------------------------------------------------------------------------


def choose_instance_format(accept: str | None, single_allowed: bool) -> Choice:
    """The most preferred acceptable form; among equally preferred ones (same q) the stored original wins."""
    ranges = parse_accept(accept)
    if not ranges:
        return Choice(not single_allowed, EXPLICIT_VR_LITTLE_ENDIAN)
    acceptable: list[tuple[float, Choice]] = []
    for media_range in ranges:
        if media_range.type in ("*/*", "multipart/*"):
            acceptable.append((media_range.q, Choice(not single_allowed, ORIGINAL)))
        elif media_range.type == "multipart/related" and media_range.related_type in (None, DICOM, "*/*"):
            acceptable.append((media_range.q, Choice(True, _syntax(media_range))))
        elif media_range.type in (DICOM, "application/*") and single_allowed:
            acceptable.append((media_range.q, Choice(False, _syntax(media_range))))
    if acceptable:
        best = max(q for q, _ in acceptable)
        tied = [choice for q, choice in acceptable if q == best]
        return next((c for c in tied if c.transfer_syntax == ORIGINAL), tied[0])
    allowed = 'multipart/related; type="application/dicom"' + (" or application/dicom" if single_allowed else "")
    raise not_acceptable(
        f"Cannot answer with '{accept[:200]}'. This resource is available as {allowed}, with "
        "transfer-syntax=* (as stored), 1.2.840.10008.1.2.1 (the default) or 1.2.840.10008.1.2.4.90."
    )


def _syntax(media_range: MediaType) -> str:
    return media_range.transfer_syntax or EXPLICIT_VR_LITTLE_ENDIAN


def _check_convertible(records: list[InstanceRecord], syntax: str) -> None:
    for record in records:
        if syntax != ORIGINAL and not can_transcode(record.transfer_syntax, syntax):
            raise not_acceptable(
                f"An instance is stored as {record.transfer_syntax}, which cannot be converted to {syntax}. "
                "Ask for it as stored with transfer-syntax=* in the Accept header, e.g. "
                'Accept: multipart/related; type="application/dicom"; transfer-syntax=*'
            )


@requires(Access.READ)
async def retrieve(
    request: Request, version: str, study: str, series: str | None = None, instance: str | None = None
) -> Response:
    check_version(version)
    choice = choose_instance_format(request.headers.get("accept"), single_allowed=instance is not None)
    storage = await get_storage()
    records = await _find(storage, study, series, instance)
    _check_convertible(records, choice.transfer_syntax)
    first = await _open(storage, records[0], choice.transfer_syntax)  # fails before the 200 starts
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


@dataclass
class Opened:
    transfer_syntax: str
    chunks: AsyncIterator[bytes]
    length: int | None  # unknown for data encoded as it streams


async def _open(storage: Storage, record: InstanceRecord, syntax: str) -> Opened:
    """The instance as asked: its blob streamed as stored, or converted in memory (one instance at a time)."""
    for _ in range(3):
        try:
            if syntax in (ORIGINAL, record.transfer_syntax):
                chunks = await storage.open_stream(instance_blob(record.blob))
                return Opened(record.transfer_syntax, chunks, record.size)
            if streamed := await _open_converted(storage, record, syntax):
                return streamed
            data = await asyncio.to_thread(transcode, await storage.download(instance_blob(record.blob)), syntax)
            return Opened(syntax, _once(data), len(data))
        except ResourceNotFoundError:  # an upsert replaced it meanwhile: follow the index to the new one
            current = await _current(storage, record)
            if current is None:
                raise not_found("The instance was deleted while it was being retrieved.") from None
            record = current
    raise not_found("The instance is being replaced repeatedly; retry.")


async def _open_converted(storage: Storage, record: InstanceRecord, syntax: str) -> Opened | None:
    """The instance converted while it streams, in memory of one frame; None where store time did not locate
    its frames or something follows its pixel data (then it is converted in memory)."""
    layout = record.frames
    if syntax == EXPLICIT_VR_LITTLE_ENDIAN and layout is not None and record.transfer_syntax in LITTLE_ENDIAN_NATIVE:
        # Implicit VR: only the header changes; the pixel bytes stream as stored.
        blob = instance_blob(record.blob)
        header = await storage.download_range(blob, 0, layout.offset)
        length = _pixel_value_length(record, header)
        if length is None:
            return None
        head, _ = await asyncio.to_thread(reencoded_header, header, syntax, layout.count, None, length)
        pixels = await storage.open_stream(blob, layout.offset, length)
        return Opened(syntax, _chain([head], pixels, b"\0" * (length % 2)), len(head) + length + length % 2)
    frames = await _native_frames(storage, record)
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


@dataclass
class NativeFrames:
    """An instance's frames as native Explicit VR Little Endian pixels, the first already read."""

    header: bytes  # the stored file up to its pixel data
    count: int
    first: bytes
    description: dict | None  # the decoder's, when the frames were decompressed
    rest: AsyncIterator[bytes]


async def _native_frames(storage: Storage, record: InstanceRecord) -> NativeFrames | None:
    blob, layout, fragments = instance_blob(record.blob), record.frames, record.encapsulated
    native = layout is not None and _ranged_native(record)
    if not native:
        if fragments is None or not can_transcode(record.transfer_syntax, EXPLICIT_VR_LITTLE_ENDIAN):
            return None
        last_offset, last_length = fragments.frames[-1][-1]
        if last_offset + last_length + 8 != record.size:  # the sequence delimiter ends the file
            return None
    located = await _header_and_frame(storage, record, 1)
    if located is None:
        return None
    header, first = located
    if layout is not None and native:
        if _pixel_value_length(record, header) is None:
            return None

        async def stored() -> AsyncIterator[bytes]:
            for number in range(2, layout.count + 1):
                yield _little_endian(record, await storage.download_range(blob, *layout.byte_range(number)))

        return NativeFrames(header, layout.count, _little_endian(record, first), None, stored())
    assert fragments is not None
    syntax, module = record.transfer_syntax, fragments.pixel_module
    first, description = await asyncio.to_thread(decode_described_frame, first, syntax, module)

    async def decoded() -> AsyncIterator[bytes]:
        for ranges in fragments.frames[1:]:
            raw = await _read_ranges(storage, blob, ranges)
            yield await asyncio.to_thread(decode_frame, raw, syntax, module)

    return NativeFrames(header, len(fragments.frames), first, description, decoded())


def _pixel_value_length(record: InstanceRecord, header: bytes) -> int | None:
    """The native Pixel Data value's length, from the end of `header` (the file up to that value), if the
    value ends the file; None if other elements follow, which a frame-by-frame conversion would drop."""
    (length,) = struct.unpack(">I" if record.transfer_syntax == BIG_ENDIAN else "<I", header[-4:])
    return length if len(header) + length == record.size else None


def _ranged_native(record: InstanceRecord) -> bool:
    """Uncompressed frames that can be read one by one and, if big endian, swapped word by word."""
    if record.transfer_syntax in LITTLE_ENDIAN_NATIVE:
        return True
    return record.transfer_syntax == BIG_ENDIAN and _bits_allocated(record) in WORD_BITS


def _bits_allocated(record: InstanceRecord) -> int:
    return int(first_text(record.attrs.get("00280100")) or 0)


def _little_endian(record: InstanceRecord, pixels: bytes) -> bytes:
    if record.transfer_syntax != BIG_ENDIAN:
        return pixels
    return little_endian_words(pixels, _bits_allocated(record))


async def _header_and_frame(storage: Storage, record: InstanceRecord, frame: int) -> tuple[bytes, bytes] | None:
    """The file up to its pixel data and one frame as stored, read concurrently; None where store time did not
    locate the frames (deflated, unrecognised fragments)."""
    blob, layout, fragments = instance_blob(record.blob), record.frames, record.encapsulated
    if layout is not None and _ranged_native(record):
        header_end, frame_read = layout.offset, storage.download_range(blob, *layout.byte_range(frame))
    elif fragments is not None:
        header_end, frame_read = fragments.frames[0][0][0], _read_ranges(storage, blob, fragments.frames[frame - 1])
    else:
        return None
    header, frame_data = await asyncio.gather(storage.download_range(blob, 0, header_end), frame_read)
    return header, frame_data


async def _chain(first: list[bytes], rest: AsyncIterator[bytes], tail: bytes) -> AsyncIterator[bytes]:
    for chunk in first:
        yield chunk
    async for chunk in rest:
        yield chunk
    if tail:
        yield tail


async def _current(storage: Storage, record: InstanceRecord) -> InstanceRecord | None:
    """The instance's index row now (after an upsert replaced its blob), or None once it is deleted."""
    found = await list_instances(storage, record.study, record.series, record.sop)
    return found[0] if found else None


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _multipart_instances(
    storage: Storage, records: list[InstanceRecord], first: Opened, syntax: str, boundary: str
) -> AsyncIterator[bytes]:
    opened: Opened | None = first
    for record in records:
        try:
            current = opened if opened is not None else await _open(storage, record, syntax)
        except Exception as error:  # deleted after the listing: leave it out rather than break the response
            log.warning("an instance was left out of a multipart retrieve: %s", type(error).__name__)
            continue
        opened = None
        yield part_head(boundary, [("Content-Type", f"{DICOM}; transfer-syntax={current.transfer_syntax}")])
        async for chunk in current.chunks:
            yield chunk
        yield b"\r\n"
    yield closing(boundary)


# ---- metadata ---------------------------------------------------------------------------------------


@requires(Access.READ)
async def metadata(
    request: Request, version: str, study: str, series: str | None = None, instance: str | None = None
) -> Response:
    check_version(version)
    require_json_accept(request)
    storage = await get_storage()
    records = await _find(storage, study, series, instance)
    etag = metadata_etag(records)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if etag in _entity_tags(request.headers.get("if-none-match")):
        return Response(status_code=304, headers=headers)
    base = f"{Settings.from_environment().public_base_url}/{version}"
    return StreamingResponse(_metadata_array(storage, records, base), media_type=DICOM_JSON, headers=headers)


def metadata_etag(records: list[InstanceRecord]) -> str:
    """Changes whenever an instance is added, deleted or replaced: it hashes each instance's stored version."""
    versions = sorted(f"{r.series}/{r.sop}/{r.blob}" for r in records)
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
        body = await storage.download(metadata_blob(record.blob))
    except ResourceNotFoundError:
        current = await _current(storage, record)
        if current is None:
            return None
        record = current
        body = await storage.download(metadata_blob(record.blob))
    instance_url = f"{base}/studies/{record.study}/series/{record.series}/instances/{record.sop}"
    return body.replace(f'"{BULK_DATA_TOKEN}'.encode(), f'"{instance_url}/bulkdata/'.encode())


# ---- frames -----------------------------------------------------------------------------------------


def parse_frame_list(text: str) -> list[int]:
    frames = []
    for item in text.split(","):
        item = item.strip()
        if not item.lstrip("-").isdigit() or int(item) < 1:
            raise bad_request(f"Frame numbers start at 1 and are comma separated (e.g. frames/1,2); got '{text[:80]}'.")
        frames.append(int(item))
    return frames


def choose_frame_format(accept: str | None, frame_count: int) -> Choice:
    ranges = parse_accept(accept)
    if not ranges:
        return Choice(True, EXPLICIT_VR_LITTLE_ENDIAN)
    for media_range in ranges:
        if media_range.type in ("*/*", "multipart/*"):
            return Choice(True, ORIGINAL)
        if media_range.type == "multipart/related" and media_range.related_type in (None, OCTET_STREAM, "*/*"):
            return Choice(True, _syntax(media_range))
        if media_range.type == OCTET_STREAM and frame_count == 1:
            return Choice(False, _syntax(media_range))
        if media_range.type == JP2 and frame_count == 1:
            return Choice(False, ORIGINAL, JP2)
        if media_range.type == "multipart/related" and media_range.related_type == JP2:
            return Choice(True, ORIGINAL, JP2)
    raise not_acceptable(
        f"Cannot answer with '{accept[:200]}'. Frames are available as multipart/related; "
        'type="application/octet-stream" (or application/octet-stream when exactly one frame is asked), '
        "with transfer-syntax=* or 1.2.840.10008.1.2.1."
    )


@requires(Access.READ)
async def frames(request: Request, version: str, study: str, series: str, instance: str, frames: str) -> Response:
    check_version(version)
    numbers = parse_frame_list(frames)
    choice = choose_frame_format(request.headers.get("accept"), len(numbers))
    storage = await get_storage()
    (record,) = await _find(storage, study, series, instance)
    counter = start_counting_bytes()
    # image/jp2 of data stored otherwise: decoded here, then encoded as JPEG 2000 lossless below.
    encode_jp2 = choice.part_type == JP2 and record.transfer_syntax not in JPEG_2000
    if encode_jp2:
        choice = Choice(choice.multipart, EXPLICIT_VR_LITTLE_ENDIAN, JP2)
    if choice.transfer_syntax not in (ORIGINAL, EXPLICIT_VR_LITTLE_ENDIAN) or not can_transcode(
        record.transfer_syntax, EXPLICIT_VR_LITTLE_ENDIAN
    ):
        raise not_acceptable(
            f"Frames of this instance (stored as {record.transfer_syntax}) are available with transfer-syntax=* "
            "(as stored) or 1.2.840.10008.1.2.1 (decoded)."
        )
    layout, fragments = record.frames, record.encapsulated
    count = layout.count if layout else len(fragments.frames) if fragments else _frame_count(record)
    missing = [n for n in numbers if n > count]
    if missing:
        raise not_found(f"Frame {missing[0]} does not exist: the instance has {count} frame(s).")
    blob = instance_blob(record.blob)
    decoded = choice.transfer_syntax == EXPLICIT_VR_LITTLE_ENDIAN
    if layout is not None and (not decoded or _ranged_native(record)):
        syntax = EXPLICIT_VR_LITTLE_ENDIAN if decoded else record.transfer_syntax
        contents: list[bytes] = list(
            await asyncio.gather(*(storage.download_range(blob, *layout.byte_range(n)) for n in numbers))
        )
        if decoded:
            contents = [_little_endian(record, content) for content in contents]
    elif fragments is not None:  # compressed: each frame is one or a few ranged reads of its fragments
        raw = list(await asyncio.gather(*(_read_ranges(storage, blob, fragments.frames[n - 1]) for n in numbers)))
        syntax = EXPLICIT_VR_LITTLE_ENDIAN if decoded else record.transfer_syntax
        if decoded:
            pixel, stored = fragments.pixel_module, record.transfer_syntax
            contents = await asyncio.to_thread(lambda: [decode_frame(f, stored, pixel) for f in raw])
        else:
            contents = raw
    else:  # no recorded layout (deflated, 1-bit big endian, or fragments not told apart)
        data = await storage.download(blob)
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
    boundary = new_boundary()
    return StreamingResponse(
        _multipart_parts(contents, boundary, part_type),
        media_type=related_content_type(choice.part_type, boundary),
        headers=headers,
    )


async def _read_ranges(storage: Storage, blob: str, ranges: list[tuple[int, int]]) -> bytes:
    return b"".join(await asyncio.gather(*(storage.download_range(blob, *r) for r in ranges)))


async def _pixel_module(storage: Storage, record: InstanceRecord) -> dict[str, object]:
    """Rows, bits and the like of an uncompressed instance, from its stored metadata."""
    metadata = json.loads(await storage.download(metadata_blob(record.blob)))
    module = {}
    for name, keyword in PIXEL_MODULE.items():
        value = first_text(metadata.get(f"{tag_for_keyword(keyword):08X}"))
        if value:
            module[name] = value if name == "photometric_interpretation" else int(value)
    return module


def _frame_count(record: InstanceRecord) -> int:
    return int(first_text(record.attrs.get("00280008")) or 1)


async def _multipart_parts(contents: list[bytes], boundary: str, part_type: str) -> AsyncIterator[bytes]:
    """Frames or bulk data, already read, as one multipart body."""
    for content in contents:
        yield part_head(boundary, [("Content-Type", part_type)])
        yield content
        yield b"\r\n"
    yield closing(boundary)


# ---- rendered and thumbnails ------------------------------------------------------------------------


@requires(Access.READ)
async def rendered(
    request: Request, version: str, study: str, series: str, instance: str, frames: str | None = None
) -> Response:
    check_version(version)
    render_request = parse_render_request(request.headers.get("accept"), request.query_params.get("quality"))
    frame = 1
    if frames is not None:
        numbers = parse_frame_list(frames)
        if len(numbers) != 1:
            raise bad_request("Render one frame at a time, e.g. frames/1/rendered.")
        frame = numbers[0]
    storage = await get_storage()
    (record,) = await _find(storage, study, series, instance)
    return await _rendered_response(storage, record, frame, render_request, None)


@requires(Access.READ)
async def thumbnail(
    request: Request, version: str, study: str, series: str | None = None, instance: str | None = None
) -> Response:
    """A small JPEG of the instance, or of the middle instance of a series or study (viewers' study lists)."""
    check_version(version)
    render_request = parse_render_request(request.headers.get("accept"), request.query_params.get("quality"))
    storage = await get_storage()
    records = await _find(storage, study, series, instance)
    return await _rendered_response(storage, records[len(records) // 2], 1, render_request, THUMBNAIL_SIZE)


async def _rendered_response(
    storage: Storage, record: InstanceRecord, frame: int, render_request: RenderRequest, max_size: int | None
) -> Response:
    """The header and the one frame, where store time located the frames; else the whole file."""
    layout, fragments = record.frames, record.encapsulated
    counter = start_counting_bytes()
    count = layout.count if layout else len(fragments.frames) if fragments else None
    if count is not None and frame > count:
        raise not_found(f"Frame {frame} does not exist: the instance has {count} frame(s).")
    located = await _header_and_frame(storage, record, frame)
    if located is not None:
        image = await asyncio.to_thread(render_frame, *located, frame, render_request, max_size)
    else:
        data = await storage.download(instance_blob(record.blob))
        image = await asyncio.to_thread(render, data, frame, render_request, max_size)
    headers = {"X-Storage-Bytes-Read": str(counter[0])}
    return Response(image, media_type=render_request.media_type, headers=headers)


# ---- bulk data ---------------------------------------------------------------------------------------


@requires(Access.READ)
async def bulkdata(request: Request, version: str, study: str, series: str, instance: str, tag: str) -> Response:
    """A BulkDataURI from the metadata: the value's bytes, read with one ranged read."""
    check_version(version)
    tag = tag.upper()
    if len(tag) != 8 or any(c not in "0123456789ABCDEF" for c in tag):
        raise bad_request(f"'{tag[:20]}' is not a tag: use eight hex digits, as in the BulkDataURI.")
    single = _bulk_single_part(request.headers.get("accept"))
    storage = await get_storage()
    (record,) = await _find(storage, study, series, instance)
    if tag not in record.bulk:
        raise not_found(f"The instance has no bulk data at tag {tag}.")
    counter = start_counting_bytes()
    data = await storage.download_range(instance_blob(record.blob), *record.bulk[tag])
    headers = {"X-Storage-Bytes-Read": str(counter[0])}
    if single:
        return Response(data, media_type=OCTET_STREAM, headers=headers)
    boundary = new_boundary()
    return StreamingResponse(
        _multipart_parts([data], boundary, OCTET_STREAM),
        media_type=related_content_type(OCTET_STREAM, boundary),
        headers=headers,
    )


def _bulk_single_part(accept: str | None) -> bool:
    for media_range in parse_accept(accept):
        if media_range.type == OCTET_STREAM:
            return True
        if media_range.type in ("*/*", "multipart/related", "multipart/*"):
            return False
    if accept and parse_accept(accept):
        raise not_acceptable('Bulk data is available as multipart/related; type="application/octet-stream" or '
                             "application/octet-stream.")  # fmt: skip
    return False
