"""A stored instance's frames read one at a time, as stored or as native little-endian pixels.

Uses the frame layout found at store time; None wherever it was not found (the caller then reads the file).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass

from azure.core.exceptions import HttpResponseError

from archive.clients import Storage
from archive.instance_files import read_file, read_range, read_ranges
from archive.rows import InstanceRecord
from dicom.errors import CannotProvide
from dicom.parsing import max_inflated_bytes
from dicom.pixels.inflate import MAX_INFLATED_SETTING
from dicom.pixels.limits import DAMAGED, require_native_length, require_whole
from dicom.pixels.transcode import can_transcode, decode_described_frame, decode_frame, little_endian_words
from dicom.values import first_text
from dicomweb_wire.mediatypes import EXPLICIT_VR_LITTLE_ENDIAN

# Uncompressed syntaxes whose bytes are Explicit VR Little Endian's as they are, for pixel data.
LITTLE_ENDIAN_NATIVE = {"1.2.840.10008.1.2", EXPLICIT_VR_LITTLE_ENDIAN}
BIG_ENDIAN = "1.2.840.10008.1.2.2"
WORD_BITS = {8, 16, 32, 64}
RANGE_NOT_SATISFIABLE = 416  # big-endian samples of these sizes are swapped to little endian word by word


@dataclass
class NativeFrames:
    """An instance's frames as native Explicit VR Little Endian pixels, the first already read."""

    header: bytes  # the stored file up to its pixel data
    count: int
    first: bytes
    description: dict | None  # the decoder's, when the frames were decompressed
    rest: AsyncIterator[bytes]


async def native_frames(storage: Storage, record: InstanceRecord) -> NativeFrames | None:
    require_stored_whole(record)
    layout, fragments = record.frames, record.encapsulated
    native = layout is not None and ranged_native(record)
    if not native:
        if fragments is None or not can_transcode(record.transfer_syntax, EXPLICIT_VR_LITTLE_ENDIAN):
            return None
        last_offset, last_length = fragments.frames[-1][-1]
        if last_offset + last_length + 8 != record.size:  # the sequence delimiter ends the file
            return None
    located = await header_and_frame(storage, record, 1)
    if located is None:
        return None
    header, first = located
    if layout is not None and native:
        length = pixel_value_length(record, header)
        if length is None:
            return None
        require_native_length(length, layout.length * layout.count)

        async def stored() -> AsyncIterator[bytes]:
            for number in range(2, layout.count + 1):
                yield little_endian(record, await read_frame(storage, record, number))

        return NativeFrames(header, layout.count, little_endian(record, first), None, stored())
    assert fragments is not None
    syntax, module = record.transfer_syntax, fragments.pixel_module
    first, description = await asyncio.to_thread(decode_described_frame, first, syntax, module, 1)

    async def decoded() -> AsyncIterator[bytes]:
        for number in range(2, len(fragments.frames) + 1):
            raw = await read_frame(storage, record, number)
            yield await asyncio.to_thread(decode_frame, raw, syntax, module, number)

    return NativeFrames(header, len(fragments.frames), first, description, decoded())


def pixel_value_length(record: InstanceRecord, header: bytes) -> int | None:
    """The native Pixel Data value's length, from the end of `header` (the file up to that value), if the
    value ends the file; None if other elements follow, which a frame-by-frame conversion would drop."""
    (length,) = struct.unpack(">I" if record.transfer_syntax == BIG_ENDIAN else "<I", header[-4:])
    return length if len(header) + length == record.size else None


def ranged_native(record: InstanceRecord) -> bool:
    """Uncompressed frames that can be read one by one and, if big endian, swapped word by word."""
    if record.transfer_syntax in LITTLE_ENDIAN_NATIVE:
        return True
    return record.transfer_syntax == BIG_ENDIAN and _bits_allocated(record) in WORD_BITS


def _bits_allocated(record: InstanceRecord) -> int:
    return int(first_text(record.attrs.get("00280100")) or 0)


def little_endian(record: InstanceRecord, pixels: bytes) -> bytes:
    if record.transfer_syntax != BIG_ENDIAN:
        return pixels
    return little_endian_words(pixels, _bits_allocated(record))


async def header_and_frame(storage: Storage, record: InstanceRecord, frame: int) -> tuple[bytes, bytes] | None:
    """The file up to its pixel data and one frame as stored, read concurrently; None where store time did not
    locate the frames (deflated, unrecognised fragments)."""
    first = frame_ranges(record, 1)
    if first is None:
        return None
    header_end = first[0][0]  # where the first frame's bytes begin
    header, frame_data = await asyncio.gather(
        read_range(storage, record, 0, header_end), read_frame(storage, record, frame)
    )
    return header, frame_data


def frame_ranges(record: InstanceRecord, frame: int) -> list[tuple[int, int]] | None:
    """Where a frame's bytes lie in the stored file (its fragments, if compressed); None where not located."""
    layout, fragments = record.frames, record.encapsulated
    if layout is not None and ranged_native(record):
        return [layout.byte_range(frame)]
    if fragments is not None:
        return fragments.frames[frame - 1]
    return None


def require_stored_whole(record: InstanceRecord) -> None:
    """Every located frame lies inside the stored file: a file stored cut short is refused before a byte is sent."""
    layout, fragments = record.frames, record.encapsulated
    if layout is not None and ranged_native(record):
        ends = [layout.offset + layout.length * layout.count]
    elif fragments is not None:
        ends = [offset + length for ranges in fragments.frames for offset, length in ranges]
    else:
        return
    if max(ends) > record.size:
        raise CannotProvide(
            f"The stored file ends at byte {record.size}, before its pixel data does (byte {max(ends)}): it was "
            f"stored cut short and its frames cannot be served whole. {DAMAGED}"
        )


async def read_frame(storage: Storage, record: InstanceRecord, frame: int) -> bytes:
    """One located frame as stored, refused if the stored file does not hold all of it."""
    ranges = frame_ranges(record, frame)
    assert ranges is not None
    expected = sum(length for _, length in ranges)
    try:
        data = await read_ranges(storage, record, ranges)
    except HttpResponseError as error:
        if error.status_code != RANGE_NOT_SATISFIABLE:
            raise
        data = b""  # the file ends before this frame begins
    require_whole(len(data), expected, frame)
    return data


async def read_whole_file(storage: Storage, record: InstanceRecord) -> bytes:
    """The whole stored file, for an instance whose frames store time did not locate (deflated, fragments not
    told apart, 1-bit frames): converting or rendering it holds the file in memory, so it must fit the budget
    of a data set held whole (DICOM_MAX_INFLATED_BYTES)."""
    limit = max_inflated_bytes()
    if record.size > limit:
        raise CannotProvide(
            f"This instance's frames were not located when it was stored, so serving it decoded or converted "
            f"means holding the whole file ({record.size} bytes) in memory, more than this service holds for one "
            f"request ({limit}, setting {MAX_INFLATED_SETTING}). Ask for the instance as stored: Accept: "
            'multipart/related; type="application/dicom"; transfer-syntax=*.'
        )
    return await read_file(storage, record)
