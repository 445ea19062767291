"""What the share and folder tests share (no tests here): a service with authentication on and its audit trail in
a file, isolated tables, owner and reader tokens (signed by the loopback stand-in for Entra ID, the one thing
faked), stored studies whose files the tests keep, and a way to let a share expire without waiting."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.data.tables import TableClient
from pydicom.uid import generate_uid

from local.azurite import Azurite
from tests.archive import Archive
from tests.conftest import LocalHost, audited_host
from tests.dicom_factory import make_instance
from tests.entra import OWNER, READER, Jwks, SigningKey
from tests.helpers import store


def module_fixtures(name: str) -> tuple[Any, Any]:
    """The fixtures `archive` (the module's own tables and container) and `host` (its service, authentication
    on, audit trail in a file) for a test module: `archive, host = module_fixtures("shares")`."""

    @pytest.fixture(scope="module")
    def archive(azurite: Azurite) -> Archive:
        return Archive(azurite)

    @pytest.fixture(scope="module")
    def host(
        azurite: Azurite, jwks: Jwks, archive: Archive, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[LocalHost]:
        service = secured_host(azurite, jwks, archive, tmp_path_factory.mktemp(name))
        yield service
        service.stop()

    return archive, host


def secured_host(azurite: Azurite, jwks: Jwks, archive: Archive, folder: Path) -> LocalHost:
    return audited_host(azurite.connection_string, jwks, folder, **archive.settings)


def owner(key: SigningKey) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.token([OWNER])}"}


def reader(key: SigningKey) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.token([READER])}"}


@dataclass
class Study:
    """A stored study: its UID, and per series the instances' UIDs and files as they were sent."""

    study: str
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)

    @property
    def series(self) -> list[str]:
        return sorted({series for series, _ in self.files})

    def first(self) -> tuple[str, str]:
        return min(self.files)


def store_study(client: httpx.Client, url: str, headers: dict[str, str], series: int = 2, instances: int = 3,
                **attributes: object) -> Study:  # fmt: skip
    study = Study(generate_uid())
    for _ in range(series):
        series_uid = generate_uid()
        for number in range(1, instances + 1):
            sop = generate_uid()
            data = make_instance(study.study, series_uid, sop, rows=16, columns=16, InstanceNumber=number,
                                 SeriesDescription="Axial", StudyDescription="Chest CT", **attributes)  # fmt: skip
            study.files[series_uid, sop] = data
    response = store(client, f"{url}/studies", list(study.files.values()), **headers)
    assert response.status_code == 200, response.text
    return study


def create_share(client: httpx.Client, url: str, headers: dict[str, str], **body: object) -> dict:
    body.setdefault("expires", (datetime.now(UTC) + timedelta(days=2)).date().isoformat())
    response = client.post(f"{url}/shares", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def expire(azurite: Azurite, archive: Archive, share_id: str) -> None:
    """Move a share's expiry into the past, as time would."""
    table = TableClient.from_connection_string(azurite.connection_string, f"{archive.name}shares")
    past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    table.update_entity({"PartitionKey": "share", "RowKey": share_id, "Expires": past})


def share_rows(azurite: Azurite, archive: Archive) -> list[dict]:
    table = TableClient.from_connection_string(azurite.connection_string, f"{archive.name}shares")
    return [dict(entity) for entity in table.list_entities()]


def audit_events(host: LocalHost, operation: str) -> list[dict]:
    lines = host.audit_log.read_text().splitlines()  # type: ignore[attr-defined]
    return [event for event in map(json.loads, lines) if event["operation"] == operation]
