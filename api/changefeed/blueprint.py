"""Change feed functions: every instance created or deleted, in one order (at the base URI, for every partition)."""

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.runner import run

from ..routes import VERSION
from .feed import changes, latest

blueprint = func.Blueprint()


@blueprint.route(route=VERSION + "/changefeed", methods=["GET"])
async def change_feed(req: Request) -> Response:
    return await run(changes, req, **req.path_params)


@blueprint.route(route=VERSION + "/changefeed/latest", methods=["GET"])
async def change_feed_latest(req: Request) -> Response:
    return await run(latest, req, **req.path_params)
