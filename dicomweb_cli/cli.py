"""`dicomweb`: upload, search, retrieve, inspect and delete with any DICOMweb service (this one first).

Examples:
  dicomweb upload ./scans                     # every DICOM file under ./scans, batched and in parallel
  dicomweb search studies -f PatientID=ID1    # a table; -o json|jsonc|tsv|csv and --query for scripts
  dicomweb search studies -f PatientID=ID1 -o tsv --query "[].StudyInstanceUID"   # one UID a line
  dicomweb retrieve STUDY --out ./dicom       # ./dicom/STUDY/SERIES/INSTANCE.dcm
  dicomweb metadata STUDY SERIES INSTANCE --tags PatientName,Modality
  dicomweb metadata STUDY --tags SOPInstanceUID,InstanceNumber -o tsv    # a line for each instance of the study
  dicomweb delete STUDY
  dicomweb tags add BodyPartExamined --level series --wait    # searchable once its reindex is done
  dicomweb order search --patient-id ID1 -o tsv --query "[].order"   # -o and --query on every command

Run `dicomweb COMMAND --help` for a command's options.

Exit codes: 0 ok; 1 some files failed (the summary names them); 2 usage, or a request refused as written;
3 sign-in failed or not allowed; 4 not found; 5 service unreachable or unavailable (after --retries).
Errors are one line on stderr; --debug adds the traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import traceback
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import httpx
from pydicom.datadict import tag_for_keyword
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from dicomweb_wire.tags import keyword_of

from . import errors, feed, folders, orders, output, pixels, tags
from .client import DicomWebClient, ServiceError, UploadSummary, find_dicom_files
from .retry import RetryingTransport
from .tokens import MODES, TokenProvider

# Command groups in modules of their own: each has add_commands(subparsers) and COMMANDS (name -> handler).
EXTENSIONS = (orders, folders, pixels, feed, tags)

DEFAULT_URL = "http://127.0.0.1:7071/v2"
COLUMNS = {
    "studies": ["StudyInstanceUID", "PatientName", "PatientID", "StudyDate", "AccessionNumber", "ModalitiesInStudy",
                "StudyDescription", "NumberOfStudyRelatedInstances"],
    "series": ["SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription", "NumberOfSeriesRelatedInstances"],
    "instances": ["SOPInstanceUID", "InstanceNumber", "SOPClassUID", "Rows", "Columns", "NumberOfFrames"],
}  # fmt: skip
INSTANCE_COLUMNS = ("SeriesInstanceUID", "SOPInstanceUID", "InstanceNumber", "Modality")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="dicomweb", description=__doc__, formatter_class=OneLineCommands)
    root.add_argument(
        "--url",
        default=os.environ.get("DICOMWEB_URL", DEFAULT_URL),
        help=f"service base URL with its version (env DICOMWEB_URL; default {DEFAULT_URL})",
    )
    root.add_argument(
        "--auth",
        choices=MODES,
        default=os.environ.get("DICOMWEB_AUTH", "none"),
        help="none (local, auth off); client: service principal from AZURE_TENANT_ID, AZURE_CLIENT_ID, "
        "AZURE_CLIENT_SECRET; device: sign in as a person, once; cli: your `az login`; managed-identity; "
        "default: DefaultAzureCredential's order (env DICOMWEB_AUTH)",
    )
    root.add_argument("--scope", help="the API's scope, e.g. api://<app-id>/.default (env DICOMWEB_SCOPE)")
    root.add_argument("--retries", type=int, default=int(os.environ.get("DICOMWEB_RETRIES", "4")),
                      help="retries of a request that met a connection error, 429 or 503, with back-off honouring "
                      "Retry-After (env DICOMWEB_RETRIES; default 4)")  # fmt: skip
    root.add_argument("--debug", action="store_true", help="show retries, and a traceback on errors")
    output.add_options(root, root=True)
    root.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = root.add_subparsers(dest="command", required=True, title="commands", metavar="COMMAND")

    upload = commands.add_parser("upload", help="store every DICOM file under the given files or folders",
                                 description="Store every DICOM file under the paths. Files whose instance the service "
                                 "already has (asked by Study and SOP Instance UID before sending) are not sent and "
                                 "are counted as 'already stored': run it again after an interruption and only the "
                                 "rest is sent. Exit 1 when a file failed; the summary names each.")  # fmt: skip
    upload.add_argument("paths", nargs="+", type=Path)
    upload.add_argument("--batch-size", type=int, default=20, help="files per request (default 20)")
    upload.add_argument("--parallel", type=int, default=4, help="requests at once (default 4)")
    upload.add_argument("--study", help="store only into this study: files of another study fail (43265)")
    upload.add_argument("--upsert", action="store_true", help="replace instances stored under the same UIDs (PUT)")
    upload.add_argument("--dry-run", action="store_true", help="list what would be uploaded and skipped; send nothing")
    output.add_options(upload)

    search = commands.add_parser("search", help="find studies, series or instances")
    search.add_argument("level", choices=["studies", "series", "instances"])
    search.add_argument(
        "-f",
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="e.g. PatientID=ID1, StudyDate=20200101-20201231, PatientName=doe (repeatable)",
    )
    search.add_argument("--study", help="only within this study")
    search.add_argument("--series", help="only within this series (with --study)")
    search.add_argument("--fuzzy", action="store_true", help="word-prefix matching of person names")
    search.add_argument(
        "-i",
        "--include",
        action="append",
        default=[],
        metavar="KEYWORD",
        help="another attribute to return and show as a column, e.g. -i BodyPartExamined (repeatable)",
    )
    search.add_argument("--limit", type=int, default=100)
    search.add_argument("--offset", type=int, default=0)
    search.add_argument("--json", action="store_true", help="print the service's DICOM JSON as it is")
    output.add_options(search)

    retrieve = commands.add_parser("retrieve", help="download a study, series or instance: study/series/instance.dcm")
    _add_target(retrieve)
    retrieve.add_argument("--out", type=Path, required=True, help="folder to write into (made when there is data)")
    retrieve.add_argument("--flat", action="store_true", help="every file in --out itself, named by SOP Instance UID")
    retrieve.add_argument("--transfer-syntax", default="*", metavar="UID",
                          help="e.g. 1.2.840.10008.1.2.1 (explicit little endian); default *, as stored")  # fmt: skip
    output.add_options(retrieve)

    metadata = commands.add_parser("metadata", help="show the metadata of an instance, or of each in a series or study")
    metadata.add_argument("study")
    metadata.add_argument("series", nargs="?")
    metadata.add_argument("instance", nargs="?")
    metadata.add_argument("--tags", help="comma-separated keywords or tags to show (default: all)")
    metadata.add_argument("--json", action="store_true", help="print the service's DICOM JSON as it is")
    output.add_options(metadata)

    commands.add_parser("token", help="print an access token, e.g. for curl: TOKEN=$(dicomweb --auth device token)")

    delete = commands.add_parser("delete", help="delete a study, series or instance")
    _add_target(delete)
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    for extension in EXTENSIONS:
        extension.add_commands(commands)
    return root


class OneLineCommands(argparse.RawDescriptionHelpFormatter):
    """`dicomweb --help` lists each command on one line, whatever the terminal's width."""

    def _format_action(self, action: argparse.Action) -> str:
        if not isinstance(action, argparse._SubParsersAction):
            return super()._format_action(action)
        choices = action._get_subactions()
        width = max(len(choice.dest) for choice in choices)
        return "".join(f"  {choice.dest:<{width}}  {choice.help}\n" for choice in choices)


