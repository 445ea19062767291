"""Instances as an older store kept them: the store now refuses damaged files, but archives hold some already.

A whole file is stored normally, then its blob is overwritten with the damaged bytes and its index row is
given what the old store recorded for them (the file's size; no frame layout where the old store found none).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

from azure.data.tables import TableClient, UpdateMode
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.encaps import encapsulate

from archive.blobs import instance_blob
from archive.rows import instance_key
from tests.archive import Archive


@dataclass(frozen=True)
class Stored:
    study: str
    series: str
    sop: str
    url: str


def replace_stored(
    archive: Archive,
    instance: Stored,
    data: bytes,
    keep_size: bool = False,
    frames: str | Callable[[bytes], str] | None = None,
) -> None:
    """Overwrite the instance's stored file with `data`; its row's Size follows unless `keep_size` (a file cut
    after it was indexed), and its Frames layout becomes `frames` when given ("" for none found; a function
    of `data` gives it from the file)."""
    table = TableClient.from_connection_string(archive.azurite.connection_string, f"{archive.name}studies")
    entity = table.get_entity(instance.study, instance_key(instance.series, instance.sop))
    archive.container.upload_blob(instance_blob(entity["Blob"]), data, overwrite=True)
    if not keep_size:
        entity["Size"] = str(len(data))
    if frames is not None:
        entity["Frames"] = frames(data) if callable(frames) else frames
    table.update_entity(entity, mode=UpdateMode.MERGE)


def encapsulated_instance(
    frames: list[bytes],
    rows: int,
    columns: int,
    bits: int,
    syntax: str,
    uids: tuple[str, str, str],
    **attributes: object,
) -> bytes:
    """A grey image whose frames are the given codestreams, unsigned, `bits` allocated and stored."""
    dataset = Dataset()
    dataset.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.SOPInstanceUID = uids
    dataset.PatientID, dataset.Modality = "PAT-1", "OT"
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
    dataset.Rows, dataset.Columns = rows, columns
    dataset.BitsAllocated, dataset.PixelRepresentation = bits, 0
    dataset.BitsStored = 12 if bits == 16 else bits
    dataset.HighBit = dataset.BitsStored - 1
    if len(frames) > 1:
        dataset.NumberOfFrames = len(frames)
    for keyword, value in attributes.items():
        setattr(dataset, keyword, value)
    dataset.PixelData = encapsulate(frames)
    dataset["PixelData"].VR = "OB"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    meta.TransferSyntaxUID = syntax
    dataset.file_meta = meta
    output = io.BytesIO()
    dataset.save_as(output, enforce_file_format=True)
    return output.getvalue()
