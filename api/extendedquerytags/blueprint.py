"""Extended query tag functions and the operations that index them (at the base URI, for every partition)."""

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from archive.reindex import OPERATIONS_QUEUE_SETTING, work_on
from shared.runner import run

from ..routes import VERSION
from .tags import add_tags, delete_tag, get_operation, get_tag, list_tags, tag_errors, update_tag

TAGS = VERSION + "/extendedquerytags"
TAG = TAGS + "/{tag_path}"
blueprint = func.Blueprint()


@blueprint.route(route=TAGS, methods=["POST"])
async def add_extended_query_tags(req: Request) -> Response:
    return await run(add_tags, req, **req.path_params)


@blueprint.route(route=TAGS, methods=["GET"])
async def list_extended_query_tags(req: Request) -> Response:
    return await run(list_tags, req, **req.path_params)


@blueprint.route(route=TAG, methods=["GET"])
async def get_extended_query_tag(req: Request) -> Response:
    return await run(get_tag, req, **req.path_params)


@blueprint.route(route=TAG, methods=["DELETE"])
async def delete_extended_query_tag(req: Request) -> Response:
    return await run(delete_tag, req, **req.path_params)


@blueprint.route(route=TAG, methods=["PATCH"])
async def update_extended_query_tag(req: Request) -> Response:
    return await run(update_tag, req, **req.path_params)


@blueprint.route(route=TAG + "/errors", methods=["GET"])
async def extended_query_tag_errors(req: Request) -> Response:
    return await run(tag_errors, req, **req.path_params)


@blueprint.route(route=VERSION + "/operations/{operation_id}", methods=["GET"])
async def get_operation_status(req: Request) -> Response:
    return await run(get_operation, req, **req.path_params)


# Long-running operations (reindexing): each message is a step of up to 50 s, which queues the next one.
# DICOM_QUEUE names the storage account's queue service (identity-based in Azure: DICOM_QUEUE__queueServiceUri).
@blueprint.queue_trigger(arg_name="message", queue_name=OPERATIONS_QUEUE_SETTING, connection="DICOM_QUEUE")
async def operations_queue(message: func.QueueMessage) -> None:
    await work_on(message.get_body().decode())
