"""Folders (an extension API, as PostDICOM has them): owners create, rename, describe and delete folders and add
studies to them or take them out; readers search and list them. A folder refers to studies: nothing is moved."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from archive import folders
from archive.clients import get_storage
from archive.partitions import Partition
from dicom.errors import Invalid, Missing
from shared.auth import Access, requires
from shared.problems import DicomWebError

from .requests import json_response, read_json, text_field

TRUE = ("true", "1", "yes")


@requires(Access.WRITE)
async def create_folder(request: Request, api_version: str, partition: Partition) -> Response:
    """POST /folders {"name", "description"?, "parent"?} -> 201 and the folder (with its id)."""
    body = await read_json(request)
    name = text_field(body, "name", folders.MAX_NAME)
    if not name:
        raise Invalid('A folder needs a name: send {"name": "Cardiology"}.')
    storage = await get_storage(partition.key)
    folder = await folders.create_folder(storage, name, text_field(body, "description") or "",
                                         text_field(body, "parent", 32) or "")  # fmt: skip
    return json_response(folder.as_json(), 201)


@requires(Access.READ)
async def search_folders(request: Request, api_version: str, partition: Partition) -> Response:
    """GET /folders?parent=<id or empty for top level>&name=<part of the name>&studies=true."""
    query = request.query_params
    storage = await get_storage(partition.key)
    found = await folders.search_folders(storage, query.get("parent"), query.get("name"))
    listed = [folder.as_json() for folder in found]
    if query.get("studies", "").lower() in TRUE:
        for item in listed:
            item["studies"] = await folders.studies_of(storage, str(item["id"]))
    return json_response(listed)


@requires(Access.READ)
async def get_folder(request: Request, api_version: str, partition: Partition, folder: str) -> Response:
    storage = await get_storage(partition.key)
    found = await folders.require_folder(storage, folder)
    return json_response({**found.as_json(), "studies": await folders.studies_of(storage, folder)})


@requires(Access.WRITE)
async def update_folder(request: Request, api_version: str, partition: Partition, folder: str) -> Response:
    """PATCH /folders/{id} {"name"?, "description"?}: rename or describe it."""
    body = await read_json(request)
    name, description = text_field(body, "name", folders.MAX_NAME), text_field(body, "description")
    storage = await get_storage(partition.key)
    return json_response((await folders.update_folder(storage, folder, name, description)).as_json())


@requires(Access.WRITE)
async def delete_folder(request: Request, api_version: str, partition: Partition, folder: str) -> Response:
    try:
        await folders.delete_folder(await get_storage(partition.key), folder)
    except folders.FolderNotEmpty as error:
        raise DicomWebError(409, str(error)) from None
    return Response(status_code=204)


@requires(Access.WRITE)
async def add_study(request: Request, api_version: str, partition: Partition, folder: str, study: str) -> Response:
    """PUT /folders/{id}/studies/{study}: the folder now refers to the study (again harmless)."""
    await folders.add_study(await get_storage(partition.key), folder, study)
    return Response(status_code=204)


@requires(Access.WRITE)
async def remove_study(request: Request, api_version: str, partition: Partition, folder: str, study: str) -> Response:
    if not await folders.remove_study(await get_storage(partition.key), folder, study):
        raise Missing("The folder does not hold that study.")
    return Response(status_code=204)


@requires(Access.WRITE)
async def add_order(request: Request, api_version: str, partition: Partition, folder: str, order: str) -> Response:
    """PUT /folders/{id}/orders/{order}: the folder refers to the order's study (once its images are stored)."""
    storage = await get_storage(partition.key)
    await folders.add_study(storage, folder, await folders.study_of_order(storage, order))
    return Response(status_code=204)