def _add_target(command: argparse.ArgumentParser) -> None:
    command.add_argument("study")
    command.add_argument("--series")
    command.add_argument("--instance", help="with --series")


def _target_path(arguments: argparse.Namespace) -> str:
    path = f"studies/{arguments.study}"
    if arguments.series:
        path += f"/series/{arguments.series}"
        if arguments.instance:
            path += f"/instances/{arguments.instance}"
    elif arguments.instance:
        raise ServiceError("--instance needs --series")
    return path


def _version() -> str:
    try:
        return version("dicomweb-cli")
    except PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: list[str] | None = None, http_client: Any = None) -> int:
    """Entry point; `http_client` is msal's network access (tests hand in a stand-in for Entra ID). Any error
    ends as one line on stderr and its exit code (errors.py); a traceback only with --debug."""
    arguments = parser().parse_args(argv)
    console = Console(stderr=True)
    if not arguments.debug:
        warnings.simplefilter("ignore")  # pydicom's about odd values in the files: the summary says what matters
        logging.getLogger("azure").setLevel(logging.CRITICAL)  # azure-identity's; the error line says it once
    try:
        if arguments.command == "token" and arguments.auth == "none":
            raise ServiceError(f"choose how to sign in: --auth {'|'.join(MODES[1:])}")
        tokens = TokenProvider.from_environment(
            arguments.auth, scope=arguments.scope, http_client=http_client,
            prompt=lambda message: console.print(message, style="bold yellow"),
        )  # fmt: skip
        return asyncio.run(_run(arguments, tokens, console))
    except (Exception, KeyboardInterrupt) as error:
        if arguments.debug:
            traceback.print_exc()
        code, line = errors.explain(error, arguments.url)
        console.print(f"[red]error:[/red] {line}", markup=True, highlight=False, soft_wrap=True)
        return code


