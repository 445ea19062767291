"""The benchmark still runs end to end (tiny sizes; no timing is asserted): every scenario is driven
without errors and the JSON, Markdown table and PNG chart are written. `make bench` runs it at size."""

from __future__ import annotations

import json
from pathlib import Path

from bench.run import main


def test_the_benchmark_runs_every_scenario_without_errors_and_writes_its_reports(tmp_path: Path) -> None:
    assert main(["--small", "60", "--large", "120", "--requests", "4", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "bench.json").read_text())["results"]
    groups = {r["group"] for r in results}
    assert {"STOW", "WADO", "QIDO", "QIDO at 60", "QIDO at 120"} <= groups
    assert all(r["errors"] == 0 for r in results), [r for r in results if r["errors"]]
    assert all(r["entities_read"] is not None for r in results if r["group"].startswith("QIDO"))
    assert "| STOW | STOW 50/request c4 |" in (tmp_path / "bench.md").read_text()
    assert (tmp_path / "bench.png").read_bytes()[:4] == b"\x89PNG"
