"""Folders and share links (the PostDICOM operations): `dicomweb folder create|search|add|remove` and
`dicomweb share studies|folder|list|revoke`; FolderClient is the same as a Python library.

Folders refer to studies (adding one moves nothing). A share link opens in any browser, without an account, until
its expiry date, with its password if it has one; the link is printed once, when the share is created.
With `--institution`, folders and shares live in that data partition (where the service has partitions).
"""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Awaitable, Callable
from typing import Any

from rich.console import Console

from . import output
from .client import DicomWebClient
from .errors import HttpError
from .orders import OrderClient

FOLDER_COLUMNS = ["id", "name", "description", "parent", "created"]
SHARE_COLUMNS = ["id", "title", "studies", "folder", "expires", "downloadable", "password", "created", "revoked"]


class FolderClient:
    """The folder and share operations over a DicomWebClient (its base URL, token and HTTP client)."""

    def __init__(self, client: DicomWebClient, institution: str | None = None) -> None:
        self.client = client
        self.where = OrderClient(client, institution)  # finds the institution's partition, as orders do

    async def _send(self, method: str, path: str, body: dict | None = None, params: dict | None = None,
                    ok: tuple[int, ...] = (200,)) -> Any:  # fmt: skip
        url = f"{await self.where.base()}/{path}"
        response = await self.client.http.request(method, url, json=body, params=params,
                                                  headers=self.client.headers("application/json"))  # fmt: skip
        if response.status_code not in ok:
            raise HttpError.of(response)
        return response.json() if response.content else None

    async def create_folder(self, name: str, description: str = "", parent: str | None = None) -> dict:
        body = {"name": name, "description": description, **({"parent": parent} if parent else {})}
        return await self._send("POST", "folders", body, ok=(201,))

    async def search_folders(self, parent: str | None = None, name: str | None = None,
                             with_studies: bool = False) -> list[dict]:  # fmt: skip
        """Folders under `parent` ("" for top-level ones; None: anywhere) whose name holds `name`."""
        params = {key: value for key, value in (("parent", parent), ("name", name)) if value is not None}
        if with_studies:
            params["studies"] = "true"
        return await self._send("GET", "folders", params=params)

    async def add_to_folders(self, study: str, folders: list[str]) -> None:
        for folder in folders:
            await self._send("PUT", f"folders/{folder}/studies/{study}", ok=(204,))

    async def add_order_to_folders(self, order: str, folders: list[str]) -> None:
        """Add an order's (worklist item's) study to folders, once its images are stored."""
        for folder in folders:
            await self._send("PUT", f"folders/{folder}/orders/{order}", ok=(204,))

    async def remove_from_folder(self, study: str, folder: str) -> None:
        await self._send("DELETE", f"folders/{folder}/studies/{study}", ok=(204,))

    async def share(
        self,
        *,
        studies: list[str] | None = None,
        orders: list[str] | None = None,
        folder: str | None = None,
        expires: str | None = None,
        password: str = "",
        downloadable: bool = False,
        title: str = "",
        description: str = "",
    ) -> dict:
        """Create a share link (of studies, or of a folder: its studies when the link is opened)."""  # fmt: skip
        body: dict[str, Any] = {"folder": folder} if folder else {"studies": studies or [], "orders": orders or []}
        body.update(password=password, downloadable=downloadable, title=title, description=description)
        if expires:
            body["expires"] = expires
        return await self._send("POST", "shares", body, ok=(201,))

    async def list_shares(self) -> list[dict]:
        return await self._send("GET", "shares")

    async def revoke_share(self, share_id: str) -> None:
        await self._send("DELETE", f"shares/{share_id}", ok=(204,))


