"""`dicomweb changes`: the service's change feed (what was stored, replaced or deleted, in order), for scripts
that sync another system: keep the last Sequence printed and ask for what follows it next time."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

from rich.console import Console

from . import output
from .client import DicomWebClient
from .errors import HttpError, ServiceError

COLUMNS = ["Sequence", "Action", "State", "Timestamp", "StudyInstanceUid", "SeriesInstanceUid", "SopInstanceUid"]


def add_commands(commands: argparse._SubParsersAction) -> None:
    changes = commands.add_parser("changes", help="the change feed: instances created and deleted, in order")
    changes.add_argument("--after", type=int, default=0, metavar="SEQUENCE",
                         help="only the changes after this sequence (the last one a previous run printed)")  # fmt: skip
    changes.add_argument("--limit", type=int, default=100, help="at most this many (1-100, default 100)")
    changes.add_argument("--latest", action="store_true", help="only the newest change")
    output.add_options(changes)


def _feed_url(client: DicomWebClient) -> str:
    """The feed is at the base URI even when --url names a data partition."""
    return client.base_url.split("/partitions/")[0].rsplit("/", 1)[0] + "/v1/changefeed"


async def _changes(client: DicomWebClient, arguments: argparse.Namespace, console: Console) -> int:
    if not 1 <= arguments.limit <= 100:
        raise ServiceError(f"--limit takes 1 to 100, not {arguments.limit}")
    url = _feed_url(client) + ("/latest" if arguments.latest else "")
    params = {"includemetadata": "false"}
    if not arguments.latest:
        params |= {"offset": str(max(0, arguments.after)), "limit": str(arguments.limit)}
    response = await client.http.get(url, params=params, headers=client.headers("application/json"))
    if response.status_code != 200:
        raise HttpError.of(response)
    body = response.json()
    rows = [body] if arguments.latest and body else [] if arguments.latest else body
    columns = COLUMNS + (["PartitionName"] if any("PartitionName" in row for row in rows) else [])
    output.render(output.query(rows, arguments.query), arguments.output, columns)
    return 0


COMMANDS: dict[str, Callable[..., Awaitable[int]]] = {"changes": _changes}
