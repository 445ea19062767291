"""The change feed as the Azure DICOM service documents it (GET {base}/changefeed and /changefeed/latest), and the
guarantee readers build on: sequences increase without gaps, and nothing new ever appears below what was read."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydicom.uid import generate_uid

from local.azurite import Azurite
from tests.archive import Archive
from tests.conftest import LocalHost
from tests.dicom_factory import make_instance
from tests.helpers import store


@pytest.fixture(scope="module")
def feed_archive(azurite: Azurite) -> Archive:
    return Archive(azurite)


@pytest.fixture(scope="module")
def host(feed_archive: Archive) -> Iterator[LocalHost]:
    service = feed_archive.service()
    yield service
    service.stop()


def feed(client: httpx.Client, host: LocalHost, version: str = "v2", **params: str) -> list[dict]:
    response = client.get(f"{host.url}/{version}/changefeed", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def whole_feed(client: httpx.Client, host: LocalHost) -> list[dict]:
    entries: list[dict] = []
    while page := feed(client, host, "v1", offset=str(entries[-1]["Sequence"] if entries else 0), limit="100"):
        entries += page
    return entries


def of_sop(entries: list[dict], sop: str) -> list[tuple[str, str]]:
    return [(e["Action"], e["State"]) for e in entries if e["SopInstanceUid"] == sop]


def test_a_store_appears_as_a_current_create_with_its_metadata(client: httpx.Client, host: LocalHost) -> None:
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    assert store(client, f"{host.url}/v2/studies", [make_instance(study, series, sop)]).status_code == 200
    latest = client.get(f"{host.url}/v2/changefeed/latest").json()
    assert (latest["StudyInstanceUid"], latest["SeriesInstanceUid"], latest["SopInstanceUid"]) == (study, series, sop)
    assert (latest["Action"], latest["State"]) == ("create", "current")
    assert latest["Metadata"]["00080018"]["Value"] == [sop]
    assert latest["Metadata"]["7FE00010"]["BulkDataURI"].endswith(f"/instances/{sop}/bulkdata/7FE00010")
    stamp = datetime.fromisoformat(latest["Timestamp"].replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=5)
    without = client.get(f"{host.url}/v2/changefeed/latest", params={"includemetadata": "false"}).json()
    assert "Metadata" not in without and without["Sequence"] == latest["Sequence"]


def test_an_upsert_marks_the_earlier_entry_replaced_and_a_delete_marks_it_deleted(
    client: httpx.Client, host: LocalHost
) -> None:
    uids = (generate_uid(), generate_uid(), generate_uid())
    store(client, f"{host.url}/v2/studies", [make_instance(*uids)])
    store(client, f"{host.url}/v2/studies", [make_instance(*uids, PatientID="PAT-2")], method="PUT")
    assert of_sop(whole_feed(client, host), uids[2]) == [("create", "replaced"), ("create", "current")]
    assert client.delete(f"{host.url}/v2/studies/{uids[0]}").status_code == 204
    entries = whole_feed(client, host)
    assert of_sop(entries, uids[2]) == [("create", "replaced"), ("create", "deleted"), ("delete", "deleted")]
    assert [e for e in entries if e["SopInstanceUid"] == uids[2]][-1].get("Metadata") is None


def test_v1_pages_by_sequence_and_v2_by_time_then_position(client: httpx.Client, host: LocalHost) -> None:
    sops = [generate_uid() for _ in range(3)]
    times = []
    for sop in sops:
        store(client, f"{host.url}/v2/studies", [make_instance(sop=sop)])
        times.append(client.get(f"{host.url}/v2/changefeed/latest").json()["Timestamp"])
    entries = whole_feed(client, host)
    assert [e["Sequence"] for e in entries] == list(range(1, len(entries) + 1)), "no gaps"
    last = entries[-1]["Sequence"]
    assert [e["Sequence"] for e in feed(client, host, "v1", offset=str(last - 3), limit="2")] == [last - 2, last - 1]
    since_first = feed(client, host, startTime=times[0])
    assert [e["SopInstanceUid"] for e in since_first] == sops, "startTime is inclusive"
    assert [e["SopInstanceUid"] for e in feed(client, host, startTime=times[0], offset="1", limit="1")] == [sops[1]]
    assert [e["SopInstanceUid"] for e in feed(client, host, startTime=times[0], endTime=times[2])] == sops[:2], (
        "endTime is exclusive"
    )


@pytest.mark.parametrize(
    ("version", "query"),
    [("v2", "limit=0"), ("v2", "limit=201"), ("v1", "limit=101"), ("v2", "offset=-1"), ("v2", "limit=ten"),
     ("v2", "startTime=yesterday"), ("v2", "includemetadata=maybe"),
     ("v2", "startTime=2026-12-02T00:00:00Z&endTime=2026-12-01T00:00:00Z")],
)  # fmt: skip
def test_bad_parameters_answer_400_with_a_reason(
    client: httpx.Client, host: LocalHost, version: str, query: str
) -> None:
    response = client.get(f"{host.url}/{version}/changefeed?{query}")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_concurrent_stores_and_deletes_on_three_hosts_appear_once_each_in_an_order_every_reader_shares(
    azurite: Azurite, client: httpx.Client
) -> None:
    archive = Archive(azurite)
    hosts = [archive.service() for _ in range(3)]
    acknowledged: list[tuple[str, str]] = []  # (action, sop)
    lock = threading.Lock()
    writing = threading.Event()
    writing.set()

    def writer(host: LocalHost) -> None:
        with httpx.Client(timeout=120) as http:
            for round_number in range(8):
                study, series, sop = generate_uid(), generate_uid(), generate_uid()
                if store(http, f"{host.url}/v2/studies", [make_instance(study, series, sop)]).status_code == 200:
                    with lock:
                        acknowledged.append(("create", sop))
                if round_number % 3 == 2 and http.delete(f"{host.url}/v2/studies/{study}").status_code == 204:
                    with lock:
                        acknowledged.append(("delete", sop))

    seen: dict[int, tuple[str, str]] = {}
    gaps: list[str] = []

    def reader() -> None:
        last = 0
        with httpx.Client(timeout=120) as http:
            while True:
                done = not writing.is_set()
                page = http.get(f"{hosts[0].url}/v1/changefeed", params={"offset": str(last), "limit": "100"}).json()
                for entry in page:
                    if entry["Sequence"] != last + 1:
                        gaps.append(f"after {last} came {entry['Sequence']}")
                    last = entry["Sequence"]
                    seen[last] = (entry["Action"], entry["SopInstanceUid"])
                if done and not page:
                    return

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            polling = pool.submit(reader)
            for future in [pool.submit(writer, host) for host in hosts]:
                future.result()
            writing.clear()
            polling.result(timeout=120)
        final = {e["Sequence"]: (e["Action"], e["SopInstanceUid"]) for e in whole_feed(client, hosts[1])}
    finally:
        for host in hosts:
            host.stop()
    assert gaps == []
    assert seen == final, "what the reader saw while writers ran is exactly the final feed"
    assert sorted(final.values()) == sorted(acknowledged), "every acknowledged change once, nothing else"
    assert len(acknowledged) == 3 * 8 + 3 * 2


def at_the_feed_append(method: str, path: str) -> str | None:
    """Hold the first read of the feed's counter: after the index commit, before the append."""
    return "hold" if method == "GET" and "changefeed" in path else None


