"""The `dicomweb` command's output for scripts: -o table|json|jsonc|tsv|csv and --query (JMESPath), piped as a
script pipes it, from the installed command against the local host on Azurite."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from tests.dicom_factory import make_instance
from tests.test_cli import folder, run  # noqa: F401 - the fixture is used by name


@pytest.fixture()
def uploaded(folder: dict, base_url: str) -> dict:  # noqa: F811
    (folder["root"] / "broken.dcm").unlink()
    assert run(base_url, "upload", str(folder["root"])).returncode == 0
    return folder


def test_tsv_with_a_query_prints_one_uid_a_line(uploaded: dict, base_url: str) -> None:
    result = run(base_url, "search", "instances", "--study", uploaded["study"], "-o", "tsv",
                 "--query", "[].SOPInstanceUID")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == sorted(uploaded["files"].values())


def test_tsv_without_a_query_has_the_tables_columns_and_no_header(uploaded: dict, base_url: str) -> None:
    result = run(base_url, "search", "studies", "-f", f"PatientID={uploaded['patient']}", "-o", "tsv")
    (line,) = result.stdout.splitlines()
    study, _name, patient, *_ = line.split("\t")
    assert (study, patient) == (uploaded["study"], uploaded["patient"])


def test_a_piped_table_never_cuts_a_uid_however_narrow(uploaded: dict, base_url: str) -> None:
    result = run(base_url, "search", "instances", "--study", uploaded["study"], COLUMNS="40")
    assert result.returncode == 0, result.stderr
    for uid in uploaded["files"].values():
        assert re.search(rf"^{re.escape(uid)}\s", result.stdout, re.MULTILINE), result.stdout
    assert "…" not in result.stdout


def test_json_output_is_rows_keyed_by_keyword(uploaded: dict, base_url: str) -> None:
    result = run(base_url, "search", "studies", "-f", f"PatientID={uploaded['patient']}", "-o", "json")
    (row,) = json.loads(result.stdout)
    assert row["StudyInstanceUID"] == uploaded["study"]
    assert row["PatientID"] == uploaded["patient"]
    assert row["NumberOfStudyRelatedInstances"] == 5


def test_a_query_can_filter_and_reshape(uploaded: dict, base_url: str) -> None:
    query = "[?InstanceNumber > `3`].{uid: SOPInstanceUID, number: InstanceNumber}"
    result = run(base_url, "search", "instances", "--study", uploaded["study"], "-o", "json", "--query", query)
    assert sorted(item["number"] for item in json.loads(result.stdout)) == [4, 5]


def test_csv_has_a_header_and_one_row_per_result(uploaded: dict, base_url: str) -> None:
    result = run(base_url, "search", "instances", "--study", uploaded["study"], "-o", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sorted(row["SOPInstanceUID"] for row in rows) == sorted(uploaded["files"].values())


def test_jsonc_is_coloured_json(uploaded: dict, base_url: str) -> None:
    result = run(base_url, "search", "studies", "-f", f"PatientID={uploaded['patient']}", "-o", "jsonc")
    assert "\x1b[" in result.stdout
    (row,) = json.loads(re.sub(r"\x1b\[[0-9;]*m", "", result.stdout))
    assert row["StudyInstanceUID"] == uploaded["study"]


def test_the_format_can_be_given_before_the_command_or_in_the_environment(uploaded: dict, base_url: str) -> None:
    before = run(base_url, "-o", "tsv", "search", "studies", "-f", f"PatientID={uploaded['patient']}",
                 "--query", "[0].StudyInstanceUID")  # fmt: skip
    from_env = run(base_url, "search", "studies", "-f", f"PatientID={uploaded['patient']}",
                   "--query", "[0].StudyInstanceUID", DICOMWEB_OUTPUT="tsv")  # fmt: skip
    assert before.stdout == from_env.stdout == f"{uploaded['study']}\n"


def test_metadata_as_tsv_is_tag_keyword_vr_value(uploaded: dict, base_url: str) -> None:
    uid = next(iter(uploaded["files"].values()))
    result = run(base_url, "metadata", uploaded["study"], uploaded["series"], uid, "--tags", "PatientID", "-o", "tsv")
    assert result.stdout == f"00100020\tPatientID\tLO\t{uploaded['patient']}\n"


def test_an_invalid_query_exits_2_with_one_line(base_url: str) -> None:
    result = run(base_url, "search", "studies", "--query", "[?", "-f", "PatientID=nobody")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: --query is not valid JMESPath")


@pytest.mark.parametrize("level", ["study", "series"])
def test_metadata_of_a_study_or_series_is_a_row_per_instance_with_the_chosen_tags(
    uploaded: dict, base_url: str, level: str
) -> None:
    where = [uploaded["study"]] + ([uploaded["series"]] if level == "series" else [])
    result = run(base_url, "metadata", *where, "--tags", "SOPInstanceUID,InstanceNumber", "-o", "tsv")
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert sorted(uid for uid, _ in rows) == sorted(uploaded["files"].values())
    assert sorted(int(number) for _, number in rows) == [1, 2, 3, 4, 5]


def test_search_includes_another_attribute_as_a_column(base_url: str, tmp_path: Path) -> None:
    study = generate_uid()
    path = tmp_path / "scanner.dcm"
    path.write_bytes(make_instance(study, ManufacturerModelName="Scanner X"))
    assert run(base_url, "upload", str(path)).returncode == 0
    result = run(base_url, "search", "series", "--study", study, "-i", "ManufacturerModelName", "-o", "csv")
    assert result.returncode == 0, result.stderr
    (row,) = csv.DictReader(io.StringIO(result.stdout))
    assert list(row)[-1] == "ManufacturerModelName" and row["ManufacturerModelName"] == "Scanner X"
