"""The benchmark's figures and how they are reported: the Markdown table (with the peer's figures and ratios),
the QIDO scaling table, ours against the raw-SDK ceilings, the chart, and the JSON."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.ceilings import Ceiling


@dataclass
class Result:
    server: str
    scenario: str
    group: str
    concurrency: int
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    per_second: float
    instances_per_second: float | None
    mib_per_second: float
    server_peak_mib: float | None
    entities_read: float | None = None
    cpu_ms: float | None = None  # the server process's CPU (user + system) per request, where it is visible
    note: str = ""
    first_error: str = field(default="", repr=False)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] if ordered else 0.0


def table(results: list[Result], peer: str | None) -> str:
    ours = {(r.group, r.scenario): r for r in results if r.server == "ours"}
    theirs = {(r.group, r.scenario): r for r in results if r.server == peer}
    head = (
        "| group | scenario | c | req | req/s | inst/s | MiB/s | p50 ms | p95 ms | p99 ms | errors | peak MiB "
        "| entities/query | CPU ms/req |"
    )
    if peer:
        head += f" {peer} req/s | {peer} p95 ms | {peer} CPU ms/req | ours/{peer} req/s | ours/{peer} p95 |"
    rows = [head, "|---" * (head.count("|") - 1) + "|"]
    for key, r in ours.items():
        line = (
            f"| {r.group} | {r.scenario} | {r.concurrency} | {r.requests} | {r.per_second} | "
            f"{r.instances_per_second or ''} | {r.mib_per_second} | {r.p50_ms} | {r.p95_ms} | {r.p99_ms} | "
            f"{r.errors} | {r.server_peak_mib or ''} | {'' if r.entities_read is None else r.entities_read} | "
            f"{r.cpu_ms or ''} |"
        )
        if peer:
            other = theirs.get(key)
            if other is None or other.note == "unsupported":
                line += f" n/a | n/a | n/a | {peer} cannot | |"
            else:
                line += (f" {other.per_second} | {other.p95_ms} | {other.cpu_ms or ''} | "
                         f"{r.per_second / other.per_second:.2f} | {r.p95_ms / other.p95_ms:.2f} |")  # fmt: skip
        rows.append(line)
    return "\n".join(rows)


def scaling(results: list[Result], small: int, large: int) -> str:
    by = {(r.server, r.group, r.note): r for r in results}
    lines = [
        "| server | attribute | p50 ms at small | p50 ms at large | ratio | entities at small | at large | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (server, group, attribute), r in by.items():
        if group != f"QIDO at {small}":
            continue
        big = by[(server, f"QIDO at {large}", attribute)]
        entity_ratio = f"{big.entities_read / r.entities_read:.2f}" if r.entities_read and big.entities_read else ""
        lines.append(f"| {server} | {attribute} | {r.p50_ms} | {big.p50_ms} | {big.p50_ms / r.p50_ms:.2f} | "
                     f"{r.entities_read or ''} | {big.entities_read or ''} | {entity_ratio} |")  # fmt: skip
    return "\n".join(lines)


def chart(results: list[Result], peer: str | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ours = [r for r in results if r.server == "ours" and r.group != "fill"]
    labels = [f"{r.group}: {r.scenario}" for r in ours]
    figure, axis = plt.subplots(figsize=(11, 0.32 * len(labels) + 1.5))
    positions = range(len(labels))
    axis.barh([p + 0.2 for p in positions], [r.p95_ms for r in ours], height=0.4, label="ours")
    if peer:
        theirs = {(r.group, r.scenario): r.p95_ms for r in results if r.server == peer}
        axis.barh([p - 0.2 for p in positions], [theirs.get((r.group, r.scenario), 0) for r in ours], height=0.4,
                  label=peer)  # fmt: skip
    axis.set_yticks(list(positions), labels, fontsize=7)
    axis.invert_yaxis()
    axis.set_xscale("log")
    axis.set_xlabel("p95 latency, ms (log scale; lower is better)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# Which of our scenarios each ceiling bounds, and the figure compared (instances/s for a store, requests/s else).
BOUNDS = {
    "minimal store": ("STOW 1/request c4", "instances_per_second"),
    "WADO ceiling": ("WADO instance", "per_second"),
}


def ceiling_table(results: list[Result], ceilings: list[Ceiling]) -> str:
    """Ours against the raw-SDK ceilings of the same run: the fraction of what the storage allows here."""
    ours = {r.scenario: r for r in results if r.server == "ours"}
    lines = [
        "| ceiling (raw SDK, same Azurite, c4) | ops/s | p50 ms | p95 ms | our scenario | ours/s | ours p50 ms "
        "| ours/ceiling |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in ceilings:
        scenario, figure = next(v for k, v in BOUNDS.items() if c.name.startswith(k))
        mine = ours.get(scenario)
        value = getattr(mine, figure) if mine else None
        ratio = f"{value / c.per_second:.2f}" if value else ""
        lines.append(f"| {c.name} | {c.per_second} | {c.p50_ms} | {c.p95_ms} | {scenario} | {value or ''} | "
                     f"{mine.p50_ms if mine else ''} | {ratio} |")  # fmt: skip
    return "\n".join(lines)


def report(results: list[Result], ceilings: list[Ceiling], peer: str | None, small: int, large: int, out: Path,
           context: dict) -> str:  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    skipped = f"\nNo scenario deletes: {peer}'s DICOMweb plugin has no DELETE.\n" if peer == "orthanc" else ""
    text = (
        f"Benchmark run {context['when']} on {context['machine']}\n{skipped}\n{table(results, peer)}\n\n"
        f"QIDO cost as the archive grows from {small} to {large} instances:\n\n{scaling(results, small, large)}\n"
    )
    if ceilings:
        text += f"\nOurs against the raw-SDK ceilings on the same Azurite ({context['storage']}):\n\n"
        text += ceiling_table(results, ceilings) + "\n"
    (out / "bench.json").write_text(
        json.dumps(
            {"context": context, "results": [asdict(r) for r in results], "ceilings": [asdict(c) for c in ceilings]},
            indent=1,
        )
    )
    (out / "bench.md").write_text(text)
    chart(results, peer, out / "bench.png")
    return text


def machine() -> str:
    cpus = os.cpu_count()
    model = next((line.split(":")[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU")  # fmt: skip
    return f"{cpus} cores ({model})"
