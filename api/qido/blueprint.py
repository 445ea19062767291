"""QIDO-RS functions: studies, series and instances, across the archive or within a study or series."""

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from dicom.attributes import Level
from shared.runner import run

from ..routes import SERIES, STUDIES, STUDY
from .search import search

blueprint = func.Blueprint()


@blueprint.route(route=STUDIES, methods=["GET"])
async def search_studies(req: Request) -> Response:
    return await run(search, req, level=Level.STUDY, **req.path_params)


@blueprint.route(route="{api_version}/series", methods=["GET"])
async def search_series(req: Request) -> Response:
    return await run(search, req, level=Level.SERIES, **req.path_params)


@blueprint.route(route="{api_version}/instances", methods=["GET"])
async def search_instances(req: Request) -> Response:
    return await run(search, req, level=Level.INSTANCE, **req.path_params)


@blueprint.route(route=STUDY + "/series", methods=["GET"])
async def search_series_in_study(req: Request) -> Response:
    return await run(search, req, level=Level.SERIES, **req.path_params)


@blueprint.route(route=STUDY + "/instances", methods=["GET"])
async def search_instances_in_study(req: Request) -> Response:
    return await run(search, req, level=Level.INSTANCE, **req.path_params)


@blueprint.route(route=SERIES + "/instances", methods=["GET"])
async def search_instances_in_series(req: Request) -> Response:
    return await run(search, req, level=Level.INSTANCE, **req.path_params)
