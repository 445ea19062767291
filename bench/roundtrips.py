"""Storage calls, sequential round trips and CPU per request, scenario by scenario: what transfers from a
laptop to Azure, where every storage call is a network round trip and the Functions bill is CPU time.

Usage:
  python -m bench.roundtrips                       # no added latency, Azurite on disk as `make run` runs it
  python -m bench.roundtrips --latency-ms 8        # Azure-like: 8 ms added each way to every storage call
  python -m bench.roundtrips --azurite memory      # Azurite in memory
  make bench LATENCY_MS=8                          # the same, Azure-like

Our service (the local host, its queue poller and timers quiet, so only request work is seen) talks to Azurite
through a proxy (bench/storage_proxy.py) that records every blob, table and queue call. Requests run one at a
time (concurrency 1), so each storage call belongs to the request in flight when it started. Per scenario it
prints the calls per request by service and operation, the critical path (the longest chain of calls each of
which started after the previous one ended: the round trips a request waits for one after another, so in Azure
roughly critical path x the storage round-trip time), p50/p95 latency and the service's CPU ms per request
(utime+stime from /proc). Writes a Markdown table and JSON to --out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from bench.data import RELATED, Instance, multipart, synthetic_instance
from bench.report import percentile
from bench.servers import add_azurite_option, azurite_storage, azurite_version, cpu_seconds, local_host
from bench.storage_proxy import StorageCall, critical_path, proxied

Call = Callable[[httpx.Client], httpx.Response]
QUIET = {"DICOM_QUEUE_POLL_SECONDS": "86400", "DICOM_TIMER_INTERVAL_SECONDS": "86400"}  # no background work
DICOM_ANY = {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}
FRAME_ANY = {"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'}


@dataclass
class Scenario:
    name: str
    calls: list[Call]  # the first is a warm-up, not measured
    ok: tuple[int, ...] = (200,)


@dataclass
class Row:
    scenario: str
    requests: int
    errors: int
    calls: float  # storage calls per request (mean)
    blob: float
    table: float
    queue: float
    critical_path: int  # median over the requests
    critical_path_max: int
    p50_ms: float
    p95_ms: float
    cpu_ms: float  # service CPU (user + system) per request
    operations: dict[str, float]  # "table GET point read": calls per request
    late_calls: int  # calls that started after a response and before the next request (background work)
    calls_each: list[int]  # per request, in order
    critical_path_each: list[int]
    entities_read: float | None = None
    first_error: str = ""


def per_request(values: list[int | float]) -> float:
    return round(statistics.mean(values), 2) if values else 0.0


def run_scenario(scenario: Scenario, client: httpx.Client, pid: int, calls: list[StorageCall]) -> Row:
    """Run the scenario's requests one at a time and attribute to each the storage calls that started during it."""
    scenario.calls[0](client)  # warm-up: connections, first-use tables, caches
    windows: list[tuple[float, float]] = []
    latencies: list[float] = []
    errors: list[str] = []
    entities: list[int] = []
    seen = len(calls)
    cpu_before = cpu_seconds(pid)
    for call in scenario.calls[1:]:
        started = time.perf_counter()
        response = call(client)
        ended = time.perf_counter()
        windows.append((started, ended))
        latencies.append((ended - started) * 1000)
        if response.status_code not in scenario.ok:
            errors.append(f"{response.status_code}: {response.text[:200]}")
        if "x-table-entities-read" in response.headers:
            entities.append(int(response.headers["x-table-entities-read"]))
    cpu = cpu_seconds(pid) - cpu_before
    mine = calls[seen:]
    per: list[list[StorageCall]] = []
    late = 0
    for index, (start, end) in enumerate(windows):
        following = windows[index + 1][0] if index + 1 < len(windows) else float("inf")
        per.append([c for c in mine if start <= c.start <= end])
        late += sum(1 for c in mine if end < c.start < following)
    count = len(windows)
    operations = Counter(f"{c.kind} {c.operation}" for request in per for c in request)
    each = [critical_path(request) for request in per]
    paths = sorted(each)
    return Row(
        scenario=scenario.name, requests=count, errors=len(errors),
        calls=per_request([len(r) for r in per]),
        blob=per_request([sum(c.kind == "blob" for c in r) for r in per]),
        table=per_request([sum(c.kind == "table" for c in r) for r in per]),
        queue=per_request([sum(c.kind == "queue" for c in r) for r in per]),
        critical_path=paths[len(paths) // 2], critical_path_max=paths[-1],
        p50_ms=round(percentile(latencies, 0.5), 1), p95_ms=round(percentile(latencies, 0.95), 1),
        cpu_ms=round(cpu * 1000 / count, 1),
        operations={name: round(n / count, 2) for name, n in sorted(operations.items())},
        late_calls=late, calls_each=[len(r) for r in per], critical_path_each=each,
        entities_read=per_request(entities) if entities else None,
        first_error=errors[0] if errors else "",
    )  # fmt: skip


# ---- data and scenarios -------------------------------------------------------------------------------


def store(files: list[Instance]) -> Call:
    body = multipart([f.data for f in files])
    return lambda client: client.post("/studies", content=body, headers={"Content-Type": RELATED})


def seed(client: httpx.Client, studies: int, fill: int) -> tuple[list[Instance], Instance, int]:
    """The archive the reads run on: `studies` studies of 3 series x 4 instances at 512x512, one 220-frame
    instance, and `fill` small (64x64) instances in studies of 5, so broad searches find many studies."""
    stored = [synthetic_instance(n, s, i) for n in range(studies) for s in range(3) for i in range(4)]
    multiframe = synthetic_instance(studies, size=256, frames=220)
    numbers = range(studies + 1, studies + 1 + fill // 5)
    filler = [synthetic_instance(n, 0, i, size=64) for n in numbers for i in range(5)]
    for batch in (
        [stored[i : i + 12] for i in range(0, len(stored), 12)]
        + [[multiframe]]
        + [filler[i : i + 50] for i in range(0, len(filler), 50)]
    ):
        response = store(batch)(client)
        if response.status_code != 200:
            raise RuntimeError(f"seeding failed: {response.status_code} {response.text[:300]}")
    return stored, multiframe, studies + 1 + fill // 5


def scenarios(stored: list[Instance], multiframe: Instance, next_number: int, requests: int) -> list[Scenario]:
    rng = random.Random(3)
    count = requests + 1  # the first is the warm-up

    def picks() -> list[Instance]:
        return [rng.choice(stored) for _ in range(count)]

    def url(i: Instance) -> str:
        return f"/studies/{i.study}/series/{i.series}/instances/{i.sop}"

    def month(i: Instance) -> str:
        return f"{i.study_date[:6]}01-{i.study_date[:6]}31"

    def search(params: Callable[[Instance], dict[str, str]]) -> list[Call]:
        return [lambda c, i=i: c.get("/studies", params=params(i)) for i in picks()]

    new = [synthetic_instance(n) for n in range(next_number, next_number + count)]
    frame = url(multiframe) + "/frames/110"
    study_list = {"limit": "101", "includefield": "00081030,00080060,00080020,00100010,00100020,00201208"}
    return [
        Scenario("STOW 1 instance, new study", [store([i]) for i in new]),
        Scenario("STOW 1 instance, existing series",
                 [store([synthetic_instance(n, 0, 1)]) for n in range(next_number, next_number + count)]),
        Scenario("WADO instance", [lambda c, i=i: c.get(url(i), headers=DICOM_ANY) for i in picks()]),
        Scenario("WADO instance metadata", [lambda c, i=i: c.get(url(i) + "/metadata") for i in picks()]),
        Scenario("WADO study metadata (12 instances)",
                 [lambda c, i=i: c.get(f"/studies/{i.study}/metadata") for i in picks()]),
        Scenario("WADO frame 110 of 220", [lambda c: c.get(frame, headers=FRAME_ANY)] * count),
        Scenario("WADO rendered", [lambda c, i=i: c.get(url(i) + "/rendered", headers={"Accept": "image/jpeg"})
                                   for i in picks()]),
        Scenario("QIDO StudyInstanceUID", search(lambda i: {"StudyInstanceUID": i.study})),
        Scenario("QIDO PatientID", search(lambda i: {"PatientID": i.patient_id})),
        Scenario("QIDO PatientName fuzzy (4 letters)",
                 search(lambda i: {"PatientName": i.patient_name.split("^")[0][:4], "fuzzymatching": "true"})),
        Scenario("QIDO AccessionNumber", search(lambda i: {"AccessionNumber": i.accession})),
        Scenario("QIDO StudyDate month (study list, limit 101)",
                 search(lambda i: {**study_list, "StudyDate": month(i)})),
        Scenario("QIDO ModalitiesInStudy + StudyDate month",
                 search(lambda i: {"ModalitiesInStudy": i.modality, "StudyDate": month(i)})),
        Scenario("QIDO instances of a series",
                 [lambda c, i=i: c.get(f"/studies/{i.study}/series/{i.series}/instances") for i in picks()]),
        Scenario("QIDO series of a study", [lambda c, i=i: c.get(f"/studies/{i.study}/series") for i in picks()]),
    ]  # fmt: skip


# ---- running and reporting ----------------------------------------------------------------------------


@contextlib.contextmanager
def service(latency_ms: float, azurite: str) -> Iterator[tuple[str, int, list[StorageCall]]]:
    """Azurite, the proxies in front of it, and the local host on them: (base URL, service pid, call records)."""
    with (
        azurite_storage(azurite) as storage,
        proxied(storage, latency_ms) as (connection, calls),
        local_host(connection, **QUIET) as server,
    ):
        assert server.pid is not None
        yield server.base_url, server.pid, calls


def measure(base_url: str, pid: int, calls: list[StorageCall], requests: int, studies: int, fill: int) -> list[Row]:
    with httpx.Client(base_url=base_url, timeout=300) as client:
        client.get("/studies", params={"PatientID": "warm-up"})  # creates the container and tables
        stored, multiframe, next_number = seed(client, studies, fill)
        return [run_scenario(s, client, pid, calls) for s in scenarios(stored, multiframe, next_number, requests)]


def table(rows: list[Row]) -> str:
    lines = [
        "| scenario | storage calls | blob | table | queue | critical path | p50 ms | p95 ms | CPU ms | "
        "entities read | calls by operation |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        most = f" (max {r.critical_path_max})" if r.critical_path_max != r.critical_path else ""
        entities = "" if r.entities_read is None else f"{r.entities_read:g}"
        ops = ", ".join(f"{name} {n:g}" for name, n in r.operations.items())
        lines.append(
            f"| {r.scenario} | {r.calls:g} | {r.blob:g} | {r.table:g} | {r.queue:g} | {r.critical_path}{most} | "
            f"{r.p50_ms} | {r.p95_ms} | {r.cpu_ms} | {entities} | {ops} |"
        )
    return "\n".join(lines)


def add_archive_options(parser: argparse.ArgumentParser) -> None:
    """The archive a run starts from, where it lives, and where the figures go (see seed)."""
    parser.add_argument("--studies", type=int, default=5, help="512x512 studies (3 series x 4) the reads use")
    parser.add_argument("--fill", type=int, default=600, help="further small instances (64x64, 5 per study)")
    add_azurite_option(parser)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=0, help="added to every storage call, each way")
    parser.add_argument("--requests", type=int, default=20, help="measured requests per scenario (concurrency 1)")
    add_archive_options(parser)
    arguments = parser.parse_args(argv)
    started = time.monotonic()
    with service(arguments.latency_ms, arguments.azurite) as (base_url, pid, calls):
        rows = measure(base_url, pid, calls, arguments.requests, arguments.studies, arguments.fill)
    context = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "latency_ms_each_way": arguments.latency_ms,
        "requests": arguments.requests, "studies": arguments.studies, "fill": arguments.fill,
        "azurite": f"{azurite_version()} {'in memory' if arguments.azurite == 'memory' else 'on disk'}",
        "seconds": round(time.monotonic() - started, 1),
    }  # fmt: skip
    text = (
        f"Storage calls and round trips per request, {context['when']}: {arguments.latency_ms:g} ms added each way "
        f"to every storage call, Azurite {context['azurite']}, concurrency 1, {arguments.requests} requests per "
        f"scenario (took {context['seconds']} s)\n\n{table(rows)}\n"
    )
    if not arguments.latency_ms:
        text += (
            "\nWith no added latency Azurite answers some calls before the service has sent the ones it issued "
            "beside them, so the critical path can read longer than it is: use --latency-ms 2 or more for it.\n"
        )
    late = [f"{r.scenario}: {r.late_calls}" for r in rows if r.late_calls]
    if late:
        text += f"\nStorage calls started after a response, before the next request (background): {'; '.join(late)}\n"
    arguments.out.mkdir(parents=True, exist_ok=True)
    (arguments.out / "roundtrips.json").write_text(json.dumps({"context": context, "rows": [asdict(r) for r in rows]},
                                                              indent=1))  # fmt: skip
    (arguments.out / "roundtrips.md").write_text(text)
    print(text)
    failed = [r for r in rows if r.errors]
    for r in failed:
        print(f"errors in {r.scenario}: {r.errors}, first: {r.first_error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
