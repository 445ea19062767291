"""The soak in a short, bounded form: a mixed load (store, search, retrieve, metadata, upsert, delete)
through real HTTP finishes without a single error. `make soak` runs it for minutes and also judges the
service's memory growth (figures in docs/reliability.md)."""

from __future__ import annotations

from bench.servers import our_service
from bench.soak import EXPECTED, soak


def test_a_short_mixed_load_runs_without_errors() -> None:
    with our_service() as server:
        report = soak(server.base_url, server.pid, seconds=10, workers=3)
    assert report["errors"] == 0, report["first_errors"]
    assert set(report["requests_by_operation"]) == set(EXPECTED)
    assert report["studies_cycled"] >= 3
    assert report["rss_at_end_mib"] > 0, "the service's memory was sampled"
