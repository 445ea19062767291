"""Deflated Explicit VR Little Endian files inflated in bounded steps before anything parses them.

pydicom inflates a deflated file in one call, however large the result: a megabyte can inflate to gigabytes.
Here the data set is inflated a step at a time and refused once it passes DICOM_MAX_INFLATED_BYTES; what
comes out is the same file in Explicit VR Little Endian, which is what the deflated syntax encodes.
"""

from __future__ import annotations

import io
import zlib

from pydicom.dataset import FileMetaDataset
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from ..errors import CannotProvide
from ..parsing import INFLATE_STEP, max_inflated_bytes

MAX_INFLATED_SETTING = "DICOM_MAX_INFLATED_BYTES"  # the store's limit too: it stores nothing larger (dicom.parsing)
_AS_STORED = 'Ask for it as stored: Accept: multipart/related; type="application/dicom"; transfer-syntax=*.'


def inflated(data: bytes) -> bytes:
    """The file in Explicit VR Little Endian if it is deflated (inflated up to the cap), else as it is."""
    try:
        meta, position = _meta(data)
    except Exception:  # not a Part 10 file pydicom reads: left to the parser, as before
        return data
    if meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
        return data
    limit = max_inflated_bytes()
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    output = io.BytesIO()
    view = memoryview(data)
    try:
        while not inflater.eof:
            if inflater.unconsumed_tail:
                chunk = inflater.decompress(inflater.unconsumed_tail, INFLATE_STEP)
            else:
                chunk = inflater.decompress(view[position : position + INFLATE_STEP], INFLATE_STEP)
                position += INFLATE_STEP
                if not chunk and position >= len(data):
                    break  # the input ended before the deflate stream did
            output.write(chunk)
            if output.tell() > limit:
                raise CannotProvide(
                    f"The instance is stored deflated and its data set inflates to more than {limit} bytes, more "
                    f"than this service inflates for one request (setting {MAX_INFLATED_SETTING}). {_AS_STORED}"
                )
    except zlib.error as error:
        raise CannotProvide(f"The instance's deflated data set is damaged ({error}). {_AS_STORED}") from error
    if not inflater.eof:
        raise CannotProvide(f"The instance's deflated data set is cut short. {_AS_STORED}")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    head = io.BytesIO()
    head.write(bytes(128) + b"DICM")
    write_file_meta_info(head, meta, enforce_standard=True)
    return head.getvalue() + output.getvalue()


def _meta(data: bytes) -> tuple[FileMetaDataset, int]:
    """The file meta information and where the data set begins."""
    file = io.BytesIO(data)
    read_preamble(file, force=True)
    meta = _read_file_meta_info(file)
    return meta, file.tell()
