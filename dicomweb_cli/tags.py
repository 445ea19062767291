"""`dicomweb tags ...` and `dicomweb operation get`: extended query tags (any attribute made searchable) and the
reindex operations that index what was stored before a tag was added, as the Azure DICOM service has them.

Tags live at the service's base URI, for every data partition (a --url naming a partition is fine). `tags add
--wait` follows the reindex to its end with a progress bar and exits non-zero when it failed, or when values
that break the tag's VR left it disabled for search (`tags errors` names the instances, `tags enable` allows it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from pydicom.datadict import keyword_for_tag, tag_for_keyword
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from . import errors, output
from .client import DicomWebClient
from .errors import HttpError, ServiceError

JSON = "application/json"
LEVELS = ("study", "series", "instance")
COLUMNS = ["path", "keyword", "vr", "level", "status", "queryStatus", "errors"]
ERROR_COLUMNS = ["sopInstanceUid", "errorMessage", "studyInstanceUid", "seriesInstanceUid", "createdTime"]
OPERATION_COLUMNS = ["operationId", "type", "status", "percentComplete", "createdTime", "lastUpdatedTime"]
POLL_SECONDS = 0.5  # between looks at a running operation (each is one small table read on the service)


def add_commands(commands: argparse._SubParsersAction) -> None:
    tags = commands.add_parser(
        "tags",
        help="extended query tags: make any attribute searchable (add, list, ...)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = tags.add_subparsers(dest="tags_command", required=True)
    add = actions.add_parser("add", help="make an attribute searchable; --wait follows its reindex to the end")
    add.add_argument("tag", help="keyword or 8-hex-digit tag, e.g. BodyPartExamined or 00180015")
    add.add_argument("--level", required=True, choices=LEVELS, help="the level it is searched at")
    add.add_argument("--vr", help="its VR (default: the data dictionary's; needed for a private tag)")
    add.add_argument("--private-creator", help="the private creator of a private tag")
    add.add_argument("--wait", action="store_true", help="wait for the reindex, with progress; exit 1 if it failed "
                     "or left the tag disabled by values that break its VR")  # fmt: skip
    listed = actions.add_parser("list", help="every extended query tag with its status")
    described = {"get": "a tag's status, query status and error count", "errors": "instances whose value could "
                 "not be indexed", "delete": "a tag is no longer searchable; its index entries are removed",
                 "enable": "allow searching a tag its errors disabled", "disable": "stop searching a tag"}  # fmt: skip
    per_tag = {name: actions.add_parser(name, help=text) for name, text in described.items()}
    for action in per_tag.values():
        action.add_argument("tag", help="keyword or 8-hex-digit tag")
    per_tag["delete"].add_argument("--yes", action="store_true", help="do not ask for confirmation")
    operation = commands.add_parser("operation", help="a long-running operation (a reindex): its status")
    steps = operation.add_subparsers(dest="operation_command", required=True)
    get = steps.add_parser("get", help="an operation's status and percentComplete; --wait follows it to the end")
    get.add_argument("id", help="the operation's id (tags add prints it)")
    get.add_argument("--wait", action="store_true", help="wait until it completes or fails, with progress")
    for action in (add, listed, *per_tag.values(), get):
        output.add_options(action)


def _base(client: DicomWebClient) -> str:
    """Tags and operations are at the base URI even when --url names a data partition."""
    return client.base_url.split("/partitions/")[0]


async def _send(client: DicomWebClient, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200,)) -> Any:
    response = await client.http.request(method, f"{_base(client)}/{path}", json=body, headers=client.headers(JSON))
    if response.status_code not in ok:
        raise HttpError.of(response)
    return response.json() if response.content else None


def tag_row(tag: dict) -> dict[str, Any]:
    """The service's tag as a row: its keyword beside its path, the error count and operation id as plain values."""
    try:
        keyword = keyword_for_tag(int(tag["path"], 16)) or ""
    except ValueError:
        keyword = ""
    row = {"path": tag["path"], "keyword": keyword, **tag, "errors": (tag.get("errors") or {}).get("count", 0)}
    if "operation" in tag:
        row["operation"] = tag["operation"]["id"]
    return row


