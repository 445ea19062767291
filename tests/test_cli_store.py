"""`dicomweb upload --study` (store into a given study) and `--upsert` (PUT), from the installed command against the
local host on Azurite."""

from __future__ import annotations

from tests.dicom_factory import make_instance
from tests.test_cli import folder, run  # noqa: F401 - the fixture is used by name


def test_upload_into_a_study_stores_its_files_and_fails_another_studys(folder: dict, base_url: str) -> None:  # noqa: F811
    (folder["root"] / "broken.dcm").unlink()
    other = folder["root"] / "other-study.dcm"
    other.write_bytes(make_instance(PatientID=folder["patient"]))
    result = run(base_url, "upload", str(folder["root"]), "--study", folder["study"])
    assert result.returncode == 1
    assert "stored: 5  already stored: 0  failed: 1" in result.stderr
    assert f"failed {other}: 43265 study does not match" in result.stderr


def test_upsert_replaces_what_is_stored_instead_of_reporting_it_present(folder: dict, base_url: str) -> None:  # noqa: F811
    (folder["root"] / "broken.dcm").unlink()
    assert run(base_url, "upload", str(folder["root"])).returncode == 0
    result = run(base_url, "upload", str(folder["root"]), "--upsert")
    assert result.returncode == 0, result.stderr
    assert "stored: 5  already stored: 0  failed: 0" in result.stderr
