"""QIDO-RS functions: studies, series and instances, across the archive or within a study or series."""

import azure.functions as func

from dicom.attributes import Level

from ..routes import SERIES, STUDIES, STUDY, VERSION, register
from .search import search

blueprint = func.Blueprint()
register(blueprint, "search_studies", STUDIES, ["GET"], search, level=Level.STUDY)
register(blueprint, "search_series", VERSION + "/series", ["GET"], search, level=Level.SERIES)
register(blueprint, "search_instances", VERSION + "/instances", ["GET"], search, level=Level.INSTANCE)
register(blueprint, "search_series_in_study", STUDY + "/series", ["GET"], search, level=Level.SERIES)
register(blueprint, "search_instances_in_study", STUDY + "/instances", ["GET"], search, level=Level.INSTANCE)
register(blueprint, "search_instances_in_series", SERIES + "/instances", ["GET"], search, level=Level.INSTANCE)
