"""The Azure Functions app: one HTTP-triggered function per DICOMweb operation.

Each function is a thin wrapper; the logic lives in the `shared` package. HTTP streams
(azurefunctions-extensions-http-fastapi) let bodies flow through without being buffered.
"""

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.cleanup import scheduled_cleanup
from shared.delete import delete
from shared.dicom_json import Level
from shared.health import health
from shared.http import run
from shared.retrieve import bulkdata, frames, metadata, rendered, retrieve, thumbnail
from shared.search import search
from shared.store import store
from shared.telemetry import configure_telemetry

configure_telemetry()
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

STUDY = "{version}/studies/{study}"
SERIES = STUDY + "/series/{series}"
INSTANCE = SERIES + "/instances/{instance}"


# ---- STOW-RS ----


@app.route(route="{version}/studies", methods=["POST"])
async def store_instances(req: Request) -> Response:
    return await run(store, req, **req.path_params)


@app.route(route=STUDY, methods=["POST"])
async def store_instances_in_study(req: Request) -> Response:
    return await run(store, req, **req.path_params)


@app.route(route="{version}/studies", methods=["PUT"])
async def upsert_instances(req: Request) -> Response:
    return await run(store, req, upsert=True, **req.path_params)


@app.route(route=STUDY, methods=["PUT"])
async def upsert_instances_in_study(req: Request) -> Response:
    return await run(store, req, upsert=True, **req.path_params)


# ---- WADO-RS ----


@app.route(route=STUDY, methods=["GET"])
async def retrieve_study(req: Request) -> Response:
    return await run(retrieve, req, **req.path_params)


@app.route(route=SERIES, methods=["GET"])
async def retrieve_series(req: Request) -> Response:
    return await run(retrieve, req, **req.path_params)


@app.route(route=INSTANCE, methods=["GET"])
async def retrieve_instance(req: Request) -> Response:
    return await run(retrieve, req, **req.path_params)


@app.route(route=STUDY + "/metadata", methods=["GET"])
async def retrieve_study_metadata(req: Request) -> Response:
    return await run(metadata, req, **req.path_params)


@app.route(route=SERIES + "/metadata", methods=["GET"])
async def retrieve_series_metadata(req: Request) -> Response:
    return await run(metadata, req, **req.path_params)


@app.route(route=INSTANCE + "/metadata", methods=["GET"])
async def retrieve_instance_metadata(req: Request) -> Response:
    return await run(metadata, req, **req.path_params)


@app.route(route=INSTANCE + "/frames/{frames}", methods=["GET"])
async def retrieve_frames(req: Request) -> Response:
    return await run(frames, req, **req.path_params)


@app.route(route=INSTANCE + "/bulkdata/{tag}", methods=["GET"])
async def retrieve_bulkdata(req: Request) -> Response:
    return await run(bulkdata, req, **req.path_params)


@app.route(route=INSTANCE + "/rendered", methods=["GET"])
async def render_instance(req: Request) -> Response:
    return await run(rendered, req, **req.path_params)


@app.route(route=INSTANCE + "/frames/{frames}/rendered", methods=["GET"])
async def render_frame(req: Request) -> Response:
    return await run(rendered, req, **req.path_params)


@app.route(route=STUDY + "/thumbnail", methods=["GET"])
async def study_thumbnail(req: Request) -> Response:
    return await run(thumbnail, req, **req.path_params)


@app.route(route=SERIES + "/thumbnail", methods=["GET"])
async def series_thumbnail(req: Request) -> Response:
    return await run(thumbnail, req, **req.path_params)


@app.route(route=INSTANCE + "/thumbnail", methods=["GET"])
async def instance_thumbnail(req: Request) -> Response:
    return await run(thumbnail, req, **req.path_params)


# ---- QIDO-RS ----


@app.route(route="{version}/studies", methods=["GET"])
async def search_studies(req: Request) -> Response:
    return await run(search, req, level=Level.STUDY, **req.path_params)


@app.route(route="{version}/series", methods=["GET"])
async def search_series(req: Request) -> Response:
    return await run(search, req, level=Level.SERIES, **req.path_params)


@app.route(route="{version}/instances", methods=["GET"])
async def search_instances(req: Request) -> Response:
    return await run(search, req, level=Level.INSTANCE, **req.path_params)


@app.route(route=STUDY + "/series", methods=["GET"])
async def search_series_in_study(req: Request) -> Response:
    return await run(search, req, level=Level.SERIES, **req.path_params)


@app.route(route=STUDY + "/instances", methods=["GET"])
async def search_instances_in_study(req: Request) -> Response:
    return await run(search, req, level=Level.INSTANCE, **req.path_params)


@app.route(route=SERIES + "/instances", methods=["GET"])
async def search_instances_in_series(req: Request) -> Response:
    return await run(search, req, level=Level.INSTANCE, **req.path_params)


# ---- DELETE ----


@app.route(route=STUDY, methods=["DELETE"])
async def delete_study(req: Request) -> Response:
    return await run(delete, req, **req.path_params)


@app.route(route=SERIES, methods=["DELETE"])
async def delete_series(req: Request) -> Response:
    return await run(delete, req, **req.path_params)


@app.route(route=INSTANCE, methods=["DELETE"])
async def delete_instance(req: Request) -> Response:
    return await run(delete, req, **req.path_params)


# ---- operations ----


@app.route(route="health", methods=["GET"])
async def health_check(req: Request) -> Response:
    return await run(health, req)


# Settles what interrupted stores and deletes left behind (see shared/journal.py). Every 15 minutes.
@app.timer_trigger(schedule="0 */15 * * * *", arg_name="timer", run_on_startup=False)
async def cleanup_timer(timer: func.TimerRequest) -> None:
    await scheduled_cleanup()
