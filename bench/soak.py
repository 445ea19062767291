"""Soak: a bounded mixed load (store, search, retrieve, metadata, upsert, delete) on loopback, counting
errors and sampling the service's memory.

Usage: python -m bench.soak [--seconds 180] [--workers 4] [--out docs/soak.json]   (make soak)
Each worker loops over a whole study life cycle, so the archive stays small and steady: memory that
grows anyway is a leak. The service's resident memory is sampled every second; growth is measured from
the end of the warm-up (the first quarter) to the end. Exits non-zero on any error or on growth above
GROWTH_LIMIT_MIB.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench.data import RELATED, multipart, synthetic_instance
from bench.servers import memory_kib, our_service

GROWTH_LIMIT_MIB = 20
EXPECTED = {"store": 200, "upsert": 200, "search": 200, "retrieve": 200, "metadata": 200, "delete": 204}


def life_cycle(client: httpx.Client, base: str, counts: Counter, errors: list[str], number: int) -> None:
    """One study: stored, searched, retrieved, read as metadata, one instance replaced, deleted."""
    instances = [synthetic_instance(number, series=s, instance=i, size=64) for s in range(2) for i in range(3)]
    study, series, sop = instances[0].study, instances[0].series, instances[0].sop
    url = f"{base}/studies/{study}/series/{series}/instances/{sop}"
    steps = [
        ("store", lambda: client.post(f"{base}/studies", content=multipart([i.data for i in instances]),
                                      headers={"Content-Type": RELATED})),
        ("search", lambda: client.get(f"{base}/studies", params={"PatientID": instances[0].patient_id})),
        ("retrieve", lambda: client.get(url, headers={"Accept": "application/dicom; transfer-syntax=*"})),
        ("metadata", lambda: client.get(f"{base}/studies/{study}/metadata")),
        ("upsert", lambda: client.put(f"{base}/studies", content=multipart([instances[0].data]),
                                      headers={"Content-Type": RELATED})),
        ("delete", lambda: client.delete(f"{base}/studies/{study}")),
    ]  # fmt: skip
    for name, call in steps:
        try:
            status = call().status_code
        except httpx.HTTPError as error:
            status = type(error).__name__
        counts[name] += 1
        if status != EXPECTED[name]:
            errors.append(f"{name}: {status}")


def soak(base: str, pid: int | None, seconds: float, workers: int) -> dict:
    counts: Counter = Counter()
    errors: list[str] = []
    samples: list[tuple[float, int]] = []
    started = time.monotonic()
    done = threading.Event()

    def sample() -> None:
        while pid is not None and not done.wait(1.0):
            samples.append((time.monotonic() - started, memory_kib(pid)["VmRSS"]))

    def worker(index: int) -> None:
        with httpx.Client(timeout=120) as client:
            number = index * 1_000_000
            while time.monotonic() - started < seconds:
                life_cycle(client, base, counts, errors, number)
                number += 1

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(worker, range(workers)))
    done.set()
    sampler.join()
    elapsed = time.monotonic() - started
    warm = [kib for at, kib in samples if at <= elapsed / 4] or [0]
    late = [kib for at, kib in samples if at >= elapsed * 3 / 4] or [0]
    return {
        "seconds": round(elapsed, 1),
        "workers": workers,
        "requests": sum(counts.values()),
        "requests_by_operation": dict(counts),
        "studies_cycled": counts["delete"],
        "errors": len(errors),
        "first_errors": errors[:10],
        "rss_after_warm_up_mib": round(statistics.median(warm) / 1024, 1),
        "rss_at_end_mib": round(statistics.median(late) / 1024, 1),
        "rss_growth_mib": round((statistics.median(late) - statistics.median(warm)) / 1024, 1),
        "rss_peak_mib": round(max(kib for _, kib in samples) / 1024, 1) if samples else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--out", type=Path, help="also write the report here as JSON")
    arguments = parser.parse_args()
    with our_service() as server:
        report = soak(server.base_url, server.pid, arguments.seconds, arguments.workers)
    text = json.dumps(report, indent=2)
    print(text)
    if arguments.out:
        arguments.out.parent.mkdir(parents=True, exist_ok=True)
        arguments.out.write_text(text + "\n")
    if report["errors"] or report["rss_growth_mib"] > GROWTH_LIMIT_MIB:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
