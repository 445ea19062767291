"""Small, valid DICOM files with chosen UIDs and attributes, made with pydicom (no network, no fixtures)."""

from __future__ import annotations

import io
import sys
from array import array
from pathlib import Path

from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
TUTORIAL = SAMPLES / "tutorial"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def make_instance(
    study: str | None = None,
    series: str | None = None,
    sop: str | None = None,
    *,
    rows: int = 4,
    columns: int = 4,
    frames: int = 1,
    transfer_syntax: str = ExplicitVRLittleEndian,
    **attributes: object,
) -> bytes:
    """A 16-bit monochrome image; see frame_bytes for its pixel values."""
    dataset = Dataset()
    dataset.SOPClassUID = CT_IMAGE
    dataset.StudyInstanceUID = study or generate_uid()
    dataset.SeriesInstanceUID = series or generate_uid()
    dataset.SOPInstanceUID = sop or generate_uid()
    dataset.PatientID = "PAT-1"
    dataset.PatientName = "Doe^John"
    dataset.StudyDate = "20240115"
    dataset.Modality = "CT"
    dataset.AccessionNumber = "ACC-1"
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.Rows, dataset.Columns = rows, columns
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 16, 15
    dataset.PixelRepresentation = 0
    if frames > 1:
        dataset.NumberOfFrames = frames
    for keyword, value in attributes.items():
        if value is None:
            delattr(dataset, keyword)
        else:
            setattr(dataset, keyword, value)
    dataset.PixelData = pixel_data(rows, columns, frames)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    meta.MediaStorageSOPInstanceUID = dataset.get("SOPInstanceUID") or generate_uid()
    meta.TransferSyntaxUID = transfer_syntax
    dataset.file_meta = meta
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def pixel_data(rows: int, columns: int, frames: int) -> bytes:
    return b"".join(frame_bytes(rows, columns, frame) for frame in range(1, frames + 1))


def frame_bytes(rows: int, columns: int, frame: int) -> bytes:
    """Frame `frame` (1-based): 16-bit little-endian values (frame * 1000 + index) mod 65536."""
    values = array("H", ((frame * 1000 + index) % 65536 for index in range(rows * columns)))
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()


def multipart_body(files: list[bytes], boundary: str = "BOUNDARY-test-1234") -> bytes:
    body = b""
    for data in files:
        body += f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()
