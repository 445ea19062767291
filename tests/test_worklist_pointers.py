"""Which workitem pointers a search may remove: only old ones whose workitem is gone or lost the value
(pure functions of archive.workitems; the 15-minute age cannot be waited for in a test)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from archive.workitems import is_stale, pointers_of
from tests.test_worklist import workitem_json

UID = "1.2.3.4"
NOW = datetime.now(UTC)
OLD, RECENT = NOW - timedelta(hours=1), NOW


def patient_pointer(patient: str) -> tuple[str, str]:
    (key,) = [k for k in pointers_of(UID, workitem_json(patient_id=patient)) if k[0].startswith("patient|")]
    return key


def test_an_old_pointer_to_a_workitem_that_still_has_the_value_is_kept() -> None:
    assert not is_stale(patient_pointer("P1"), OLD, workitem_json(patient_id="P1"), NOW)


def test_an_old_pointer_to_a_workitem_whose_value_changed_is_stale() -> None:
    assert is_stale(patient_pointer("P1"), OLD, workitem_json(patient_id="P2"), NOW)


def test_an_old_pointer_to_a_workitem_that_is_gone_is_stale() -> None:
    assert is_stale(patient_pointer("P1"), OLD, None, NOW)


def test_a_recent_pointer_is_kept_even_without_its_workitem_a_change_may_be_in_flight() -> None:
    assert not is_stale(patient_pointer("P1"), RECENT, None, NOW)


def test_the_scheduled_start_pointer_is_judged_by_the_start_it_names() -> None:
    start_key = ("start", f"20300101090000!{UID}")
    assert not is_stale(start_key, OLD, workitem_json(start="20300101090000"), NOW)
    assert is_stale(start_key, OLD, workitem_json(start="20310101090000"), NOW)
