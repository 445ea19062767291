"""A service killed (SIGKILL) between any two storage steps loses nothing acknowledged, shows nothing
half-done, and `python -m archive.admin cleanup` settles what it left: stores rolled back or completed, deletes
finished, no orphaned blob.

A fault proxy holds the chosen storage request, so the kill lands exactly at that step.
Each test has its own container and tables, so blob and journal counts are exact.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from pydicom.uid import generate_uid

from archive.blobs import instance_blob
from local.azurite import Azurite
from tests.archive import Archive
from tests.conftest import LocalHost
from tests.dicom_factory import make_instance
from tests.helpers import search, store

DICOM_ANY = {"Accept": "application/dicom; transfer-syntax=*"}


@pytest.fixture()
def archive(azurite: Azurite) -> Archive:
    return Archive(azurite)


@pytest.fixture()
def healthy(archive: Archive) -> Iterator[LocalHost]:
    """A service on the same archive whose storage works: what clients see before and after the crash."""
    host = archive.service()
    yield host
    host.stop()


def post(data: bytes, method: str = "POST") -> Callable[[str], object]:
    return lambda url: store(httpx.Client(timeout=120), f"{url}/v2/studies", [data], method=method)


def delete(path: str) -> Callable[[str], object]:
    return lambda url: httpx.Client(timeout=120).delete(f"{url}/v2/{path}").raise_for_status()


def is_batch(method: str, path: str) -> str | None:
    return "hold" if method == "POST" and "$batch" in path else None


def is_journal_close(method: str, path: str) -> str | None:
    return "hold" if method == "DELETE" and "journal(" in path else None


def is_blob_delete(method: str, path: str) -> str | None:
    return "hold" if method == "DELETE" else None


def new_uids() -> tuple[str, str, str]:
    return generate_uid(), generate_uid(), generate_uid()


def stored_instance(host: LocalHost) -> tuple[str, str, str]:
    """Store one instance through the healthy service; its study, series and SOP instance UIDs."""
    uids = new_uids()
    with httpx.Client(timeout=60) as client:
        assert store(client, f"{host.url}/v2/studies", [make_instance(*uids)]).status_code == 200
    return uids


def instance_url(url: str, uids: tuple[str, str, str]) -> str:
    return f"{url}/v2/studies/{uids[0]}/series/{uids[1]}/instances/{uids[2]}"


def test_a_store_killed_before_its_index_commit_is_invisible_and_rolled_back(
    archive: Archive, healthy: LocalHost
) -> None:
    uids = new_uids()
    archive.crash_at(archive.azurite.table_port, is_batch, post(make_instance(*uids)))
    assert len(archive.blobs()) == 2 and len(archive.journal()) == 1, "uploaded, journaled, not committed"
    with httpx.Client(timeout=60) as client:
        assert client.get(instance_url(healthy.url, uids)).status_code == 404
        assert search(client, f"{healthy.url}/v2/studies", StudyInstanceUID=uids[0]) == []
    code, report = archive.cleanup()
    assert code == 0
    assert report["stores_rolled_back"] == 1 and report["entries_resolved"] == 1
    assert archive.blobs() == [] and archive.journal() == []


def test_a_store_killed_after_answering_before_closing_its_entry_is_kept_and_its_entry_closed(
    archive: Archive, healthy: LocalHost
) -> None:
    """A store answers once its instance is committed and in the change feed, and closes its journal entry
    after the answer has gone."""
    uids = new_uids()
    data = make_instance(*uids)
    archive.crash_at(archive.azurite.table_port, is_journal_close, post(data), answered=True)
    assert len(archive.journal()) == 1
    code, report = archive.cleanup()
    assert code == 0
    assert report["entries_resolved"] == 1 and report["versions_removed"] == 0
    assert len(archive.blobs()) == 2 and archive.journal() == []
    with httpx.Client(timeout=60) as client:
        response = client.get(instance_url(healthy.url, uids), headers=DICOM_ANY)
    assert response.status_code == 200
    assert data[128:] in response.content


def test_an_upsert_killed_before_removing_the_replaced_file_leaves_it_to_cleanup(
    archive: Archive, healthy: LocalHost
) -> None:
    uids = new_uids()
    old, new = make_instance(*uids, StudyDescription="old"), make_instance(*uids, StudyDescription="new")
    with httpx.Client(timeout=60) as client:
        assert store(client, f"{healthy.url}/v2/studies", [old]).status_code == 200
    archive.crash_at(archive.azurite.blob_port, is_blob_delete, post(new, method="PUT"))
    assert len(archive.blobs()) == 4, "both versions' files and metadata"
    code, report = archive.cleanup()
    assert code == 0 and report["versions_removed"] == 1
    assert len(archive.blobs()) == 2 and archive.journal() == []
    with httpx.Client(timeout=60) as client:
        response = client.get(instance_url(healthy.url, uids), headers=DICOM_ANY)
    assert new[128:] in response.content


def test_a_delete_killed_before_its_index_commit_is_finished_by_cleanup(archive: Archive, healthy: LocalHost) -> None:
    uids = stored_instance(healthy)
    with httpx.Client(timeout=60) as client:
        archive.crash_at(archive.azurite.table_port, is_batch, delete(f"studies/{uids[0]}"))
        assert client.get(instance_url(healthy.url, uids)).status_code == 200, "not yet deleted"
        code, report = archive.cleanup()
        assert code == 0 and report["deletes_finished"] == 1
        assert client.get(instance_url(healthy.url, uids)).status_code == 404
        assert search(client, f"{healthy.url}/v2/studies", StudyInstanceUID=uids[0]) == []
    assert archive.blobs() == [] and archive.journal() == []


def test_a_delete_killed_before_removing_files_is_invisible_and_its_files_removed(
    archive: Archive, healthy: LocalHost
) -> None:
    uids = stored_instance(healthy)
    archive.crash_at(archive.azurite.blob_port, is_blob_delete, delete(f"studies/{uids[0]}"))
    with httpx.Client(timeout=60) as client:
        assert client.get(instance_url(healthy.url, uids)).status_code == 404
    assert len(archive.blobs()) == 2
    code, report = archive.cleanup()
    assert code == 0 and report["versions_removed"] == 1
    assert archive.blobs() == [] and archive.journal() == []


def test_the_audit_removes_unindexed_blobs_and_reports_indexed_instances_without_a_file(
    archive: Archive, healthy: LocalHost
) -> None:
    uids = stored_instance(healthy)
    (stored_file,) = [name for name in archive.blobs() if name.endswith("instance.dcm")]
    archive.container.delete_blob(stored_file)
    stray = uuid.uuid4().hex
    archive.container.upload_blob(instance_blob(stray), b"not indexed anywhere")
    code, report = archive.cleanup("--audit")
    assert code == 1, "a missing file is an operator's problem: non-zero exit"
    assert report["orphans_removed"] == 1
    assert report["missing_files"] == ["/".join(uids)]
    assert not any(stray in name for name in archive.blobs())


def test_cleanup_leaves_operations_younger_than_the_grace_period_alone(archive: Archive) -> None:
    uids = new_uids()
    archive.crash_at(archive.azurite.table_port, is_batch, post(make_instance(*uids)))
    code, report = archive.cleanup("--grace-minutes", "60")
    assert code == 0 and report["entries_waiting"] == 1 and report["entries_resolved"] == 0
    assert len(archive.blobs()) == 2 and len(archive.journal()) == 1
