"""`dicomweb frames` and `dicomweb rendered`: an instance's frames as stored or decoded, and an instance or frame
as a JPEG or PNG image (WADO-RS frames and rendered resources)."""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from rich.console import Console

from dicomweb_wire.mediatypes import parse_media_type
from dicomweb_wire.multipart import read_parts

from . import output
from .client import READ_CHUNK, DicomWebClient
from .errors import HttpError, ServiceError

EXTENSIONS = {"application/octet-stream": "raw", "image/jp2": "jp2", "image/jpeg": "jpg", "image/png": "png"}


def add_commands(commands: argparse._SubParsersAction) -> None:
    frames = commands.add_parser("frames", help="download frames of an instance, a file for each")
    _add_instance(frames)
    frames.add_argument("--frames", default="1", help="comma-separated frame numbers, from 1 (default 1)")
    frames.add_argument("--out", type=Path, required=True, help="folder to write frame-<n>.raw (or .jp2) into")
    frames.add_argument("--transfer-syntax", default="*", metavar="UID",
                        help="* (default): as stored; 1.2.840.10008.1.2.1: decoded to native pixels")  # fmt: skip
    frames.add_argument("--jp2", action="store_true", help="each frame as JPEG 2000 (image/jp2)")
    output.add_options(frames)
    rendered = commands.add_parser("rendered", help="an instance or one of its frames as a JPEG or PNG image")
    _add_instance(rendered)
    rendered.add_argument("--frame", type=int, help="this frame (from 1) instead of the instance")
    rendered.add_argument("--format", choices=["jpeg", "png"], default="jpeg")
    rendered.add_argument("--out", type=Path, required=True, help="the image file to write")


def _add_instance(command: argparse.ArgumentParser) -> None:
    command.add_argument("study")
    command.add_argument("series")
    command.add_argument("instance")


def _instance_path(arguments: argparse.Namespace) -> str:
    return f"studies/{arguments.study}/series/{arguments.series}/instances/{arguments.instance}"


async def _frames(client: DicomWebClient, arguments: argparse.Namespace, console: Console) -> int:
    numbers = [part.strip() for part in arguments.frames.split(",")]
    if not all(number.isdigit() and int(number) > 0 for number in numbers):
        raise ServiceError(f"--frames takes numbers from 1, comma-separated, e.g. 1,2,3; not '{arguments.frames}'")
    kind = "image/jp2" if arguments.jp2 else "application/octet-stream"
    accept = f'multipart/related; type="{kind}"; transfer-syntax={arguments.transfer_syntax}'
    url = f"{client.base_url}/{_instance_path(arguments)}/frames/{','.join(numbers)}"
    written = []
    async with client.http.stream("GET", url, headers=client.headers(accept)) as response:
        if response.status_code != 200:
            await response.aread()
            raise HttpError.of(response)
        arguments.out.mkdir(parents=True, exist_ok=True)
        boundary = parse_media_type(response.headers["content-type"]).params.get("boundary")
        async for part in read_parts(response.aiter_bytes(), boundary):
            media_type = parse_media_type(part.content_type or kind).type
            target = arguments.out / f"frame-{numbers[len(written)]}.{EXTENSIONS.get(media_type, 'bin')}"
            with part.file as spooled, target.open("wb") as out:
                shutil.copyfileobj(spooled, out, READ_CHUNK)
            written.append(target)
    console.print(f"{len(written)} frame(s) written to {arguments.out}")
    output.written(arguments, written)
    return 0


async def _rendered(client: DicomWebClient, arguments: argparse.Namespace, console: Console) -> int:
    path = _instance_path(arguments) + (f"/frames/{arguments.frame}" if arguments.frame else "") + "/rendered"
    response = await client.http.get(f"{client.base_url}/{path}", headers=client.headers(f"image/{arguments.format}"))
    if response.status_code != 200:
        raise HttpError.of(response)
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_bytes(response.content)
    console.print(f"{arguments.format.upper()} image written to {arguments.out}")
    return 0


COMMANDS: dict[str, Callable[[DicomWebClient, argparse.Namespace, Console], Awaitable[int]]] = {
    "frames": _frames,
    "rendered": _rendered,
}