def test_a_change_committed_before_a_crash_reaches_the_feed_through_cleanup(
    azurite: Azurite, client: httpx.Client
) -> None:
    archive = Archive(azurite)
    uids = (generate_uid(), generate_uid(), generate_uid())
    data = make_instance(*uids)
    archive.crash_at(
        azurite.table_port,
        at_the_feed_append,
        lambda url: store(httpx.Client(timeout=60), f"{url}/v2/studies", [data]),
    )
    host = archive.service()
    try:
        metadata = client.get(f"{host.url}/v2/studies/{uids[0]}/series/{uids[1]}/instances/{uids[2]}/metadata")
        assert metadata.status_code == 200, "the commit happened"
        assert of_sop(whole_feed(client, host), uids[2]) == []
        code, _ = archive.cleanup("--grace-minutes", "0")
        assert code == 0
        assert of_sop(whole_feed(client, host), uids[2]) == [("create", "current")]
        archive.cleanup("--grace-minutes", "0")
        assert of_sop(whole_feed(client, host), uids[2]) == [("create", "current")], "recorded once"
    finally:
        host.stop()


def test_a_delete_committed_before_a_crash_reaches_the_feed_through_cleanup(
    azurite: Azurite, client: httpx.Client
) -> None:
    archive = Archive(azurite)
    uids = (generate_uid(), generate_uid(), generate_uid())
    host = archive.service()
    try:
        assert store(client, f"{host.url}/v2/studies", [make_instance(*uids)]).status_code == 200
    finally:
        host.stop()
    archive.crash_at(azurite.table_port, at_the_feed_append,
                     lambda url: httpx.Client(timeout=60).delete(f"{url}/v2/studies/{uids[0]}"))  # fmt: skip
    host = archive.service()
    try:
        assert client.get(f"{host.url}/v2/studies/{uids[0]}/metadata").status_code == 404, "the delete happened"
        assert of_sop(whole_feed(client, host), uids[2]) == [("create", "current")]
        assert archive.cleanup("--grace-minutes", "0")[0] == 0
        assert of_sop(whole_feed(client, host), uids[2]) == [("create", "deleted"), ("delete", "deleted")]
    finally:
        host.stop()