async def _tags(client: DicomWebClient, arguments: argparse.Namespace, console: Console) -> int:
    command = arguments.tags_command
    if command == "add":
        return await _add(client, arguments, console)
    if command == "list":
        found = await _send(client, "GET", "extendedquerytags", ok=(200,))
        output.show(arguments, [tag_row(tag) for tag in found], COLUMNS, f"{len(found)} extended query tags")
        return errors.OK
    path = f"extendedquerytags/{arguments.tag}"
    if command == "get":
        output.show(arguments, tag_row(await _send(client, "GET", path)))
    elif command == "errors":
        found = await _send(client, "GET", f"{path}/errors")
        output.show(arguments, found, ERROR_COLUMNS, f"{len(found)} instances not indexed")
    elif command == "delete":
        _confirm(arguments, f"Delete the extended query tag {arguments.tag}? Type 'yes': ")
        await _send(client, "DELETE", path, ok=(204,))
        console.print(f"Deleted the extended query tag {arguments.tag}")
    else:
        body = {"queryStatus": "Enabled" if command == "enable" else "Disabled"}
        output.show(arguments, tag_row(await _send(client, "PATCH", path, body)))
    return errors.OK


def _confirm(arguments: argparse.Namespace, question: str) -> None:
    if arguments.yes:
        return
    if not sys.stdin.isatty():
        raise ServiceError("refusing to delete without confirmation: add --yes when not at a terminal")
    if input(question).strip().lower() != "yes":
        raise ServiceError("not deleted")


async def _add(client: DicomWebClient, arguments: argparse.Namespace, console: Console) -> int:
    spec = {"path": arguments.tag, "level": arguments.level.title()}
    if arguments.vr:
        spec["vr"] = arguments.vr.upper()
    if arguments.private_creator:
        spec["privateCreator"] = arguments.private_creator
    started = await _send(client, "POST", "extendedquerytags", [spec], ok=(202,))
    if not arguments.wait:
        console.print(f"reindex started: follow it with `dicomweb operation get {started['id']} --wait`",
                      soft_wrap=True, highlight=False)  # fmt: skip
        output.show(arguments, {"operationId": started["id"]})
        return errors.OK
    operation = await _wait(client, started["id"], console)
    tag = tag_row(await _send(client, "GET", f"extendedquerytags/{_path_of(arguments.tag)}"))
    output.show(arguments, tag)
    if operation["status"] != "completed":
        console.print(f"[red]error:[/red] the reindex {operation['status']}; the tag is {tag['status']}")
        return errors.PARTIAL
    if tag["errors"]:
        console.print(f"[yellow]warning:[/yellow] {tag['errors']} instance(s) have values that break the VR, so "
                      f"the tag is {tag['queryStatus']} for search: see `dicomweb tags errors {arguments.tag}`, "
                      f"then `dicomweb tags enable {arguments.tag}`", highlight=False)  # fmt: skip
        return errors.PARTIAL
    console.print(f"{arguments.tag} is searchable at {arguments.level} level")
    return errors.OK


def _path_of(name: str) -> str:
    """A keyword as its 8 hex digits (the service's tag path), whatever case it was given in."""
    tag = tag_for_keyword(name)
    return f"{tag:08X}" if tag is not None else name


async def _wait(client: DicomWebClient, operation_id: str, console: Console) -> dict:
    """Poll the operation until it completes or fails; a bar on a terminal, else a line per percent change."""
    told = -1
    columns = (TextColumn("reindexing"), BarColumn(), TaskProgressColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task("reindex", total=100)
        while True:
            operation = await _send(client, "GET", f"operations/{operation_id}", ok=(200, 202))
            percent = int(operation.get("percentComplete") or 0)
            progress.update(task, completed=percent)
            if not console.is_terminal and percent != told:
                console.print(f"reindexing: {percent}% ({operation['status']})", highlight=False)
                told = percent
            if operation["status"] in ("completed", "failed", "cancelled"):
                return operation
            await asyncio.sleep(POLL_SECONDS)


async def _operation(client: DicomWebClient, arguments: argparse.Namespace, console: Console) -> int:
    if arguments.wait:
        operation = await _wait(client, arguments.id, console)
    else:
        operation = await _send(client, "GET", f"operations/{arguments.id}", ok=(200, 202))
    output.show(arguments, operation)
    failed = arguments.wait and operation["status"] != "completed"
    return errors.PARTIAL if failed else errors.OK


COMMANDS: dict[str, Callable[..., Awaitable[int]]] = {"tags": _tags, "operation": _operation}
