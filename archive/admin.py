"""`python -m archive.admin`: operator commands that talk to the archive's storage directly, not over DICOMweb.

Examples:
  python -m archive.admin cleanup                  # settle interrupted stores and deletes older than an hour
  python -m archive.admin cleanup --audit          # also compare every blob with the index (a full scan)
  python -m archive.admin cleanup --grace-minutes 0   # only while the service is stopped: nothing is in flight

Storage comes from the service's own settings: DICOM_STORAGE_CONNECTION_STRING (Azurite) or
DICOM_STORAGE_ACCOUNT_NAME (Azure, signed in with DefaultAzureCredential, e.g. `az login`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from datetime import timedelta

from .cleanup import Report, cleanup
from .clients import close_storage, get_storage
from .journal import GRACE


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
    return root


async def _cleanup(grace: timedelta, audit: bool) -> Report:
    try:
        return await cleanup(await get_storage(), grace, audit)
    finally:
        await close_storage()


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
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
