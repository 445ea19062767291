"""`dicomweb changes`: the change feed from the command line, as a sync script reads it."""

from __future__ import annotations

import httpx
from pydicom.uid import generate_uid

from tests.dicom_factory import make_instance
from tests.helpers import store
from tests.test_cli import run


def test_changes_after_a_sequence_lists_what_followed_in_order_for_a_script(
    client: httpx.Client, base_url: str
) -> None:
    before = run(base_url, "changes", "--latest", "-o", "json", "--query", "[0].Sequence")
    assert before.returncode == 0, before.stderr
    last = int(before.stdout.strip().replace("null", "0"))
    sops = [generate_uid() for _ in range(2)]
    for sop in sops:
        assert store(client, f"{base_url}/studies", [make_instance(sop=sop)]).status_code == 200
    result = run(base_url, "changes", "--after", str(last), "-o", "tsv",
                 "--query", "[].[Sequence, Action, SopInstanceUid]")  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert [(line[1], line[2]) for line in lines] == [("create", sops[0]), ("create", sops[1])]
    assert [int(line[0]) for line in lines] == [last + 1, last + 2]


def test_a_limit_outside_the_feeds_range_is_a_usage_error(base_url: str) -> None:
    result = run(base_url, "changes", "--limit", "500")
    assert result.returncode == 2 and "--limit" in result.stderr and "Traceback" not in result.stderr
