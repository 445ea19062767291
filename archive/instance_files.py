"""Reading a stored instance's file and metadata, whole or in the ranges a request needs.

Callers name the instance by its index row; the blob names stay in `archive.blobs`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import IO

from .blobs import instance_blob, metadata_blob
from .clients import Storage
from .reads import read_instance
from .rows import InstanceRecord


async def open_file(
    storage: Storage, record: InstanceRecord, offset: int | None = None, length: int | None = None
) -> AsyncIterator[bytes]:
    """The file's bytes as they stream (a missing blob fails here, before any byte is sent)."""
    return await storage.open_stream(instance_blob(record.version), offset, length)


async def read_file(storage: Storage, record: InstanceRecord) -> bytes:
    return await storage.download(instance_blob(record.version))


async def read_range(storage: Storage, record: InstanceRecord, offset: int, length: int) -> bytes:
    return await storage.download_range(instance_blob(record.version), offset, length)


async def read_ranges(storage: Storage, record: InstanceRecord, ranges: list[tuple[int, int]]) -> bytes:
    """Several ranges (a compressed frame's fragments), read concurrently and joined."""
    return b"".join(await asyncio.gather(*(read_range(storage, record, *r) for r in ranges)))


async def read_metadata(storage: Storage, record: InstanceRecord) -> bytes:
    """The DICOM JSON written at store time (bulk data as tokens for the instance's URL)."""
    return await storage.download(metadata_blob(record.version))


async def read_version_metadata(storage: Storage, version: str) -> bytes | None:
    """A version's DICOM JSON by its id (the change feed names versions), None once the version is gone."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return await storage.download(metadata_blob(version))
    except ResourceNotFoundError:
        return None


async def current(storage: Storage, record: InstanceRecord) -> InstanceRecord | None:
    """The instance's row now (after an upsert replaced its file), or None once it is deleted."""
    return await read_instance(storage, record.study, record.series, record.sop)


async def write_version(storage: Storage, version: str, file: IO[bytes], size: int, metadata: bytes) -> None:
    """Upload a new version's file and metadata; invisible until an index row names the version."""
    await asyncio.gather(
        storage.upload(instance_blob(version), file, size, "application/dicom"),
        storage.upload(metadata_blob(version), metadata, len(metadata), "application/dicom+json"),
    )