async def _run(arguments: argparse.Namespace, tokens: TokenProvider, console: Console) -> int:
    cached: list[str | None] = []

    def token() -> str | None:
        if not cached:
            cached.append(tokens.token())
        return cached[0]

    def log(message: str) -> None:
        if arguments.debug:
            console.print(message, markup=False, highlight=False)

    transport = RetryingTransport(httpx.AsyncHTTPTransport(), max(0, arguments.retries), log)
    async with httpx.AsyncClient(timeout=httpx.Timeout(60, read=300), transport=transport) as http:
        client = DicomWebClient(arguments.url, token, http)
        command = {
            "upload": _upload,
            "search": _search,
            "retrieve": _retrieve,
            "metadata": _metadata,
            "delete": _delete,
            "token": _token,
        }
        for extension in EXTENSIONS:
            command.update(extension.COMMANDS)
        return await command[arguments.command](client, arguments, console)


async def _upload(client: DicomWebClient, arguments: argparse.Namespace, console: Console) -> int:
    files, skipped = find_dicom_files(arguments.paths)
    if arguments.dry_run:
        for path in files:
            print(path)
        _print_lines([("skipped", "dim", skipped)], console)
        console.print(f"dry run: {len(files)} file(s) would be uploaded, {len(skipped)} skipped; nothing sent")
        return 0
    if not files:
        raise ServiceError(f"no DICOM files found under {', '.join(map(str, arguments.paths))}")
    total = sum(path.stat().st_size for path in files)
    done = [0]
    columns = (TextColumn("uploading"), BarColumn(), TextColumn("{task.fields[files]} files"), DownloadColumn(),
               TransferSpeedColumn())  # fmt: skip
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task("upload", total=total, files=f"0/{len(files)}")

        def advance(count: int, size: int) -> None:
            done[0] += count
            progress.update(task, advance=size, files=f"{done[0]}/{len(files)}")

        summary = await client.upload(files, max(1, arguments.batch_size), max(1, arguments.parallel), advance,
                                      arguments.study, arguments.upsert)  # fmt: skip
    _print_summary(summary, skipped, console)
    if arguments.output != "table":  # for scripts: every file with its outcome, on stdout
        warned = {path for path, _ in summary.warned}
        outcomes = [("stored", [(path, "") for path in summary.stored if path not in warned]),
                    ("already stored", [(path, "") for path in summary.already_stored]),
                    ("warning", summary.warned), ("failed", summary.failed), ("skipped", skipped)]  # fmt: skip
        rows = [{"path": str(path), "outcome": outcome, "reason": reason}
                for outcome, items in outcomes for path, reason in items]  # fmt: skip
        output.render(output.query(rows, arguments.query), arguments.output)
    return errors.PARTIAL if summary.failed else errors.OK


def _print_summary(summary: UploadSummary, skipped: list[tuple[Path, str]], console: Console) -> None:
    """Counts, then every file that was not simply stored, one line each, with its reason."""
    console.print(
        f"stored: {len(summary.stored)}  already stored: {len(summary.already_stored)}  failed: {len(summary.failed)}"
        f"  skipped: {len(skipped)}  warnings: {len(summary.warned)}"
    )
    lines = [("warning", "yellow", summary.warned), ("skipped", "dim", skipped), ("failed", "red", summary.failed)]
    _print_lines(lines, console)


