"""Folders (an extension API): named, nested groups that refer to studies; nothing is moved or copied.

Table `<prefix>folders` of the partition:
    PartitionKey "folder",           RowKey <id>        Name, Description, Parent (an id or ""), Created
    PartitionKey "in|<folder id>",   RowKey <study UID> (a study the folder refers to)
    PartitionKey "of|<study UID>",   RowKey <folder id> (the same association, found from the study)
Names and descriptions are properties, never keys (they may name a patient). Searching by name reads the
partition's folder rows and matches in memory: folders number in the hundreds, not millions.
A study deleted at study level leaves its folders at once (forget_study, called by DELETE); one emptied
instance by instance is dropped from a folder when the folder's studies are next read (see studies_of).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from azure.core.exceptions import ResourceNotFoundError

from dicom.errors import Invalid, Missing
from dicom.values import first_text
from dicomweb_wire.uids import is_valid_uid

from . import workitems
from .clients import Storage
from .reads import read_study

TABLE = "folders"
_FOLDER = "folder"
MAX_NAME = 256
MAX_DESCRIPTION = 2048


class FolderNotEmpty(Invalid):
    """Deleting a folder that still holds studies or subfolders."""


@dataclass(frozen=True)
class Folder:
    id: str
    name: str
    description: str
    parent: str
    created: str

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "description": self.description, "parent": self.parent or None,
                "created": self.created}  # fmt: skip


def _of(entity: dict) -> Folder:
    return Folder(entity["RowKey"], entity.get("Name") or "", entity.get("Description") or "",
                  entity.get("Parent") or "", entity.get("Created") or "")  # fmt: skip


def check_text(name: str | None, description: str | None) -> None:
    if name is not None and not (0 < len(name.strip()) <= MAX_NAME):
        raise Invalid(f"A folder's name is 1 to {MAX_NAME} characters.")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise Invalid(f"A folder's description is at most {MAX_DESCRIPTION} characters.")


async def find_folder(storage: Storage, folder_id: str) -> Folder | None:
    if not folder_id.isalnum() or len(folder_id) > 32:
        return None
    entity = await storage.get(await storage.table(TABLE), _FOLDER, folder_id)
    return _of(entity) if entity else None


async def require_folder(storage: Storage, folder_id: str) -> Folder:
    folder = await find_folder(storage, folder_id)
    if folder is None:
        raise Missing(f"There is no folder '{folder_id[:40]}' in this partition (search folders to find its id).")
    return folder


async def create_folder(storage: Storage, name: str, description: str, parent: str) -> Folder:
    check_text(name, description)
    if parent:
        await require_folder(storage, parent)
    entity = {"PartitionKey": _FOLDER, "RowKey": secrets.token_hex(8), "Name": name.strip(),
              "Description": description, "Parent": parent,
              "Created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}  # fmt: skip
    await (await storage.table(TABLE)).create_entity(entity)
    return _of(entity)


async def search_folders(storage: Storage, parent: str | None, name: str | None) -> list[Folder]:
    """Folders under `parent` ("" for top-level ones, None for any) whose name holds `name` (any case)."""
    entities = await storage.query(await storage.table(TABLE), "PartitionKey eq @pk", {"pk": _FOLDER})
    wanted = (name or "").casefold()
    found = [_of(entity) for entity in entities]
    return sorted(
        (f for f in found if (parent is None or f.parent == parent) and wanted in f.name.casefold()),
        key=lambda folder: (folder.name.casefold(), folder.id),
    )


async def update_folder(storage: Storage, folder_id: str, name: str | None, description: str | None) -> Folder:
    check_text(name, description)
    await require_folder(storage, folder_id)
    changes = {"Name": name.strip()} if name is not None else {}
    if description is not None:
        changes["Description"] = description
    await (await storage.table(TABLE)).update_entity({"PartitionKey": _FOLDER, "RowKey": folder_id, **changes})
    return await require_folder(storage, folder_id)


async def delete_folder(storage: Storage, folder_id: str) -> None:
    await require_folder(storage, folder_id)
    if await studies_of(storage, folder_id) or await search_folders(storage, folder_id, None):
        raise FolderNotEmpty("The folder still holds studies or folders: remove them first.")
    with contextlib.suppress(ResourceNotFoundError):
        await (await storage.table(TABLE)).delete_entity(_FOLDER, folder_id)


async def add_study(storage: Storage, folder_id: str, study: str) -> None:
    await require_folder(storage, folder_id)
    if await read_study(storage, study) is None:
        raise Missing("The study was not found in this partition; store it before adding it to a folder.")
    table = await storage.table(TABLE)
    await table.upsert_entity({"PartitionKey": f"of|{study}", "RowKey": folder_id})
    await table.upsert_entity({"PartitionKey": f"in|{folder_id}", "RowKey": study})


async def remove_study(storage: Storage, folder_id: str, study: str) -> bool:
    """Whether the folder held the study."""
    await require_folder(storage, folder_id)
    return await _unlink(storage, folder_id, study)


async def _unlink(storage: Storage, folder_id: str, study: str) -> bool:
    table = await storage.table(TABLE)
    held = await storage.get(table, f"in|{folder_id}", study) is not None
    for keys in ((f"in|{folder_id}", study), (f"of|{study}", folder_id)):
        with contextlib.suppress(ResourceNotFoundError):
            await table.delete_entity(*keys)
    return held


async def study_of_order(storage: Storage, order: str) -> str:
    """The Study Instance UID an order (a worklist item) is for: folders and shares of orders hold their studies."""
    if not is_valid_uid(order):
        raise Invalid(f"'{order[:80]}' is not an order UID (digits and dots).")
    stored = await workitems.find(storage, order)
    if stored is None:
        raise Missing(f"There is no order (worklist item) {order} in this partition.")
    study = first_text(stored.item.get("0020000D"))
    if not study:
        raise Invalid("The order names no Study Instance UID (0020000D).")
    return study


async def studies_of(storage: Storage, folder_id: str) -> list[str]:
    """The studies the folder refers to now; a study no longer stored is dropped from the folder here."""
    table = await storage.table(TABLE)
    listed = [e["RowKey"] for e in await storage.query(table, "PartitionKey eq @pk", {"pk": f"in|{folder_id}"})]
    rows = await asyncio.gather(*(read_study(storage, study) for study in listed))
    for study, row in zip(listed, rows, strict=True):
        if row is None:
            await _unlink(storage, folder_id, study)
    return [study for study, row in zip(listed, rows, strict=True) if row is not None]


async def forget_study(storage: Storage, study: str) -> None:
    """Take a deleted study out of every folder."""
    table = await storage.table(TABLE)
    for entity in await storage.query(table, "PartitionKey eq @pk", {"pk": f"of|{study}"}):
        await _unlink(storage, entity["RowKey"], study)
