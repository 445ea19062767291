"""WADO-RS functions: instances, metadata, frames, bulk data, rendered images and thumbnails."""

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.runner import run

from ..routes import INSTANCE, SERIES, STUDY
from .bulkdata import bulkdata
from .frames import frames
from .instances import retrieve
from .metadata import metadata
from .rendered import rendered, thumbnail

blueprint = func.Blueprint()


@blueprint.route(route=STUDY, methods=["GET"])
async def retrieve_study(req: Request) -> Response:
    return await run(retrieve, req, **req.path_params)


@blueprint.route(route=SERIES, methods=["GET"])
async def retrieve_series(req: Request) -> Response:
    return await run(retrieve, req, **req.path_params)


@blueprint.route(route=INSTANCE, methods=["GET"])
async def retrieve_instance(req: Request) -> Response:
    return await run(retrieve, req, **req.path_params)


@blueprint.route(route=STUDY + "/metadata", methods=["GET"])
async def retrieve_study_metadata(req: Request) -> Response:
    return await run(metadata, req, **req.path_params)


@blueprint.route(route=SERIES + "/metadata", methods=["GET"])
async def retrieve_series_metadata(req: Request) -> Response:
    return await run(metadata, req, **req.path_params)


@blueprint.route(route=INSTANCE + "/metadata", methods=["GET"])
async def retrieve_instance_metadata(req: Request) -> Response:
    return await run(metadata, req, **req.path_params)


@blueprint.route(route=INSTANCE + "/frames/{frames}", methods=["GET"])
async def retrieve_frames(req: Request) -> Response:
    return await run(frames, req, **req.path_params)


@blueprint.route(route=INSTANCE + "/bulkdata/{tag}", methods=["GET"])
async def retrieve_bulkdata(req: Request) -> Response:
    return await run(bulkdata, req, **req.path_params)


@blueprint.route(route=INSTANCE + "/rendered", methods=["GET"])
async def render_instance(req: Request) -> Response:
    return await run(rendered, req, **req.path_params)


@blueprint.route(route=INSTANCE + "/frames/{frames}/rendered", methods=["GET"])
async def render_frame(req: Request) -> Response:
    return await run(rendered, req, **req.path_params)


@blueprint.route(route=STUDY + "/thumbnail", methods=["GET"])
async def study_thumbnail(req: Request) -> Response:
    return await run(thumbnail, req, **req.path_params)


@blueprint.route(route=SERIES + "/thumbnail", methods=["GET"])
async def series_thumbnail(req: Request) -> Response:
    return await run(thumbnail, req, **req.path_params)


@blueprint.route(route=INSTANCE + "/thumbnail", methods=["GET"])
async def instance_thumbnail(req: Request) -> Response:
    return await run(thumbnail, req, **req.path_params)
