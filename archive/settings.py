"""Where the archive's storage is, read from the environment (local.settings.json's Values in Functions)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

AZURITE_CONNECTION_STRING = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


@dataclass(frozen=True)
class StorageSettings:
    connection_string: str | None
    blob_account_url: str | None
    table_account_url: str | None
    container: str
    table_prefix: str
    queue_account_url: str | None = None
    timeouts: dict[str, float] = field(default_factory=lambda: {"connection_timeout": 5, "read_timeout": 60})

    @classmethod
    def from_environment(cls) -> StorageSettings:
        env = os.environ
        connection_string = env.get("DICOM_STORAGE_CONNECTION_STRING")
        account = env.get("DICOM_STORAGE_ACCOUNT_NAME")
        if not connection_string and not account:
            connection_string = AZURITE_CONNECTION_STRING
        return cls(
            connection_string=connection_string or None,
            blob_account_url=f"https://{account}.blob.core.windows.net" if account else None,
            table_account_url=f"https://{account}.table.core.windows.net" if account else None,
            queue_account_url=f"https://{account}.queue.core.windows.net" if account else None,
            container=env.get("DICOM_BLOB_CONTAINER", "dicom"),
            table_prefix=env.get("DICOM_TABLE_PREFIX", "dicom"),
            timeouts={
                "connection_timeout": float(env.get("DICOM_STORAGE_CONNECT_TIMEOUT", "5")),
                "read_timeout": float(env.get("DICOM_STORAGE_READ_TIMEOUT", "60")),
            },
        )

    def of_partition(self, key: int) -> StorageSettings:
        """Where a data partition's archive is: its own container and tables, so nothing of one partition is
        read, changed or cleaned up through another. The default partition (key 1) is the archive as it was
        before partitions, so turning them on moves nothing."""
        if key == 1:
            return self
        return replace(self, container=f"{self.container}-p{key}", table_prefix=f"{self.table_prefix}p{key}")
