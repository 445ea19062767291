"""Flame graphs of the service's CPU (py-spy) during a STOW and a QIDO scenario, and where the samples go:
the Azure SDK pipeline, our code, pydicom, the HTTP server.

Usage: python -m bench.profile [--stores 200] [--searches 40] [--azurite disk|memory] [--out bench/results]

Writes profile-stow.svg and profile-qido.svg (py-spy's interactive flame graphs), the collapsed stacks
(profile-*.txt) and profile.md / profile.json with the breakdown. py-spy samples the service process from
outside (--nonblocking, 200 Hz, idle threads not counted); the SVG and the breakdown come from two samplers
attached to the same run. STOW: single-instance stores (512x512) at concurrency 4, each into a new series of
a study of 12; QIDO: the benchmark's QIDO mix (bench.run.qido_calls) at concurrency 4 on an archive of
--studies studies plus --fill small instances.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench.roundtrips import QUIET, add_archive_options, seed
from bench.run import Numbers, drive, qido_calls, store_call, study_files
from bench.servers import REPO, Server, cpu_seconds, our_service, scratch

# A sample's category is that of the first frame, from the leaf up, in one of these folders (site-packages for
# libraries, the repository for ours); stdlib frames (json, email, asyncio...) are charged to whoever called them.
# aiohttp is the Azure SDK's transport here (the service itself serves with uvicorn). Frames from the root down to
# the event loop's _run_once are the process's scaffolding (local.host's main, uvicorn.run) and never decide.
LIBRARY = "/site-packages/"
CATEGORIES = [
    ("Azure SDK pipeline (azure-core, azure-storage, azure-data-tables, aiohttp transport)",
     [LIBRARY + p for p in ("azure/core/", "azure/storage/", "azure/data/tables/", "aiohttp/", "multidict/", "yarl/",
                            "isodate/")]),
    ("pydicom", [LIBRARY + "pydicom/"]),
    ("imaging (numpy, Pillow)", [LIBRARY + "numpy/", LIBRARY + "PIL/"]),
    ("HTTP server (uvicorn, h11, starlette, azure.functions, local host)",
     [LIBRARY + p for p in ("uvicorn/", "h11/", "starlette/", "anyio/", "azure/functions/")] + [f"{REPO}/local/"]),
    ("our code (api, shared, archive, dicom, dicomweb_wire)",
     [f"{REPO}/{p}" for p in ("api/", "shared/", "archive/", "dicom/", "dicomweb_wire/", "function_app.py")]),
]  # fmt: skip
OTHER = "other (event loop, stdlib outside any of the above)"
LOOP = "._run_once ("
# Waits py-spy counts as active (it cannot always tell under --nonblocking): the event loop's epoll and the
# worker threads' queue. Left out of the breakdown.
IDLE = ("EpollSelector.select (", "_worker (")


def category(stack: str) -> str:
    frames = stack.split(";")
    loop = max((i for i, frame in enumerate(frames) if LOOP in frame), default=-1)
    for frame in reversed(frames[loop + 1 :]):
        path = frame.rpartition(" (")[2]
        for name, places in CATEGORIES:
            if any(place in path for place in places):
                return name
    return OTHER


def breakdown(collapsed: Path) -> dict[str, int]:
    """Samples per category from py-spy's raw (collapsed) output: one `frame;frame;... count` per line."""
    counts: Counter[str] = Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit() and not stack.rpartition(";")[2].startswith(IDLE):
            counts[category(stack)] += int(count)
    return dict(counts.most_common())


@contextlib.contextmanager
def sampled(pid: int, out: Path, name: str) -> Iterator[None]:
    """py-spy twice on the service while the block runs: an SVG flame graph and the collapsed stacks."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise RuntimeError("py-spy is missing: pip install -r requirements-dev.txt (make install does it)")
    samplers = [
        subprocess.Popen([spy, "record", "--pid", str(pid), "--nonblocking", "--rate", "200", "--format", fmt, *extra,
                          "--output", str(out / f"profile-{name}.{suffix}")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for fmt, suffix, extra in (("flamegraph", "svg", []), ("raw", "txt", ["--full-filenames"]))
    ]  # fmt: skip
    time.sleep(1)  # py-spy attaches asynchronously; its first samples arrive within a second
    try:
        yield
    finally:
        for sampler in samplers:
            sampler.send_signal(2)  # SIGINT: py-spy writes its output and exits
        for sampler in samplers:
            _, errors = sampler.communicate(timeout=120)
            if sampler.returncode != 0:
                raise RuntimeError(f"py-spy failed: {errors.decode()[-500:]}")


def profile(server: Server, out: Path, stores: int, searches: int, studies: int, fill: int) -> dict:
    assert server.pid is not None
    with httpx.Client(base_url=server.base_url, timeout=300) as client:
        client.get("/studies", params={"PatientID": "warm-up"})
        stored, _, next_number = seed(client, studies, fill)
    numbers = Numbers()
    numbers.take(next_number + 1)
    files = [f for n in numbers.take(stores // 12 + 1) for f in study_files(n, 3, 4)][:stores]
    stow_calls = [store_call(server.base_url, [f.data]) for f in files]
    qido = [call for _, calls, _ in qido_calls(server.base_url, stored, searches, seed=5) for call in calls]
    results = {}
    for name, calls, ok in (("stow", stow_calls, (200,)), ("qido", qido, (200, 204))):
        cpu = cpu_seconds(server.pid)
        with sampled(server.pid, out, name):
            result = drive(server, name, name, calls, 4, ok=ok)
        cpu = cpu_seconds(server.pid) - cpu
        if result.errors:
            raise RuntimeError(f"{name}: {result.errors} errors, first: {result.first_error}")
        samples = breakdown(out / f"profile-{name}.txt")
        results[name] = {"requests": len(calls), "per_second": result.per_second, "p50_ms": result.p50_ms,
                         "cpu_ms_per_request": round(cpu * 1000 / len(calls), 1), "samples": samples}  # fmt: skip
    return results


def table(results: dict) -> str:
    names = [name for name, _ in CATEGORIES] + [OTHER]
    lines = ["| share of the service's CPU samples | " + " | ".join(results) + " |", "|---" * (len(results) + 1) + "|"]
    for name in names:
        cells = []
        for figures in results.values():
            total = sum(figures["samples"].values()) or 1
            cells.append(f"{100 * figures['samples'].get(name, 0) / total:.0f}%")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| samples | " + " | ".join(str(sum(f["samples"].values())) for f in results.values()) + " |")
    lines.append("| CPU ms per request | " + " | ".join(str(f["cpu_ms_per_request"]) for f in results.values()) + " |")
    lines.append("| requests (concurrency 4) | " + " | ".join(str(f["requests"]) for f in results.values()) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=200, help="single-instance STOW requests profiled")
    parser.add_argument("--searches", type=int, default=40, help="requests per QIDO attribute profiled (6 of them)")
    add_archive_options(parser)
    arguments = parser.parse_args(argv)
    arguments.out.mkdir(parents=True, exist_ok=True)
    with scratch() as folder, our_service(folder if arguments.azurite == "disk" else None, **QUIET) as server:
        results = profile(server, arguments.out, arguments.stores, arguments.searches, arguments.studies,
                          arguments.fill)  # fmt: skip
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    text = f"Service CPU profile (py-spy), {when}\n\n{table(results)}\n"
    (arguments.out / "profile.md").write_text(text)
    (arguments.out / "profile.json").write_text(json.dumps({"when": when, "results": results}, indent=1))
    print(text)
    print(f"flame graphs: {arguments.out}/profile-stow.svg, {arguments.out}/profile-qido.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
