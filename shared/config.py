"""Settings, read from the environment (local.settings.json's Values in Functions)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

AZURITE_CONNECTION_STRING = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


@dataclass(frozen=True)
class Settings:
    connection_string: str | None
    blob_account_url: str | None
    table_account_url: str | None
    container: str
    table_prefix: str
    public_base_url: str
    timeouts: dict[str, float] = field(default_factory=lambda: {"connection_timeout": 5, "read_timeout": 60})

    @classmethod
    def from_environment(cls) -> Settings:
        env = os.environ
        connection_string = env.get("DICOM_STORAGE_CONNECTION_STRING")
        account = env.get("DICOM_STORAGE_ACCOUNT_NAME")
        if not connection_string and not account:
            connection_string = AZURITE_CONNECTION_STRING
        return cls(
            connection_string=connection_string or None,
            blob_account_url=f"https://{account}.blob.core.windows.net" if account else None,
            table_account_url=f"https://{account}.table.core.windows.net" if account else None,
            container=env.get("DICOM_BLOB_CONTAINER", "dicom"),
            table_prefix=env.get("DICOM_TABLE_PREFIX", "dicom"),
            public_base_url=_public_base_url(env),
            timeouts={
                "connection_timeout": float(env.get("DICOM_STORAGE_CONNECT_TIMEOUT", "5")),
                "read_timeout": float(env.get("DICOM_STORAGE_READ_TIMEOUT", "60")),
            },
        )


def _public_base_url(env: os._Environ[str] | dict[str, str]) -> str:
    """Where clients reach us. Never taken from the request's Host header, which clients can forge."""
    configured = env.get("DICOM_PUBLIC_BASE_URL")
    if configured:
        return configured.rstrip("/")
    if env.get("WEBSITE_HOSTNAME"):  # set by the Azure Functions platform
        return f"https://{env['WEBSITE_HOSTNAME']}"
    return f"http://127.0.0.1:{env.get('PORT', '7071')}"
