"""Benchmark any DICOMweb service: STOW, WADO and QIDO scenarios, QIDO at two archive sizes, and a
side-by-side run against Orthanc in the same invocation.

Usage:
  python -m bench.run                      # our service (local host on a fresh Azurite on disk, as make run)
  python -m bench.run --azurite memory     # the same on an in-memory Azurite
  python -m bench.run --peer orthanc       # the same scenarios against Orthanc too, with ratios
  python -m bench.run --url URL            # any DICOMweb base URL (e.g. a deployment), no memory figures
  make bench [PEER=orthanc] [SMALL=2000 LARGE=20000 REQUESTS=200] [AZURITE=disk|memory]

Every scenario runs the same client (httpx, one connection per worker thread) on the same data, and reports
the server process's CPU per request where the process is visible. On our own storage the run also measures
the raw-SDK ceilings (bench.ceilings) on the same Azurite, right after our STOW and WADO scenarios, and
prints ours against them. Prints a Markdown table and writes JSON, Markdown and a PNG chart (matplotlib)
to --out (bench/results).
With --peer orthanc the whole run moves into a private network namespace (Orthanc cannot be bound to
loopback only), so both servers and the client share the same loopback and nothing is exposed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench.ceilings import Ceiling, ceilings
from bench.data import RELATED, Instance, multipart, synthetic_instance
from bench.report import Result, machine, percentile, report
from bench.servers import (
    Server,
    add_azurite_option,
    azurite_version,
    cpu_seconds,
    memory_kib,
    orthanc,
    orthanc_installed,
    our_service,
    scratch,
)

Call = Callable[[httpx.Client], httpx.Response]


def drive(server: Server, scenario: str, group: str, calls: list[Call], concurrency: int,
          ok: tuple[int, ...] = (200,), instances_per_call: int | None = None) -> Result:  # fmt: skip
    """Run the calls on `concurrency` threads, each with its own keep-alive connection."""
    latencies: list[float] = []
    entities: list[int] = []
    moved = [0]
    errors: list[str] = []
    queue = iter(calls)

    def worker() -> None:
        with httpx.Client(timeout=300) as client:
            for call in queue:
                started = time.perf_counter()
                try:
                    response = call(client)
                    status = response.status_code
                    moved[0] += len(response.content) + int(response.request.headers.get("content-length", 0))
                    if "x-table-entities-read" in response.headers:
                        entities.append(int(response.headers["x-table-entities-read"]))
                except httpx.HTTPError as error:
                    status, response = type(error).__name__, None
                latencies.append((time.perf_counter() - started) * 1000)
                if status not in ok:
                    errors.append(f"{status}: {response.text[:200] if response is not None else ''}")

    cpu = cpu_seconds(server.pid) if server.pid else 0.0
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    seconds = time.perf_counter() - started
    cpu_ms = round((cpu_seconds(server.pid) - cpu) * 1000 / len(calls), 1) if server.pid and calls else None
    peak = round(memory_kib(server.pid)["VmHWM"] / 1024, 1) if server.pid else None
    count = len(calls)
    return Result(
        server=server.name, scenario=scenario, group=group, concurrency=concurrency, requests=count,
        seconds=round(seconds, 2), errors=len(errors), p50_ms=round(percentile(latencies, 0.5), 1),
        p95_ms=round(percentile(latencies, 0.95), 1), p99_ms=round(percentile(latencies, 0.99), 1),
        per_second=round(count / seconds, 1),
        instances_per_second=round(count * instances_per_call / seconds, 1) if instances_per_call else None,
        mib_per_second=round(moved[0] / 2**20 / seconds, 1), server_peak_mib=peak,
        entities_read=round(statistics.mean(entities), 1) if entities else None, cpu_ms=cpu_ms,
        first_error=errors[0] if errors else "",
    )  # fmt: skip


def store_call(base: str, files: list[bytes]) -> Call:
    body = multipart(files)
    return lambda client: client.post(f"{base}/studies", content=body, headers={"Content-Type": RELATED})


# ---- data -------------------------------------------------------------------------------------------


class Numbers:
    """Study numbers, never reused within a run."""

    def __init__(self) -> None:
        self.next = 0

    def take(self, count: int) -> range:
        start, self.next = self.next, self.next + count
        return range(start, start + count)


def study_files(number: int, series: int, per_series: int, size: int = 512) -> list[Instance]:
    return [synthetic_instance(number, s, i, size) for s in range(series) for i in range(per_series)]


# ---- scenarios ----------------------------------------------------------------------------------------


def stow(server: Server, numbers: Numbers, requests: int) -> tuple[list[Result], list[Instance]]:
    """One instance per request and 50 per request, at concurrency 1 and 4: 512x512 CT/MR, 3 series."""
    results, stored = [], []
    for batch, concurrency in [(1, 1), (1, 4), (50, 1), (50, 4)]:
        calls_wanted = requests if batch == 1 else max(2, requests // 25)
        studies = max(1, calls_wanted * batch // 12)
        files = [f for n in numbers.take(studies) for f in study_files(n, 3, 4)][: calls_wanted * batch]
        calls = [
            store_call(server.base_url, [f.data for f in files[i : i + batch]]) for i in range(0, len(files), batch)
        ]
        results.append(drive(server, f"STOW {batch}/request c{concurrency}", "STOW", calls, concurrency,
                             instances_per_call=batch))  # fmt: skip
        stored += files
    return results, stored


def wado(server: Server, stored: list[Instance], multiframe: Instance, requests: int) -> list[Result]:
    base = server.base_url
    rng = random.Random(1)

    def url(i: Instance) -> str:
        return f"{base}/studies/{i.study}/series/{i.series}/instances/{i.sop}"

    def picks() -> list[Instance]:
        return [rng.choice(stored) for _ in range(requests)]

    series_accept = {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}
    frame_accept = {"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'}
    scenarios: list[tuple[str, list[Call]]] = [
        ("WADO instance", [lambda c, i=i: c.get(url(i), headers=series_accept) for i in picks()]),
        ("WADO series (multipart)", [lambda c, i=i: c.get(f"{base}/studies/{i.study}/series/{i.series}",
                                                          headers=series_accept) for i in picks()]),
        ("WADO instance metadata", [lambda c, i=i: c.get(url(i) + "/metadata") for i in picks()]),
        ("WADO study metadata", [lambda c, i=i: c.get(f"{base}/studies/{i.study}/metadata") for i in picks()]),
        ("WADO frame 110 of 220", [lambda c: c.get(url(multiframe) + "/frames/110", headers=frame_accept)] * requests),
        ("WADO rendered", [lambda c, i=i: c.get(url(i) + "/rendered", headers={"Accept": "image/jpeg"})
                           for i in picks()]),
    ]  # fmt: skip
    return [drive(server, name, "WADO", calls, 4) for name, calls in scenarios]


def qido_calls(base: str, stored: list[Instance], requests: int, seed: int) -> list[tuple[str, list[Call], str]]:
    """The QIDO mix: what a viewer's study list sends, then lookups by each indexed attribute."""
    rng = random.Random(seed)

    def picks() -> list[Instance]:
        return [rng.choice(stored) for _ in range(requests)]

    def day(i: Instance) -> str:
        return f"{i.study_date}-{i.study_date}"

    study_list = {"limit": "101", "offset": "0", "fuzzymatching": "false",
                  "includefield": "00081030,00080060,00080020,00100010,00100020,00201208"}  # fmt: skip
    return [
        ("QIDO study list (date range, includefield, limit)", [
            lambda c, i=i: c.get(f"{base}/studies", params={**study_list, "StudyDate": day(i)})
            for i in picks()], "StudyDate"),
        ("QIDO PatientID", [lambda c, i=i: c.get(f"{base}/studies", params={"PatientID": i.patient_id})
                            for i in picks()], "PatientID"),
        ("QIDO PatientName fuzzy", [
            lambda c, i=i: c.get(f"{base}/studies", params={"PatientName": i.patient_name.split("^")[0][:4],
                                                            "fuzzymatching": "true"}) for i in picks()], "PatientName"),
        ("QIDO AccessionNumber", [lambda c, i=i: c.get(f"{base}/studies", params={"AccessionNumber": i.accession})
                                  for i in picks()], "AccessionNumber"),
        ("QIDO ModalitiesInStudy + date", [
            lambda c, i=i: c.get(f"{base}/studies", params={"ModalitiesInStudy": i.modality,
                                                            "StudyDate": day(i)})
            for i in picks()], "ModalitiesInStudy"),
        ("QIDO instances of a series", [lambda c, i=i: c.get(f"{base}/studies/{i.study}/series/{i.series}/instances")
                                        for i in picks()], "SeriesInstanceUID"),
    ]  # fmt: skip


