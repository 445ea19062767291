"""The benchmarks still run end to end (tiny sizes; no timing is asserted): every scenario is driven without
errors and the reports are written. `make bench` runs them at size: the throughput run with its raw-SDK
ceilings, the Azure-like mode (bench.roundtrips, LATENCY_MS=8) and the flame graphs (bench.profile, PROFILE=1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import profile, roundtrips
from bench.run import main


@pytest.fixture(scope="module")
def bench_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bench.run at a tiny size, on Azurite on disk (its default, as `make run`)."""
    out = tmp_path_factory.mktemp("bench")
    assert main(["--small", "60", "--large", "120", "--requests", "4", "--out", str(out)]) == 0
    return out


def test_the_benchmark_runs_every_scenario_without_errors_and_writes_its_reports(bench_report: Path) -> None:
    results = json.loads((bench_report / "bench.json").read_text())["results"]
    groups = {r["group"] for r in results}
    assert {"STOW", "WADO", "QIDO", "QIDO at 60", "QIDO at 120"} <= groups
    assert all(r["errors"] == 0 for r in results), [r for r in results if r["errors"]]
    assert all(r["entities_read"] is not None for r in results if r["group"].startswith("QIDO"))
    assert all(r["cpu_ms"] is not None for r in results if r["group"] != "fill")
    assert "| STOW | STOW 50/request c4 |" in (bench_report / "bench.md").read_text()
    assert (bench_report / "bench.png").read_bytes()[:4] == b"\x89PNG"


def test_the_benchmark_measures_the_raw_sdk_ceilings_on_its_on_disk_azurite_and_reports_ours_against_them(
    bench_report: Path,
) -> None:
    report = json.loads((bench_report / "bench.json").read_text())
    assert "on disk" in report["context"]["storage"]
    assert [c["name"].split(" (")[0] for c in report["ceilings"]] == ["minimal store", "WADO ceiling"]
    assert all(c["per_second"] > 0 for c in report["ceilings"])
    against = (bench_report / "bench.md").read_text().split("raw-SDK ceilings")[1]
    assert "| STOW 1/request c4 |" in against and "| WADO instance |" in against


@pytest.fixture(scope="module", params=[0, 2], ids=["no-latency", "2ms-each-way"])
def roundtrip_report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """bench.roundtrips at a tiny size, with and without added storage latency."""
    out = tmp_path_factory.mktemp("roundtrips")
    arguments = ["--latency-ms", str(request.param), "--requests", "2", "--studies", "1", "--fill", "10"]
    assert roundtrips.main([*arguments, "--azurite", "memory", "--out", str(out)]) == 0
    report = json.loads((out / "roundtrips.json").read_text())
    report["markdown"] = (out / "roundtrips.md").read_text()
    return report


def test_roundtrips_reports_storage_calls_and_critical_path_of_every_request_as_positive_integers(
    roundtrip_report: dict,
) -> None:
    rows = roundtrip_report["rows"]
    assert len(rows) == 15 and all(r["requests"] == 2 and r["errors"] == 0 for r in rows)
    for row in rows:
        values = row["calls_each"] + row["critical_path_each"]
        assert all(isinstance(v, int) and v > 0 for v in values), row
        assert all(path <= calls for path, calls in zip(row["critical_path_each"], row["calls_each"], strict=True))
        assert f"| {row['scenario']} | {row['calls']:g} |" in roundtrip_report["markdown"]


def test_roundtrips_sees_a_wado_instance_request_read_the_index_table_and_the_blob(roundtrip_report: dict) -> None:
    wado = next(r for r in roundtrip_report["rows"] if r["scenario"] == "WADO instance")
    assert wado["blob"] >= 1 and wado["table"] >= 1, wado
    assert any(name.startswith("blob GET") for name in wado["operations"])
    assert any(name.startswith("table GET") for name in wado["operations"])


def test_profile_writes_a_flame_graph_per_scenario_and_finds_the_azure_sdk_in_the_stores(tmp_path: Path) -> None:
    arguments = ["--stores", "12", "--searches", "2", "--studies", "1", "--fill", "10", "--azurite", "memory"]
    assert profile.main([*arguments, "--out", str(tmp_path)]) == 0
    for name in ("stow", "qido"):
        assert b"<svg" in (tmp_path / f"profile-{name}.svg").read_bytes()[:2000]
    results = json.loads((tmp_path / "profile.json").read_text())["results"]
    assert results["stow"]["samples"][profile.CATEGORIES[0][0]] > 0, results["stow"]["samples"]
    assert "| Azure SDK pipeline" in (tmp_path / "profile.md").read_text()