def add_commands(commands: Any) -> None:
    """`dicomweb folder ...` and `dicomweb share ...`."""
    folder = commands.add_parser("folder", help="folders of studies: create, search, add a study, remove it")
    actions = folder.add_subparsers(dest="folder_command", required=True)
    create = actions.add_parser("create", help="create a folder; prints its id")
    create.add_argument("name")
    create.add_argument("--description", default="")
    create.add_argument("--parent", help="the id of the folder to create it in")
    search = actions.add_parser("search", help="find folders by parent and by (part of) their name")
    search.add_argument("--parent", help="only folders in this one")
    search.add_argument("--top", action="store_true", help="only top-level folders")
    search.add_argument("--name", help="full or partial name, any case")
    search.add_argument("--with-studies", action="store_true", help="list each folder's studies too")
    add = actions.add_parser("add", help="add a study to one or more folders (nothing is moved or copied)")
    remove = actions.add_parser("remove", help="take a study out of a folder")
    add_order = actions.add_parser("add-order", help="add an order's (worklist item's) study to folders")
    add_order.add_argument("order", help="the order's UID")
    add_order.add_argument("folders", nargs="+", metavar="FOLDER", help="folder id")
    for action in (add, remove):
        action.add_argument("study", help="Study Instance UID")
        action.add_argument("folders", nargs="+" if action is add else 1, metavar="FOLDER", help="folder id")
    share = commands.add_parser("share", help="share links: studies or a folder, for someone without an account")
    kinds = share.add_subparsers(dest="share_command", required=True)
    studies = kinds.add_parser("studies", help="share studies and orders with a link; prints the link")
    studies.add_argument("studies", nargs="*", metavar="STUDY", help="Study Instance UID")
    studies.add_argument("--order", action="append", default=[], help="an order's UID (repeatable)")
    of_folder = kinds.add_parser("folder", help="share a folder with a link; prints the link")
    of_folder.add_argument("folder", help="folder id")
    for action in (studies, of_folder):
        action.add_argument("--expires", required=action is studies, metavar="YYYY-MM-DD", help="the link's last day")
        action.add_argument("--ask-password", action="store_true", help="ask for a password the link will need")
        action.add_argument("--downloadable", action="store_true", help="the recipient may download the files")
        action.add_argument("--title", default="")
        action.add_argument("--description", default="")
    kinds.add_parser("list", help="list shares (never their links)")
    revoke = kinds.add_parser("revoke", help="revoke a share: its link stops working at once")
    revoke.add_argument("share_id")
    for action in (create, search, add, remove, add_order, studies, of_folder, kinds.choices["list"], revoke):
        action.add_argument("--institution", help="the institution (data partition) it belongs to")
        action.add_argument("--json", action="store_true", help="the same as -o json")
        output.add_options(action)


async def _folder(client: DicomWebClient, arguments: argparse.Namespace, console: Console) -> int:
    folders = FolderClient(client, arguments.institution)
    command = arguments.folder_command
    if command == "create":
        output.show(arguments, [await folders.create_folder(arguments.name, arguments.description, arguments.parent)])
    elif command == "search":
        parent = "" if arguments.top else arguments.parent
        found = await folders.search_folders(parent, arguments.name, arguments.with_studies)
        output.show(arguments, found, FOLDER_COLUMNS + (["studies"] if arguments.with_studies else []))
    elif command == "add":
        await folders.add_to_folders(arguments.study, arguments.folders)
        console.print(f"Added the study to {len(arguments.folders)} folder(s)")
    elif command == "add-order":
        await folders.add_order_to_folders(arguments.order, arguments.folders)
        console.print(f"Added the order's study to {len(arguments.folders)} folder(s)")
    else:
        await folders.remove_from_folder(arguments.study, arguments.folders[0])
        console.print("Removed the study from the folder")
    return 0


async def _share(client: DicomWebClient, arguments: argparse.Namespace, console: Console) -> int:
    folders = FolderClient(client, arguments.institution)
    command = arguments.share_command
    if command in ("studies", "folder"):
        password = getpass.getpass("Password for the link: ") if arguments.ask_password else ""
        target = ({"studies": arguments.studies, "orders": arguments.order} if command == "studies"
                  else {"folder": arguments.folder})  # fmt: skip
        created = await folders.share(**target, expires=arguments.expires, password=password,
                                      downloadable=arguments.downloadable, title=arguments.title,
                                      description=arguments.description)  # fmt: skip
        if arguments.json or arguments.output != "table" or arguments.query:
            output.show(arguments, created)
        else:  # the link alone on stdout: LINK=$(dicomweb share ...)
            print(created["url"])
            console.print(f"share {created['id']}, expires {created['expires']}; the link is shown only now")
    elif command == "list":
        output.show(arguments, await folders.list_shares(), SHARE_COLUMNS)
    else:
        await folders.revoke_share(arguments.share_id)
        console.print(f"Revoked share {arguments.share_id}")
    return 0


COMMANDS: dict[str, Callable[..., Awaitable[int]]] = {"folder": _folder, "share": _share}