def qido(server: Server, stored: list[Instance], requests: int, group: str) -> list[Result]:
    results = []
    for name, calls, attribute in qido_calls(server.base_url, stored, requests, seed=2):
        result = drive(server, name, group, calls, 4, ok=(200, 204))
        result.note = attribute
        results.append(result)
    return results


def fill(server: Server, numbers: Numbers, target: int, have: int) -> list[Instance]:
    """Grow the archive to `target` instances with small (64x64) images: QIDO cost does not depend on pixels."""
    added: list[Instance] = []
    while have + len(added) < target:
        batch = [f for n in numbers.take(10) for f in study_files(n, 1, 5, size=64)]
        added += batch
    calls = [store_call(server.base_url, [f.data for f in added[i : i + 50]]) for i in range(0, len(added), 50)]
    result = drive(server, "fill", "fill", calls, 4)
    if result.errors:
        raise RuntimeError(f"filling the archive failed: {result.first_error}")
    return added


def run_all(server: Server, small: int, large: int, requests: int) -> tuple[list[Result], list[Ceiling]]:
    """Every scenario; on our own storage also the raw-SDK ceilings, measured right after our STOW and WADO."""
    numbers = Numbers()
    with httpx.Client(timeout=60) as client:  # warm-up: connections, table creation
        client.get(f"{server.base_url}/studies", params={"PatientID": "warm-up"})
    results, stored = stow(server, numbers, requests)
    multiframe = synthetic_instance(numbers.take(1)[0], size=256, frames=220)
    with httpx.Client(timeout=300) as client:
        response = store_call(server.base_url, [multiframe.data])(client)
        assert response.status_code == 200, response.text[:300]
    results += wado(server, stored, multiframe, requests)
    limits = ceilings(server.storage, stored, requests) if server.storage else []
    results += qido(server, stored, requests, "QIDO")
    archive = stored + fill(server, numbers, small, len(stored) + 1)
    results += qido(server, archive, requests, f"QIDO at {small}")
    archive += fill(server, numbers, large, len(archive) + 1)
    results += qido(server, archive, requests, f"QIDO at {large}")
    return results, limits


