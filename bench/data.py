"""Realistic synthetic DICOM for benchmarks and the soak: CT and MR studies, 512x512 16-bit Explicit VR
Little Endian, several series per study, names (many non-ASCII, UTF-8), dates, accession numbers;
and one multi-frame instance of 220 frames.

Deterministic for a given (run, number), so a run can find what it stored without bookkeeping.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from functools import cache

from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

ROOT = "1.2.826.0.1.3680043.8.498"
RUN = int.from_bytes(os.urandom(3), "big")  # UIDs differ between runs
FAMILY = ["Müller", "García", "Nguyễn", "Søndergaard", "O'Brien", "Kowalczyk", "Smith", "Dubois", "Łukasiewicz",
          "Jones", "Yılmaz", "Brown", "Andersson", "Rossi", "Papadopoulos", "Tanaka"]  # fmt: skip
GIVEN = ["Jürgen", "María José", "Thảo", "Søren", "Aoife", "Zoë", "Anna", "François", "Łucja", "John", "Ayşe",
         "Émile", "Lars", "Giulia", "Νίκος", "Haruto"]  # fmt: skip
BODY_PARTS = {"CT": ["CHEST", "ABDOMEN", "HEAD"], "MR": ["BRAIN", "KNEE", "SPINE"]}
CT_IMAGE, MR_IMAGE, MULTIFRAME = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.7.3"


BOUNDARY = "benchboundary"
RELATED = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def multipart(files: list[bytes]) -> bytes:
    """A STOW-RS body of the given files."""
    head = b"--" + BOUNDARY.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n"
    return b"".join(head + f + b"\r\n" for f in files) + b"--" + BOUNDARY.encode() + b"--\r\n"


@dataclass(frozen=True)
class Instance:
    data: bytes
    study: str
    series: str
    sop: str
    patient_id: str
    patient_name: str
    accession: str
    study_date: str
    modality: str


@cache
def _pixels(side: int, frames: int) -> bytes:
    """A smooth 16-bit ramp with a bright disc: realistic enough for rendering, cheap to build once."""
    import numpy as np

    y, x = np.mgrid[0:side, 0:side]
    image = ((x + y) * (2000 / (2 * side))).astype(np.uint16)
    image[(x - side / 2) ** 2 + (y - side / 2) ** 2 < (side / 4) ** 2] += 1500
    return np.tile(image, (frames, 1, 1)).tobytes()


def patient_of(number: int) -> tuple[str, str]:
    """Patients have several studies: study n belongs to patient n // 3."""
    patient = number // 3
    name = f"{FAMILY[patient % len(FAMILY)]}^{GIVEN[(patient // len(FAMILY)) % len(GIVEN)]}"
    return f"PID{RUN:07d}{patient:07d}", name


def study_uid(number: int) -> str:
    return f"{ROOT}.{RUN}.{number}"


def synthetic_instance(number: int, series: int = 0, instance: int = 0, size: int = 512, frames: int = 1) -> Instance:
    modality = "CT" if number % 2 == 0 else "MR"
    patient_id, patient_name = patient_of(number)
    study = study_uid(number)
    series_uid, sop = f"{study}.{series + 1}", f"{study}.{series + 1}.{instance + 1}"
    day = number % 1000
    study_date = f"{2023 + day // 365:04d}{(day % 365) // 31 + 1:02d}{day % 28 + 1:02d}"
    accession = f"A{RUN % 10000:04d}{number:08d}"
    dataset = Dataset()
    dataset.SpecificCharacterSet = "ISO_IR 192"
    dataset.SOPClassUID = MULTIFRAME if frames > 1 else CT_IMAGE if modality == "CT" else MR_IMAGE
    dataset.SOPInstanceUID = sop
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID = study, series_uid
    dataset.PatientID, dataset.PatientName = patient_id, patient_name
    dataset.PatientBirthDate, dataset.PatientSex = f"19{40 + number % 60:02d}0{number % 9 + 1}15", "FM"[number % 2]
    dataset.StudyDate = dataset.SeriesDate = study_date
    dataset.StudyTime = f"{8 + number % 10:02d}{number % 60:02d}00"
    dataset.AccessionNumber = accession
    dataset.ReferringPhysicianName = "Dr^Referrer"
    dataset.StudyDescription = f"{modality} {BODY_PARTS[modality][number % 3].title()}"
    dataset.StudyID = str(number % 100000)
    dataset.Modality = modality
    dataset.BodyPartExamined = BODY_PARTS[modality][number % 3]
    dataset.SeriesNumber, dataset.InstanceNumber = series + 1, instance + 1
    dataset.SeriesDescription = f"Series {series + 1}"
    dataset.Rows = dataset.Columns = size
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 16, 16, 15, 0
    dataset.WindowCenter, dataset.WindowWidth = 1500, 3000
    if frames > 1:
        dataset.NumberOfFrames = frames
    dataset.PixelData = _pixels(size, frames)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = dataset.SOPClassUID, sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta = meta
    out = io.BytesIO()
    dataset.save_as(out, enforce_file_format=True)
    return Instance(out.getvalue(), study, series_uid, sop, patient_id, patient_name, accession, study_date, modality)