def _print_lines(lines: list[tuple[str, str, list[tuple[Path, str]]]], console: Console) -> None:
    for label, style, items in lines:
        for path, reason in items:
            console.print(f"  [{style}]{label}[/{style}] ", end="")
            console.print(f"{path}: {reason}", markup=False, highlight=False, soft_wrap=True)


async def _search(client: DicomWebClient, arguments: argparse.Namespace, console: Console) -> int:
    path = arguments.level
    if arguments.study:
        path = f"studies/{arguments.study}" + (f"/series/{arguments.series}" if arguments.series else "") + f"/{path}"
    params = [tuple(f.split("=", 1)) for f in arguments.filter if "=" in f]
    if len(params) != len(arguments.filter):
        raise ServiceError("filters are KEY=VALUE, e.g. -f PatientID=ID1")
    columns = COLUMNS[arguments.level] + [_keyword(name) for name in arguments.include]
    params += [("includefield", ",".join(columns)), ("limit", str(arguments.limit)),
               ("offset", str(arguments.offset))]  # fmt: skip
    if arguments.fuzzy:
        params.append(("fuzzymatching", "true"))
    results = await client.search(path, params)
    rows = [output.keyword_row(result, columns) for result in results]
    output.show(arguments, rows, columns, f"{len(results)} {arguments.level}", raw=results)
    return 0


async def _retrieve(client: DicomWebClient, arguments: argparse.Namespace, console: Console) -> int:
    columns = (TextColumn("downloading"), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task("bytes", total=None)
        written = await client.retrieve(_target_path(arguments), arguments.out,
                                        lambda size: progress.update(task, advance=size),
                                        arguments.transfer_syntax, arguments.flat)  # fmt: skip
    console.print(f"{len(written)} instance(s) written to {arguments.out}")
    output.written(arguments, written)
    return 0


async def _metadata(client: DicomWebClient, arguments: argparse.Namespace, console: Console) -> int:
    """An instance's: a row per attribute. A series' or study's: a row per instance, the --tags as columns."""
    path = f"studies/{arguments.study}" + "".join(
        f"/{level}/{uid}" for level, uid in (("series", arguments.series), ("instances", arguments.instance)) if uid
    )
    datasets = await client.metadata(path)
    wanted = _wanted_tags(arguments.tags) if arguments.tags else None
    if wanted is not None:
        datasets = [{tag: dataset[tag] for tag in wanted if tag in dataset} for dataset in datasets]
    if arguments.instance:
        (metadata,) = datasets
        rows = [{"tag": tag, "keyword": output.keyword_of_tag(tag), "vr": element.get("vr", ""),
                 "value": output.plain(element)} for tag, element in sorted(metadata.items())]  # fmt: skip
        output.show(arguments, rows, ["tag", "keyword", "vr", "value"], f"{len(rows)} attributes", raw=metadata)
        return 0
    columns = list(wanted.values()) if wanted else list(INSTANCE_COLUMNS)
    rows = [output.keyword_row(dataset, columns) for dataset in datasets]
    output.show(arguments, rows, columns, f"{len(rows)} instances", raw=datasets)
    return 0


def _wanted_tags(names: str) -> dict[str, str]:
    """--tags as {8-hex-digit tag: keyword}, in the order given."""
    keywords = [_keyword(name) for name in names.split(",")]
    return {f"{tag_for_keyword(keyword):08X}": keyword for keyword in keywords}


def _keyword(name: str) -> str:
    keyword = keyword_of(name.strip())
    if keyword is None:
        raise ServiceError(f"'{name.strip()}' is not a DICOM keyword or tag (e.g. PatientName or 00100010)")
    return keyword


async def _token(client: DicomWebClient, arguments: argparse.Namespace, console: Console) -> int:
    print(client.headers("*/*")["Authorization"].removeprefix("Bearer "))
    return 0


async def _delete(client: DicomWebClient, arguments: argparse.Namespace, console: Console) -> int:
    path = _target_path(arguments)
    if not arguments.yes:
        if not sys.stdin.isatty():
            raise ServiceError("refusing to delete without confirmation: add --yes when not at a terminal")
        answer = input(f"Delete {path} and everything in it? Type 'yes': ")
        if answer.strip().lower() != "yes":
            console.print("Nothing deleted.")
            return 1
    await client.delete(path)
    console.print(f"Deleted {path}")
    return 0


def main_exit() -> None:
    sys.exit(main())


if __name__ == "__main__":
    main_exit()
