"""Extended query tag functions and the operations that index them (at the base URI, for every partition)."""

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from archive.reindex import advance
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


# Moves reindex operations on (each run works for up to 50 s, its progress kept in the operation's row).
@blueprint.timer_trigger(schedule="0 * * * * *", arg_name="timer", run_on_startup=False)
async def operations_timer(timer: func.TimerRequest) -> None:
    await advance()
