"""Nothing half-stored is ever visible, concurrent writers all land with right counts, PUT is atomic."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from azure.storage.blob import BlobServiceClient
from pydicom.uid import generate_uid

from local.azurite import Azurite
from tests.archive import Archive
from tests.conftest import LocalHost
from tests.dicom_factory import make_instance
from tests.fault_proxy import FaultProxy
from tests.helpers import failure_reasons, search, store, values


def blob_count(azurite: Azurite) -> int:
    container = BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client("dicom")
    return sum(1 for _ in container.list_blobs()) if container.exists() else 0


def service_behind_proxy(azurite: Azurite, port: int, fail: Callable[[str, str], bool]) -> Iterator[LocalHost]:
    """A second service whose requests to one Azurite port pass a proxy that fails the chosen ones."""
    with FaultProxy(port, lambda method, path: "500" if fail(method, path) else None) as proxy:
        host = LocalHost(azurite.connection_string.replace(f":{port}/", f":{proxy.port}/"))
        yield host
        host.stop()


@pytest.fixture()
def faulty_blob_service(azurite: Azurite) -> Iterator[LocalHost]:
    """Uploads of instance files fail (storage answers 500)."""
    yield from service_behind_proxy(
        azurite, azurite.blob_port, lambda method, path: method == "PUT" and "instance.dcm" in path
    )


@pytest.fixture()
def faulty_index_service(azurite: Azurite) -> Iterator[LocalHost]:
    """Index transactions fail (storage answers 500 to every $batch)."""
    yield from service_behind_proxy(azurite, azurite.table_port, lambda method, path: "$batch" in path)


def assert_invisible(client: httpx.Client, base_url: str, study: str, series: str, sop: str) -> None:
    assert search(client, f"{base_url}/instances", SOPInstanceUID=sop) == []
    assert search(client, f"{base_url}/studies", StudyInstanceUID=study) == []
    assert client.get(f"{base_url}/studies/{study}/series/{series}/instances/{sop}").status_code == 404
    assert client.get(f"{base_url}/studies/{study}/metadata").status_code == 404


def test_failed_blob_upload_answers_503_with_retry_after_and_leaves_nothing_visible(
    client: httpx.Client, base_url: str, azurite: Azurite, faulty_blob_service: LocalHost
) -> None:
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    blobs_before = blob_count(azurite)
    response = store(client, f"{faulty_blob_service.url}/v2/studies", [make_instance(study, series, sop)])
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "Retry" in response.json()["detail"]
    assert_invisible(client, base_url, study, series, sop)
    assert blob_count(azurite) == blobs_before, "the metadata blob written beside it was removed too"


def test_failed_index_commit_answers_503_leaves_nothing_visible_and_no_blob_behind(
    client: httpx.Client, base_url: str, azurite: Azurite, faulty_index_service: LocalHost
) -> None:
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    blobs_before = blob_count(azurite)
    response = store(client, f"{faulty_index_service.url}/v2/studies", [make_instance(study, series, sop)])
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert_invisible(client, base_url, study, series, sop)
    assert blob_count(azurite) == blobs_before


def test_fifty_concurrent_stores_into_one_study_all_land_with_right_counts(client: httpx.Client, base_url: str) -> None:
    study, series_uids, modalities = generate_uid(), [generate_uid() for _ in range(3)], ["CT", "MR", "PT"]
    files = [make_instance(study, series_uids[n % 3], Modality=modalities[n % 3]) for n in range(54)]
    with ThreadPoolExecutor(max_workers=18) as pool:
        statuses = list(
            pool.map(lambda data: store(httpx.Client(timeout=120), f"{base_url}/studies", [data]).status_code, files)
        )
    assert statuses == [200] * 54
    (result,) = search(client, f"{base_url}/studies", StudyInstanceUID=study, includefield="all")
    assert values(result, "00201208") == [54]
    assert values(result, "00201206") == [3]
    assert values(result, "00080061") == ["CT", "MR", "PT"]
    series = search(client, f"{base_url}/studies/{study}/series", includefield="NumberOfSeriesRelatedInstances")
    assert [values(s, "00201209") for s in series] == [[18], [18], [18]]


def test_concurrent_posts_of_one_instance_store_exactly_one_copy(
    client: httpx.Client, base_url: str, azurite: Azurite
) -> None:
    data = make_instance()
    blobs_before = blob_count(azurite)
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda _: store(httpx.Client(timeout=60), f"{base_url}/studies", [data]), range(6)))
    assert sorted(r.status_code for r in responses) == [200] + [409] * 5
    assert all(failure_reasons(r) in ([45070], [45071]) for r in responses if r.status_code == 409)
    assert blob_count(azurite) == blobs_before + 2, "one instance file and its metadata, nothing else"


def test_a_post_that_another_request_stores_first_while_it_commits_fails_with_45071(
    azurite: Azurite, client: httpx.Client
) -> None:
    archive = Archive(azurite)
    data = make_instance()
    first_commit = iter(["gate"])

    def gate_first_commit(method: str, path: str) -> str | None:
        return next(first_commit, None) if method == "POST" and "$batch" in path else None

    other = archive.service()
    try:
        with archive.behind_proxies() as (slow, _, tables), ThreadPoolExecutor(max_workers=1) as pool:
            tables.rule = gate_first_commit
            slow_post = pool.submit(store, httpx.Client(timeout=120), f"{slow.url}/v2/studies", [data])
            assert tables.held.wait(timeout=60), "the slow request never reached its commit"
            assert store(client, f"{other.url}/v2/studies", [data]).status_code == 200
            tables.gate.set()
            response = slow_post.result(timeout=120)
        assert response.status_code == 409
        assert failure_reasons(response) == [45071]
        assert "Another request stored" in json.dumps(response.json())
        assert failure_reasons(store(client, f"{other.url}/v2/studies", [data])) == [45070], "later, plainly stored"
        assert len(archive.blobs()) == 2, "the loser's file and metadata are removed"
    finally:
        other.stop()


def test_upsert_replaces_atomically_for_concurrent_readers(client: httpx.Client, base_url: str) -> None:
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    versions = [make_instance(study, series, sop, StudyDescription=f"v{n}", rows=16 + n, columns=16) for n in range(2)]
    store(client, f"{base_url}/studies", [versions[0]])
    url = f"{base_url}/studies/{study}/series/{series}/instances/{sop}"

    def write() -> list[int]:
        with httpx.Client(timeout=60) as writer:
            return [
                store(writer, f"{base_url}/studies", [versions[n % 2]], method="PUT").status_code for n in range(1, 11)
            ]

    def read() -> list[bytes]:
        with httpx.Client(timeout=60) as reader:
            bodies = []
            for _ in range(30):
                response = reader.get(url, headers={"Accept": "application/dicom; transfer-syntax=*"})
                assert response.status_code == 200
                bodies.append(response.content[128:])
            return bodies

    with ThreadPoolExecutor(max_workers=3) as pool:
        writes = pool.submit(write)
        reads = [pool.submit(read), pool.submit(read)]
        assert writes.result() == [200] * 10
        seen = [body for future in reads for body in future.result()]
    allowed = {version[128:] for version in versions}
    assert all(body in allowed for body in seen), "every read is one whole version, never a mix or a gap"


def test_concurrent_upserts_of_one_instance_leave_one_complete_version(azurite: Azurite, client: httpx.Client) -> None:
    archive = Archive(azurite)
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    versions = [make_instance(study, series, sop, StudyDescription=f"v{n}", rows=8 + n, columns=8) for n in range(8)]
    host = archive.service()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(
                pool.map(
                    lambda data: store(httpx.Client(timeout=120), f"{host.url}/v2/studies", [data], method="PUT"),
                    versions,
                )
            )
        assert [r.status_code for r in statuses] == [200] * 8
        response = client.get(
            f"{host.url}/v2/studies/{study}/series/{series}/instances/{sop}",
            headers={"Accept": "application/dicom; transfer-syntax=*"},
        )
        assert response.content[128:] in {v[128:] for v in versions}
        assert len(archive.blobs()) == 2, "one version's file and metadata; every replaced one removed"
        assert archive.journal_once_closed() == []
        (result,) = search(client, f"{host.url}/v2/studies", StudyInstanceUID=study, includefield="all")
        assert values(result, "00201208") == [1]
    finally:
        host.stop()


def test_a_delete_racing_stores_leaves_a_consistent_study(azurite: Azurite, client: httpx.Client) -> None:
    archive = Archive(azurite)
    study, series = generate_uid(), generate_uid()
    host = archive.service()
    try:
        assert store(client, f"{host.url}/v2/studies", [make_instance(study, series)]).status_code == 200
        files = [make_instance(study, series) for _ in range(12)]
        with ThreadPoolExecutor(max_workers=6) as pool:
            stores = [pool.submit(store, httpx.Client(timeout=120), f"{host.url}/v2/studies", [f]) for f in files]
            deletion = pool.submit(httpx.Client(timeout=120).delete, f"{host.url}/v2/studies/{study}")
            assert all(s.result().status_code == 200 for s in stores)
            assert deletion.result().status_code == 204
        listed = search(client, f"{host.url}/v2/studies/{study}/instances")
        studies = search(client, f"{host.url}/v2/studies", StudyInstanceUID=study, includefield="all")
        if listed:
            assert values(studies[0], "00201208") == [len(listed)]
        else:
            assert studies == []
        for instance in listed:
            sop = values(instance, "00080018")[0]
            url = f"{host.url}/v2/studies/{study}/series/{series}/instances/{sop}"
            assert client.get(url).status_code == 200
        assert len(archive.blobs()) == 2 * len(listed), "every file belongs to a listed instance"
        assert archive.journal_once_closed() == []
    finally:
        host.stop()
