"""A study's files as a ZIP that streams: each file passes through as it is read from storage (ZIP_STORED, with
data descriptors), so neither the study nor one file is ever held whole in memory; bytes as stored."""

from __future__ import annotations

import logging
import zipfile
from collections.abc import AsyncIterator

from starlette.responses import Response, StreamingResponse

from archive.clients import Storage
from archive.instance_files import open_file
from archive.reads import list_instances
from archive.rows import InstanceRecord
from dicom.errors import Missing

log = logging.getLogger("dicomweb")


class _Pipe:
    """A write-only, unseekable file for zipfile: what it writes waits here until the response takes it."""

    def __init__(self) -> None:
        self.pending: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.pending.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.pending = b"".join(self.pending), []
        return data


async def study_zip(storage: Storage, study: str) -> Response:
    records = await list_instances(storage, study)
    if not records:
        raise Missing("The study was not found in this share.")
    headers = {"Content-Disposition": 'attachment; filename="study.zip"'}
    return StreamingResponse(_zip_chunks(storage, records), media_type="application/zip", headers=headers)


def entry_name(record: InstanceRecord) -> str:
    """UIDs only: a file name must not carry patient data."""
    return f"{record.series}/{record.sop}.dcm"


async def _zip_chunks(storage: Storage, records: list[InstanceRecord]) -> AsyncIterator[bytes]:
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_STORED) as archive:  # type: ignore[arg-type]
        for record in records:
            try:
                chunks = await open_file(storage, record)
            except Exception as error:  # deleted since the listing: left out rather than breaking the ZIP
                log.warning("an instance was left out of a share's ZIP: %s", type(error).__name__)
                continue
            info = zipfile.ZipInfo(entry_name(record))
            info.file_size = record.size
            with archive.open(info, "w", force_zip64=record.size > 2**31) as entry:
                async for chunk in chunks:
                    entry.write(chunk)
                    yield pipe.take()
            yield pipe.take()
    yield pipe.take()