# ---- reporting ----------------------------------------------------------------------------------------


def in_private_network(argv: list[str]) -> int:
    """Re-run this command in a new network namespace with only loopback up (Orthanc binds 0.0.0.0)."""
    command = " ".join(["ip link set lo up &&", sys.executable, "-m", "bench.run", "--in-namespace", *argv])
    return subprocess.call(["unshare", "--net", "sh", "-c", command])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="benchmark this DICOMweb base URL instead of starting our service")
    parser.add_argument("--peer", choices=["orthanc"], help="also run every scenario against this peer")
    parser.add_argument("--small", type=int, default=2000, help="first archive size for the QIDO scaling run")
    parser.add_argument("--large", type=int, default=20000, help="second archive size")
    parser.add_argument("--requests", type=int, default=200, help="requests per scenario")
    add_azurite_option(parser)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--in-namespace", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    raw = list(argv if argv is not None else sys.argv[1:])
    if arguments.peer and not arguments.in_namespace:
        if not orthanc_installed():
            print("Orthanc is not installed: apt-get install orthanc orthanc-dicomweb", file=sys.stderr)
            return 2
        return in_private_network(raw)
    context = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
               "small": arguments.small, "large": arguments.large, "requests": arguments.requests,
               "client": "httpx, 1 keep-alive connection per worker",
               "storage": f"Azurite {azurite_version()} {'in memory' if arguments.azurite == 'memory' else 'on disk'}",
               }  # fmt: skip
    results: list[Result] = []
    limits: list[Ceiling] = []
    with scratch() as workdir:
        if arguments.url:
            results, limits = run_all(Server("ours", arguments.url.rstrip("/"), None), arguments.small,
                                      arguments.large, arguments.requests)  # fmt: skip
        else:
            with our_service(workdir if arguments.azurite == "disk" else None) as server:
                results, limits = run_all(server, arguments.small, arguments.large, arguments.requests)
        if arguments.peer == "orthanc":
            with orthanc(workdir) as peer:
                results += run_all(peer, arguments.small, arguments.large, arguments.requests)[0]
    print(report(results, limits, arguments.peer, arguments.small, arguments.large, arguments.out, context))
    failed = [r for r in results if r.errors and r.server == "ours"]
    for r in failed:
        print(f"errors in {r.scenario}: {r.errors}, first: {r.first_error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
