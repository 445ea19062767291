"""Store and retrieve one large DICOM file through the local host and print the server's memory.

Usage: python -m bench.bigfile [--gib 2]   (make bigfile GIB=2)
The file is Implicit VR Little Endian: retrieved as stored, then converted to Explicit VR Little Endian
and to JPEG 2000 lossless.
The file is written to disk in chunks and streamed both ways, so neither side holds it in memory;
the figures show whether the server does. Azurite keeps its data on disk for this run.
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEG2000Lossless, generate_uid

from bench.servers import memory_kib, our_service

REPO = Path(__file__).resolve().parent.parent
FRAME_SIDE = 1024  # 1024 x 1024 16-bit frames: 2 MiB each
CHUNK = 8 * 1024 * 1024


def write_big_instance(path: Path, size: int) -> tuple[str, str, str, int]:
    """A valid multi-frame instance of about `size` bytes of pixel data, written without holding it in memory."""
    frame = FRAME_SIDE * FRAME_SIDE * 2
    frames = max(1, size // frame)
    dataset = pydicom.Dataset()
    dataset.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7.3"  # multi-frame grayscale word secondary capture
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.SOPInstanceUID = (generate_uid() for _ in range(3))
    dataset.PatientID, dataset.PatientName, dataset.Modality = "BIG-1", "Big^File", "OT"
    dataset.Rows = dataset.Columns = FRAME_SIDE
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 16, 16, 15, 0
    dataset.NumberOfFrames = frames
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = dataset.SOPClassUID, dataset.SOPInstanceUID
    meta.TransferSyntaxUID = ImplicitVRLittleEndian  # the DIMSE default, so a default retrieve converts it
    dataset.file_meta = meta
    header = io.BytesIO()
    dataset.save_as(header, enforce_file_format=True)
    length = frames * frame
    with path.open("wb") as out:
        out.write(header.getvalue())
        out.write(struct.pack("<HHI", 0x7FE0, 0x0010, length))
        block = bytes(range(256)) * (CHUNK // 256)
        for start in range(0, length, CHUNK):
            out.write(block[: min(CHUNK, length - start)])
    return dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.SOPInstanceUID, frames


def chunks_of(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            yield chunk


def received_bytes(client: httpx.Client, url: str, syntax: str) -> int:
    """Retrieve the instance converted to `syntax`, counting the bytes without keeping them."""
    received = 0
    with client.stream("GET", url, headers={"Accept": f"application/dicom; transfer-syntax={syntax}"}) as response:
        assert response.headers["content-type"].endswith(f"transfer-syntax={syntax}"), response.status_code
        for chunk in response.iter_bytes():
            received += len(chunk)
    return received


def run(size: int, workdir: Path) -> dict[str, float]:
    # The operations queue's poller (a background task with a steady ~14 MiB of its own, allocated whenever its
    # first poll falls) is not what this measures: its timing made the growth at one size swing by 20 MiB.
    with our_service(workdir, DICOM_QUEUE_POLL_SECONDS="3600") as server:
        base = server.base_url
        assert server.pid is not None
        path = workdir / "big.dcm"
        study, series, sop, frames = write_big_instance(path, size)
        file_size = path.stat().st_size
        with httpx.Client(timeout=httpx.Timeout(600)) as client:
            client.get(f"{base}/studies", params={"PatientID": "warm-up"})
            baseline = memory_kib(server.pid)["VmRSS"]
            started = time.perf_counter()
            headers = {"Content-Type": "application/dicom", "Content-Length": str(file_size)}
            stored = client.post(f"{base}/studies", content=chunks_of(path), headers=headers)
            store_seconds = time.perf_counter() - started
            assert stored.status_code == 200, stored.text
            after_store = memory_kib(server.pid)["VmHWM"]
            started, received = time.perf_counter(), 0
            url = f"{base}/studies/{study}/series/{series}/instances/{sop}"
            with client.stream("GET", url, headers={"Accept": "application/dicom; transfer-syntax=*"}) as response:
                assert response.status_code == 200
                for chunk in response.iter_bytes():
                    received += len(chunk)
            retrieve_seconds = time.perf_counter() - started
            assert received == file_size
            started = time.perf_counter()
            converted = received_bytes(client, url, ExplicitVRLittleEndian)
            convert_seconds = time.perf_counter() - started
            assert converted >= file_size, "the same pixel data behind a re-encoded header"
            started = time.perf_counter()
            compressed = received_bytes(client, url, JPEG2000Lossless)
            compress_seconds = time.perf_counter() - started
            frame = client.get(f"{url}/frames/{frames // 2 + 1}", headers={"Accept": "application/octet-stream"})
            assert len(frame.content) == FRAME_SIDE * FRAME_SIDE * 2
        peak = memory_kib(server.pid)["VmHWM"]
    mib = file_size / 2**20
    return {
        "file_mib": round(mib, 1),
        "store_seconds": round(store_seconds, 1),
        "store_mib_per_s": round(mib / store_seconds, 1),
        "retrieve_seconds": round(retrieve_seconds, 1),
        "retrieve_mib_per_s": round(mib / retrieve_seconds, 1),
        "converted_retrieve_seconds": round(convert_seconds, 1),
        "converted_retrieve_mib_per_s": round(mib / convert_seconds, 1),
        "jpeg2000_retrieve_seconds": round(compress_seconds, 1),
        "jpeg2000_retrieve_mib": round(compressed / 2**20, 1),
        "server_rss_before_mib": round(baseline / 1024, 1),
        "server_peak_after_store_mib": round(after_store / 1024, 1),
        "server_peak_mib": round(peak / 1024, 1),
        "server_growth_mib": round((peak - baseline) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0, help="pixel data size in GiB (default 2)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bigfile-") as workdir:
        figures = run(int(arguments.gib * 2**30), Path(workdir))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
