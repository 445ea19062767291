"""-o table|json|jsonc|tsv|csv and --query on the order, folder, share, retrieve and frames commands, and
`dicomweb --help` as the list of commands: the installed command against the local host on Azurite (auth off),
piped as a script runs it."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from pydicom.uid import generate_uid

from dicomweb_cli.cli import parser
from tests.dicom_factory import make_instance
from tests.test_cli import run
from tests.test_shares_common import store_study

ORDER = ("--institution", "General", "--patient-name", "Doe^Jane", "--birth-date", "1980-06-15", "--modality", "CT")


def create_order(url: str, patient: str) -> str:
    created = run(url, "order", "create", *ORDER, "--patient-id", patient, "-o", "tsv", "--query", "order")
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


def test_order_create_with_o_tsv_and_query_prints_the_order_uid_alone(base_url: str) -> None:
    uid = create_order(base_url, "OUT" + generate_uid()[-10:])
    assert uid.count(".") > 3 and "\t" not in uid and "\n" not in uid
    got = run(base_url, "order", "get", uid, "-o", "json", "--query", "{uid: order, state: state}")
    assert json.loads(got.stdout) == {"uid": uid, "state": "SCHEDULED"}


def test_order_search_o_tsv_prints_a_line_per_order_with_the_columns_asked(base_url: str) -> None:
    patient = "OUT" + generate_uid()[-10:]
    uids = sorted(create_order(base_url, patient) for _ in range(2))
    found = run(base_url, "order", "search", "--patient-id", patient, "-o", "tsv", "--query", "[].[order, modality]")
    assert sorted(line.split("\t") for line in found.stdout.splitlines()) == [[uid, "CT"] for uid in uids]


def test_a_piped_order_table_shows_whole_uids(base_url: str) -> None:
    patient = "OUT" + generate_uid()[-10:]
    uid = create_order(base_url, patient)
    table = run(base_url, "order", "search", "--patient-id", patient)
    assert table.returncode == 0 and uid in table.stdout and "…" not in table.stdout


def test_folder_search_with_query_and_csv(base_url: str) -> None:
    name = "Out " + generate_uid()[-8:]
    created = run(base_url, "folder", "create", name, "-o", "tsv", "--query", "[0].id")
    folder = created.stdout.strip()
    assert created.returncode == 0 and folder, created.stderr
    found = run(base_url, "folder", "search", "--name", name, "-o", "csv")
    rows = list(csv.DictReader(io.StringIO(found.stdout)))
    assert [(row["id"], row["name"]) for row in rows] == [(folder, name)]


def test_share_studies_and_list_with_o_and_query(client: httpx.Client, base_url: str) -> None:
    study = store_study(client, base_url, {}, series=1, instances=1).study
    expires = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    created = run(base_url, "share", "studies", study, "--expires", expires, "-o", "json",
                  "--query", "{id: id, url: url}")  # fmt: skip
    share = json.loads(created.stdout)
    assert client.get(share["url"] + "/studies").status_code == 200
    listed = run(base_url, "share", "list", "-o", "tsv", "--query", f"[?id=='{share['id']}'].expires")
    assert listed.stdout.strip().startswith(expires)


def test_help_lists_every_command_on_one_line_each() -> None:
    commands = parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    shown = run("http://unused", "--help", COLUMNS="60").stdout
    section = shown.split("\ncommands:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line.split()[0] for line in section] == list(commands)
    assert all(len(line.split()) > 2 for line in section), "each with what it does"
    assert {"tags", "operation", "order", "folder", "share", "changes"} <= set(commands)


def test_retrieve_and_frames_with_o_tsv_list_the_files_they_wrote(base_url: str, tmp_path: Path) -> None:
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    (tmp_path / "in.dcm").write_bytes(make_instance(study, series, sop, rows=4, columns=4, frames=2))
    assert run(base_url, "upload", str(tmp_path / "in.dcm")).returncode == 0
    retrieved = run(base_url, "retrieve", study, "--out", str(tmp_path / "out"), "-o", "tsv")
    assert retrieved.stdout.split() == [str(tmp_path / "out" / study / series / f"{sop}.dcm")]
    frames = run(base_url, "-o", "json", "frames", study, series, sop, "--frames", "1,2", "--out", str(tmp_path / "f"),
                 "--query", "[].path")  # fmt: skip
    assert json.loads(frames.stdout) == [str(tmp_path / "f" / f"frame-{n}.raw") for n in (1, 2)]


def test_an_empty_search_shows_the_usual_columns_as_its_header(base_url: str) -> None:
    table = run(base_url, "folder", "search", "--name", "no such folder " + generate_uid())
    assert table.returncode == 0, table.stderr
    assert table.stdout.split("\n")[0].split() == ["id", "name", "description", "parent", "created"]
