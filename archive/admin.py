"""`python -m archive.admin`: operator commands that talk to the archive's storage directly, not over DICOMweb.

Examples:
  python -m archive.admin cleanup                  # settle interrupted stores and deletes older than an hour
  python -m archive.admin cleanup --audit          # also compare every blob with the index (a full scan)
  python -m archive.admin cleanup --grace-minutes 0   # only while the service is stopped: nothing is in flight

Storage must be named, never assumed: DICOM_STORAGE_CONNECTION_STRING (Azurite, or an account with a key),
DICOM_STORAGE_ACCOUNT_NAME (Azure, signed in with DefaultAzureCredential, e.g. `az login`), or --azurite for
`make run`'s Azurite on 127.0.0.1:10000/10002 (or the AZURITE_BLOB_PORT / AZURITE_TABLE_PORT it was given).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import asdict
from datetime import timedelta

from .cleanup import Report, cleanup_every_partition
from .clients import close_storage
from .journal import GRACE
from .settings import AZURITE_CONNECTION_STRING

NO_STORAGE = (
    "Which storage? Set DICOM_STORAGE_CONNECTION_STRING or DICOM_STORAGE_ACCOUNT_NAME, or pass --azurite for "
    "make run's Azurite on 127.0.0.1:10000/10002. Nothing was changed."
)
TWO_STORAGES = (
    "--azurite and DICOM_STORAGE_CONNECTION_STRING / DICOM_STORAGE_ACCOUNT_NAME both name a storage: give one. "
    "Nothing was changed."
)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m archive.admin", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("cleanup", help="settle interrupted stores and deletes; --audit for orphaned blobs")
    run.add_argument("--audit", action="store_true", help="also scan every blob and instance row")
    run.add_argument(
        "--grace-minutes",
        type=float,
        default=GRACE.total_seconds() / 60,
        help="leave operations younger than this alone (default %(default)s); 0 only with the service stopped",
    )
    run.add_argument("--json", action="store_true", help="print the report as JSON")
    run.add_argument("--azurite", action="store_true", help="clean make run's Azurite (127.0.0.1:10000/10002)")
    return root


def _name_storage(azurite: bool) -> str | None:
    """Point the storage settings at the one storage the operator named, or say why not.

    The service falls back to Azurite's default ports when no storage is set; a command that removes data must
    not, or it would clean whatever emulator holds those ports.
    """
    named = os.environ.get("DICOM_STORAGE_CONNECTION_STRING") or os.environ.get("DICOM_STORAGE_ACCOUNT_NAME")
    if named:
        return TWO_STORAGES if azurite else None
    if not azurite:
        return NO_STORAGE
    blob, table = os.environ.get("AZURITE_BLOB_PORT", "10000"), os.environ.get("AZURITE_TABLE_PORT", "10002")
    os.environ["DICOM_STORAGE_CONNECTION_STRING"] = AZURITE_CONNECTION_STRING.replace(":10000/", f":{blob}/").replace(
        ":10002/", f":{table}/"
    )
    return None


async def _cleanup(grace: timedelta, audit: bool) -> Report:
    try:
        return await cleanup_every_partition(grace, audit)
    finally:
        await close_storage()


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    refusal = _name_storage(arguments.azurite)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    report = asyncio.run(_cleanup(timedelta(minutes=arguments.grace_minutes), arguments.audit))
    if arguments.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print(report.summary())
        for path in report.missing_files:
            print(f"indexed but its file is missing: {path}")
    return 1 if report.missing_files else 0


if __name__ == "__main__":
    sys.exit(main())
