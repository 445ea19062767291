"""Image dimensions from a compressed frame's first bytes (JPEG SOF, JPEG-LS SOF55, JPEG 2000 SIZ or JP2 ihdr).

Read at store time and before decoding so a codestream larger than the dataset's Rows/Columns is refused
without being decoded: a few hundred bytes of header can announce gigapixels.
"""

from __future__ import annotations

import struct

HEAD_LENGTH = 4096  # enough for a frame's header segments (markers before SOF are short in DICOM JPEG)

_JPEG_SOI = b"\xff\xd8"
_J2K_SOC = b"\xff\x4f"
_J2K_SIZ = b"\xff\x51"
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
# Start-of-frame markers: baseline, extended, progressive, lossless (Huffman and arithmetic), JPEG-LS.
_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7})
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RSTn carry no length
_JPEG_FAMILY = ("1.2.840.10008.1.2.4.5", "1.2.840.10008.1.2.4.7", "1.2.840.10008.1.2.4.8")
_J2K_FAMILY = ("1.2.840.10008.1.2.4.9", "1.2.840.10008.1.2.4.20")


def frame_dimensions(transfer_syntax: str, head: bytes) -> tuple[int, int] | None:
    """(rows, columns) a frame's codestream announces, or None when its header is not recognisable in `head`."""
    if transfer_syntax.startswith(_J2K_FAMILY):
        if head.startswith(_J2K_SOC):
            return _siz_dimensions(head, 0)
        if head.startswith(_JP2_SIGNATURE):
            return _jp2_dimensions(head)
        return None
    if transfer_syntax.startswith(_JPEG_FAMILY) and head.startswith(_JPEG_SOI):
        return _sof_dimensions(head)
    return None


def _sof_dimensions(head: bytes) -> tuple[int, int] | None:
    """Walk the JPEG marker segments from SOI to the first SOF: its Y (lines) and X (samples per line)."""
    position = 2
    while position + 4 <= len(head):
        if head[position] != 0xFF:
            return None
        marker = head[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker in _STANDALONE:
            position += 2
            continue
        if marker in (0xD9, 0xDA):  # EOI or scan data before any frame header
            return None
        (length,) = struct.unpack(">H", head[position + 2 : position + 4])
        if marker in _SOF_MARKERS:
            if position + 9 > len(head) or length < 7:
                return None
            lines, samples = struct.unpack(">HH", head[position + 5 : position + 9])
            return (lines, samples) if lines and samples else None  # 0 lines: defined later by DNL
        if length < 2:
            return None
        position += 2 + length
    return None


def _siz_dimensions(head: bytes, start: int) -> tuple[int, int] | None:
    """SIZ follows SOC directly: image size is (Ysiz - YOsiz, Xsiz - XOsiz)."""
    if head[start + 2 : start + 4] != _J2K_SIZ or start + 24 > len(head):
        return None
    xsiz, ysiz, xosiz, yosiz = struct.unpack(">IIII", head[start + 8 : start + 24])
    if xsiz <= xosiz or ysiz <= yosiz:
        return None
    return ysiz - yosiz, xsiz - xosiz


def _jp2_dimensions(head: bytes) -> tuple[int, int] | None:
    """JP2 boxes: the codestream box's SIZ if it begins within `head`, else the header box's ihdr."""
    position = 0
    while position + 8 <= len(head):
        length, kind = struct.unpack(">I4s", head[position : position + 8])
        body = position + 8
        if length == 1 and position + 16 <= len(head):
            (length,) = struct.unpack(">Q", head[position + 8 : position + 16])
            body = position + 16
        if kind == b"jp2c":
            return _siz_dimensions(head, body) if head[body : body + 2] == _J2K_SOC else None
        if kind == b"jp2h":
            inner = head[body : body + 22]
            if inner[4:8] == b"ihdr" and len(inner) >= 16:
                rows, columns = struct.unpack(">II", inner[8:16])
                return (rows, columns) if rows and columns else None
            return None
        if length < 8:
            return None
        position += length
    return None
