"""Data partition functions: the list of partitions (each is created by its first store)."""

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.runner import run

from ..routes import PARTITIONS
from .listing import list_partitions

blueprint = func.Blueprint()


@blueprint.route(route=PARTITIONS, methods=["GET"])
async def retrieve_partitions(req: Request) -> Response:
    return await run(list_partitions, req, **req.path_params)
