"""STOW-RS functions: POST stores new instances, PUT upserts; with or without a study in the path."""

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.runner import run

from ..routes import STUDIES, STUDY
from .store import store

blueprint = func.Blueprint()


@blueprint.route(route=STUDIES, methods=["POST"])
async def store_instances(req: Request) -> Response:
    return await run(store, req, **req.path_params)


@blueprint.route(route=STUDY, methods=["POST"])
async def store_instances_in_study(req: Request) -> Response:
    return await run(store, req, **req.path_params)


@blueprint.route(route=STUDIES, methods=["PUT"])
async def upsert_instances(req: Request) -> Response:
    return await run(store, req, upsert=True, **req.path_params)


@blueprint.route(route=STUDY, methods=["PUT"])
async def upsert_instances_in_study(req: Request) -> Response:
    return await run(store, req, upsert=True, **req.path_params)
