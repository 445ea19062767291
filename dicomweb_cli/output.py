"""Output formats of the `dicomweb` command, as the `az` CLI has them: `-o table|json|jsonc|tsv|csv` and
`--query` (JMESPath, the library `az` uses), so scripts get exactly the values they ask for.

The data a command prints is a list of rows keyed by attribute keyword with plain values (a person name as its
text, several values as a list); `--query` picks from it before it is formatted. A table fits a terminal by
folding long values onto more lines, never by cutting them; piped, it is plain aligned text at full width.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from typing import Any

import jmespath
import jmespath.exceptions
from pydicom.datadict import keyword_for_tag
from rich.console import Console
from rich.table import Table

from dicomweb_wire.tags import is_hex_tag

from .errors import ServiceError

FORMATS = ("table", "json", "jsonc", "tsv", "csv")


def add_options(parser: argparse.ArgumentParser, root: bool = False) -> None:
    """-o and --query; on a command they default to what was given before it (so both places work)."""
    parser.add_argument(
        "-o", "--output", choices=FORMATS,
        default=os.environ.get("DICOMWEB_OUTPUT", "table") if root else argparse.SUPPRESS,
        help="table (default; env DICOMWEB_OUTPUT), json, jsonc (coloured), tsv (no header, for cut and read) or csv",
    )  # fmt: skip
    parser.add_argument(
        "--query", metavar="JMESPATH", default=None if root else argparse.SUPPRESS,
        help="pick from the output, e.g. \"[].StudyInstanceUID\" or \"[?Modality=='CT'].{uid: SOPInstanceUID}\"",
    )  # fmt: skip


def query(data: Any, expression: str | None) -> Any:
    if not expression:
        return data
    try:
        return jmespath.search(expression, data)
    except jmespath.exceptions.JMESPathError as error:
        message = " ".join(str(error).split())
        raise ServiceError(f"--query is not valid JMESPath: {message}; see https://jmespath.org") from error


def show(
    arguments: argparse.Namespace, data: Any, columns: list[str] | None = None, title: str | None = None,
    raw: Any = None,
) -> None:  # fmt: skip
    """What a command prints: `data` (rows, or one object) in the -o format, picked from by --query first.
    `--json` (where a command has it) is -o json, of `raw` when given (the service's own JSON). A table (and
    tsv, csv) without --query has the command's usual `columns`; json has everything. One object, as a table,
    is a row per property."""
    as_json = getattr(arguments, "json", False)
    picked = query(raw if as_json and raw is not None else data, arguments.query)
    shown = "json" if as_json else arguments.output
    if isinstance(picked, dict) and shown == "table":
        picked, columns = [{"property": key, "value": value} for key, value in picked.items()], None
    render(picked, shown, columns if not arguments.query and shown in ("table", "tsv", "csv") else None, title)


def written(arguments: argparse.Namespace, paths: list) -> None:
    """The files a command wrote, a row each on stdout, when -o (other than table) or --query asks for them."""
    if arguments.output != "table" or arguments.query:
        show(arguments, [{"path": str(path)} for path in paths])


def render(data: Any, output: str, columns: list[str] | None = None, title: str | None = None) -> None:
    """Print `data` to stdout in the chosen format; `columns`, when given, are a table's (and tsv/csv's) columns."""
    if output in ("json", "jsonc"):
        text = json.dumps(data, indent=2, ensure_ascii=False)
        if output == "jsonc":
            Console(force_terminal=True, soft_wrap=True).print_json(text)
        else:
            print(text)
        return
    header, rows = tabulate(data, columns)
    if output == "tsv":
        for row in rows:
            print("\t".join(cell.replace("\t", " ").replace("\n", " ") for cell in row))
    elif output == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    elif sys.stdout.isatty():
        table = Table(*header, title=title)
        for column in table.columns:
            column.overflow = "fold"  # a UID wraps onto more lines; it is never cut short
        for row in rows:
            table.add_row(*row)
        Console().print(table)
    else:
        print(plain_table(header, rows))


def tabulate(data: Any, columns: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """A header and rows of text: objects by key (the given columns, else every key in order of appearance),
    lists by position, anything else as one value."""
    items = data if isinstance(data, list) else [] if data is None else [data]
    if not items and columns:
        return columns, []
    if items and all(isinstance(item, dict) for item in items):
        header = columns or list(dict.fromkeys(key for item in items for key in item))
        return header, [[cell(item.get(key)) for key in header] for item in items]
    if items and all(isinstance(item, list) for item in items):
        width = max(len(item) for item in items)
        header = [f"Column{number}" for number in range(1, width + 1)]
        return header, [[cell(value) for value in item] + [""] * (width - len(item)) for item in items]
    return ["Result"], [[cell(item)] for item in items]


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "\\".join(cell(item) for item in value)  # as DICOM separates several values
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def plain_table(header: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest value, two spaces apart: nothing is cut, whatever the width."""
    widths = [max([len(name), *(len(row[i]) for row in rows)]) for i, name in enumerate(header)]
    lines = [header, ["-" * width for width in widths], *rows]
    return "\n".join("  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
                     for line in lines)  # fmt: skip


def keyword_row(result: dict, first: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """A DICOM JSON object as {keyword: plain value}; the `first` keywords lead, in order, present or not."""
    row: dict[str, Any] = dict.fromkeys(first)
    for tag, element in result.items():
        row[keyword_of_tag(tag)] = plain(element)
    return row


def keyword_of_tag(tag: str) -> str:
    try:
        return keyword_for_tag(int(tag, 16)) or tag
    except ValueError:
        return tag


def plain(element: dict) -> Any:
    """An element's value(s): one value as itself, several as a list, none as None; a person name as its text
    (the first non-empty component group), a sequence item as a keyword row, bulk data as its URI."""
    values = element.get("Value")
    if values is None:
        return element.get("BulkDataURI")
    values = [_plain_value(value) for value in values]
    return values[0] if len(values) == 1 else values


def _plain_value(value: Any) -> Any:
    if isinstance(value, dict) and element_like(value):
        return keyword_row(value)
    if isinstance(value, dict):  # a person name's component groups
        return next((group for group in value.values() if isinstance(group, str) and group), "")
    return value.strip() if isinstance(value, str) else value


def element_like(value: dict) -> bool:
    """A sequence item (keys are 8-hex-digit tags) rather than a person name (Alphabetic, Ideographic, ...)."""
    return all(is_hex_tag(key) for key in value)
