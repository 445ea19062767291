"""`python -m archive.admin cleanup` removes data, so it works only on a storage it was given, never a default."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from local.azurite import Azurite
from tests.conftest import REPO

STORAGE_SETTINGS = ("DICOM_STORAGE_CONNECTION_STRING", "DICOM_STORAGE_ACCOUNT_NAME")


def cleanup(*options: str, **settings: str) -> subprocess.CompletedProcess:
    environment = {name: value for name, value in os.environ.items() if name not in STORAGE_SETTINGS}
    return subprocess.run(
        [sys.executable, "-m", "archive.admin", "cleanup", "--json", *options],
        env={**environment, **settings},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cleanup_without_a_named_storage_refuses_and_says_how_to_name_one() -> None:
    result = cleanup()
    assert result.returncode == 2 and result.stdout == ""
    assert all(hint in result.stderr for hint in (*STORAGE_SETTINGS, "--azurite", "Nothing was changed"))


def test_cleanup_refuses_when_both_azurite_and_a_storage_setting_are_given(azurite: Azurite) -> None:
    result = cleanup("--azurite", DICOM_STORAGE_CONNECTION_STRING=azurite.connection_string)
    assert result.returncode == 2 and "both name a storage" in result.stderr


def test_cleanup_with_azurite_cleans_make_runs_azurite_on_the_ports_it_was_given(azurite: Azurite) -> None:
    result = cleanup("--azurite", AZURITE_BLOB_PORT=str(azurite.blob_port), AZURITE_TABLE_PORT=str(azurite.table_port))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["missing_files"] == []
