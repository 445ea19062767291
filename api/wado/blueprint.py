"""WADO-RS functions: instances, metadata, frames, bulk data, rendered images and thumbnails."""

import azure.functions as func

from ..routes import INSTANCE, SERIES, STUDY, register
from .bulkdata import bulkdata
from .frames import frames
from .instances import retrieve
from .metadata import metadata
from .rendered import rendered, thumbnail

blueprint = func.Blueprint()
for level, route in (("study", STUDY), ("series", SERIES), ("instance", INSTANCE)):
    register(blueprint, f"retrieve_{level}", route, ["GET"], retrieve)
    register(blueprint, f"retrieve_{level}_metadata", route + "/metadata", ["GET"], metadata)
    register(blueprint, f"{level}_thumbnail", route + "/thumbnail", ["GET"], thumbnail)
register(blueprint, "retrieve_frames", INSTANCE + "/frames/{frames}", ["GET"], frames)
register(blueprint, "retrieve_bulkdata", INSTANCE + "/bulkdata/{tag}", ["GET"], bulkdata)
register(blueprint, "render_instance", INSTANCE + "/rendered", ["GET"], rendered)
register(blueprint, "render_frame", INSTANCE + "/frames/{frames}/rendered", ["GET"], rendered)
