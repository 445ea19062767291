"""DELETE functions: a study, a series or an instance."""

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.runner import run

from ..routes import INSTANCE, SERIES, STUDY
from .delete import delete

blueprint = func.Blueprint()


@blueprint.route(route=STUDY, methods=["DELETE"])
async def delete_study(req: Request) -> Response:
    return await run(delete, req, **req.path_params)


@blueprint.route(route=SERIES, methods=["DELETE"])
async def delete_series(req: Request) -> Response:
    return await run(delete, req, **req.path_params)


@blueprint.route(route=INSTANCE, methods=["DELETE"])
async def delete_instance(req: Request) -> Response:
    return await run(delete, req, **req.path_params)
