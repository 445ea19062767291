"""Blob and Table clients: one set per event loop, reused across requests, with counted reads."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
from collections.abc import AsyncIterator
from typing import IO, Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables.aio import TableClient, TableServiceClient
from azure.storage.blob.aio import BlobServiceClient, ContainerClient, ExponentialRetry

from .blobs import instance_blob, metadata_blob
from .settings import StorageSettings

log = logging.getLogger(__name__)

CHUNK = 4 * 1024 * 1024
# Deliberate retry and timeout policies: a few quick retries ride out a blip; an outage fails in
# seconds (the caller answers 503 or a per-instance failure) instead of hanging for minutes.
# Timeouts come from StorageSettings (DICOM_STORAGE_CONNECT_TIMEOUT, DICOM_STORAGE_READ_TIMEOUT).
RETRIES = 3


class RequestCounter:
    """A number counted per request (a context variable): what a request read, for tests and benchmarks."""

    def __init__(self, name: str) -> None:
        self._var: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(name, default=None)

    def start(self) -> list[int]:
        counter = [0]
        self._var.set(counter)
        return counter

    def add(self, amount: int) -> None:
        counter = self._var.get()
        if counter is not None:
            counter[0] += amount


ENTITIES_READ = RequestCounter("table_entities_read")  # searches report it in X-Table-Entities-Read
BYTES_READ = RequestCounter("blob_bytes_read")  # frames and bulk data report it in X-Storage-Bytes-Read
start_counting = ENTITIES_READ.start
start_counting_bytes = BYTES_READ.start


DEFAULT_PARTITION = 1  # the data partition `Microsoft.Default`: the archive as it was before partitions
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")


def _environment_options() -> dict[str, Any]:
    """Read proxy settings from the environment only when there are some: with them on, aiohttp looks for a
    .netrc file on every request (profiled: 8% of a store's CPU)."""
    return {} if any(os.environ.get(name) for name in PROXY_VARIABLES) else {"use_env_settings": False}


class Storage:
    """The container and tables of one data partition; partitions share the account's service clients."""

    def __init__(self, settings: StorageSettings, shared_with: Storage | None = None) -> None:
        self._ready = False
        self._ready_lock = asyncio.Lock()
        self._owns_services = shared_with is None
        self.partition_key = DEFAULT_PARTITION  # which data partition this is (set by get_storage)
        self._settings = settings
        self._credential: Any = shared_with._credential if shared_with is not None else None
        if shared_with is not None:
            self._connect(settings, shared_with._blob_service, shared_with._table_service)
            return
        common = {**settings.timeouts, **_environment_options()}
        options: dict[str, Any] = {
            "max_single_put_size": CHUNK,
            "max_block_size": CHUNK,
            "max_single_get_size": CHUNK,
            "max_chunk_get_size": CHUNK,
            "retry_policy": ExponentialRetry(
                initial_backoff=0.1, increment_base=1.2, retry_total=RETRIES, random_jitter_range=0.2
            ),
            **common,
        }
        table_options: dict[str, Any] = {"retry_total": RETRIES, "retry_backoff_factor": 0.25, **common}
        if settings.connection_string:
            blob_service = BlobServiceClient.from_connection_string(settings.connection_string, **options)
            table_service = TableServiceClient.from_connection_string(settings.connection_string, **table_options)
        else:
            from azure.identity.aio import DefaultAzureCredential

            credential = self._credential = DefaultAzureCredential()
            blob_service = BlobServiceClient(settings.blob_account_url, credential=credential, **options)
            table_service = TableServiceClient(settings.table_account_url, credential=credential, **table_options)
        self._connect(settings, blob_service, table_service)

    def _connect(self, settings: StorageSettings, blob_service: Any, table_service: Any) -> None:
        self._blob_service = blob_service
        self._table_service = table_service
        self._table_prefix = settings.table_prefix
        self._other_tables: dict[str, TableClient] = {}
        self.container: ContainerClient = blob_service.get_container_client(settings.container)
        self.studies: TableClient = table_service.get_table_client(settings.table_prefix + "studies")
        self.lookup: TableClient = table_service.get_table_client(settings.table_prefix + "lookup")
        self.journal: TableClient = table_service.get_table_client(settings.table_prefix + "journal")
        # The registry of data partitions; only the default partition's Storage creates and uses it.
        self.partitions: TableClient = table_service.get_table_client(settings.table_prefix + "partitions")

    async def ensure_ready(self) -> None:
        """Create the container and tables on first use (Bicep creates them in Azure; Azurite starts empty)."""
        if self._ready:
            return
        async with self._ready_lock:
            if self._ready:
                return
            creators = [self.container.create_container, self.studies.create_table, self.lookup.create_table,
                        self.journal.create_table]  # fmt: skip
            if self._owns_services:
                creators.append(self.partitions.create_table)
            for create in creators:
                with contextlib.suppress(ResourceExistsError):
                    await create()
            self._ready = True

    async def table(self, name: str) -> TableClient:
        """A further table of this partition, `<prefix><name>` (e.g. workitems, folders), created on first use."""
        client = self._other_tables.get(name)
        if client is None:
            client = self._table_service.get_table_client(self._table_prefix + name)
            with contextlib.suppress(ResourceExistsError):
                await client.create_table()
            self._other_tables[name] = client
        return client

    async def send(self, queue: str, text: str) -> None:
        """Put a message on one of the account's queues (created on first use), for a queue-triggered function;
        base64-encoded, as the Functions host expects."""
        from azure.storage.queue import TextBase64EncodePolicy
        from azure.storage.queue.aio import QueueClient

        encode = {"message_encode_policy": TextBase64EncodePolicy()}
        if self._settings.connection_string:
            client = QueueClient.from_connection_string(self._settings.connection_string, queue, **encode)
        else:
            client = QueueClient(self._settings.queue_account_url, queue, credential=self._credential, **encode)
        async with client:
            with contextlib.suppress(ResourceExistsError):
                await client.create_queue()
            await client.send_message(text)

    async def ping_blobs(self) -> None:
        """Fails unless Blob Storage answers (the health probe)."""
        await self.container.get_container_properties()

    async def ping_tables(self) -> None:
        """Fails unless Table Storage answers (the health probe); reads nothing."""
        async for _ in self.studies.query_entities("PartitionKey eq @p", parameters={"p": "health"}):
            break

    async def close(self) -> None:
        if self._owns_services:
            await self._blob_service.close()
            await self._table_service.close()

    # ---- blobs ----

    async def upload(self, name: str, data: IO[bytes] | bytes, length: int, content_type: str) -> None:
        from azure.storage.blob import ContentSettings

        await self.container.get_blob_client(name).upload_blob(
            data, length=length, overwrite=False, content_settings=ContentSettings(content_type=content_type)
        )

    async def download(self, name: str) -> bytes:
        downloader = await self.container.get_blob_client(name).download_blob()
        data = await downloader.readall()
        BYTES_READ.add(len(data))
        return data

    async def download_range(self, name: str, offset: int, length: int) -> bytes:
        downloader = await self.container.get_blob_client(name).download_blob(offset=offset, length=length)
        data = await downloader.readall()
        BYTES_READ.add(len(data))
        return data

    async def open_stream(
        self, name: str, offset: int | None = None, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Start a download (so a missing blob fails before any byte is sent) and return its chunks."""
        downloader = await self.container.get_blob_client(name).download_blob(offset=offset, length=length)
        return downloader.chunks()

    async def delete_versions(self, *versions: str) -> list[str]:
        """Remove what a stored version owns: its instance file and its metadata. Returns what failed."""
        return await self.delete_blobs(*(name for v in versions for name in (instance_blob(v), metadata_blob(v))))

    async def delete_blobs(self, *names: str) -> list[str]:
        failed = []
        for name in names:
            try:
                await self.container.delete_blob(name)
            except ResourceNotFoundError:
                pass
            except Exception:  # the journal entry stays open and cleanup retries it
                log.warning("could not delete blob %s", name, exc_info=True)
                failed.append(name)
        return failed

    # ---- tables ----

    @staticmethod
    async def get(table: TableClient, partition: str, row: str) -> dict[str, Any] | None:
        try:
            entity = await table.get_entity(partition, row)
        except ResourceNotFoundError:
            return None
        ENTITIES_READ.add(1)
        return entity

    @staticmethod
    async def query(table: TableClient, query_filter: str, parameters: dict[str, str]) -> list[dict[str, Any]]:
        """Filters always take user values as parameters, never by string concatenation."""
        entities = [entity async for entity in table.query_entities(query_filter, parameters=parameters)]
        ENTITIES_READ.add(len(entities))
        return entities

    @staticmethod
    async def query_pages(
        table: TableClient, query_filter: str, parameters: dict[str, str], page_size: int
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The same, a page of at most `page_size` entities at a time (the caller may stop early)."""
        pages = table.query_entities(query_filter, parameters=parameters, results_per_page=page_size).by_page()
        async for page in pages:
            entities = [entity async for entity in page]
            ENTITIES_READ.add(len(entities))
            yield entities


_storages: dict[tuple[int, int], Storage] = {}


async def get_storage(partition: int = DEFAULT_PARTITION) -> Storage:
    """The clients of a data partition (by key) in this event loop (the Functions worker runs one; the SDK's
    sessions are bound to it)."""
    loop_id = id(asyncio.get_running_loop())
    storage = _storages.get((loop_id, partition))
    if storage is None:
        root = _storages.get((loop_id, DEFAULT_PARTITION))
        if root is None:
            root = _storages[loop_id, DEFAULT_PARTITION] = Storage(StorageSettings.from_environment())
        if partition != DEFAULT_PARTITION:
            settings = StorageSettings.from_environment().of_partition(partition)
            _storages[loop_id, partition] = Storage(settings, shared_with=root)
            _storages[loop_id, partition].partition_key = partition
        storage = _storages[loop_id, partition]
    await storage.ensure_ready()
    return storage


async def close_storage() -> None:
    """Close this event loop's clients (at shutdown), so no connection is left dangling."""
    loop_id = id(asyncio.get_running_loop())
    for key in [key for key in _storages if key[0] == loop_id]:
        await _storages.pop(key).close()
