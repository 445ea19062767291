"""Ceilings measured with raw Azure SDK calls on the very Azurite the service runs on, in the same run: the least
any design on Blob and Table Storage must do, so the service's figures can be read as a fraction of what the
storage allows on this machine.

- minimal store: one blob upload of the instance and one table transaction (one entity) per instance;
- WADO: one table point read and one blob download per instance.

Both at concurrency 4 with the async SDK (the service's), clients built as the service builds them (no
environment proxy settings), from the benchmark's process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from azure.core.exceptions import ResourceExistsError
from azure.data.tables.aio import TableServiceClient
from azure.storage.blob.aio import BlobServiceClient

from bench.data import Instance
from bench.report import percentile

NAME = "benchceiling"


@dataclass
class Ceiling:
    name: str
    requests: int
    seconds: float
    per_second: float
    p50_ms: float
    p95_ms: float


async def _drive(name: str, step: Callable[[int], Awaitable[None]], requests: int, concurrency: int) -> Ceiling:
    indices = iter(range(requests))
    latencies: list[float] = []

    async def worker() -> None:
        for index in indices:
            started = time.perf_counter()
            await step(index)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    return Ceiling(name, requests, round(seconds, 2), round(requests / seconds, 1),
                   round(percentile(latencies, 0.5), 1), round(percentile(latencies, 0.95), 1))  # fmt: skip


async def _measure(connection: str, files: list[Instance], requests: int, concurrency: int) -> list[Ceiling]:
    options = {"use_env_settings": False}
    async with (
        BlobServiceClient.from_connection_string(connection, **options) as blobs,
        TableServiceClient.from_connection_string(connection, **options) as tables,
    ):
        container = blobs.get_container_client(NAME)
        table = tables.get_table_client(NAME)
        with contextlib.suppress(ResourceExistsError):
            await container.create_container()
        with contextlib.suppress(ResourceExistsError):
            await table.create_table()

        def key(index: int) -> tuple[Instance, str]:
            instance = files[index % len(files)]
            return instance, f"{index}.{instance.sop}"

        async def store(index: int) -> None:
            instance, row = key(index)
            await container.upload_blob(row, instance.data, overwrite=True)
            await table.submit_transaction([("upsert", {"PartitionKey": instance.study, "RowKey": row, "Blob": row})])

        async def retrieve(index: int) -> None:
            instance, row = key((index * 7919) % requests)  # a spread of what was stored
            entity = await table.get_entity(instance.study, row)
            await (await container.download_blob(entity["Blob"])).readall()

        return [
            await _drive("minimal store (1 blob upload + 1 table transaction)", store, requests, concurrency),
            await _drive("WADO ceiling (1 point read + 1 blob download)", retrieve, requests, concurrency),
        ]


def ceilings(connection: str, files: list[Instance], requests: int, concurrency: int = 4) -> list[Ceiling]:
    """The two ceilings, `requests` operations each, on the storage behind `connection`."""
    return asyncio.run(_measure(connection, files, requests, concurrency))
