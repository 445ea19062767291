"""DELETE functions: a study, a series or an instance."""

import azure.functions as func

from ..routes import INSTANCE, SERIES, STUDY, register
from .delete import delete

blueprint = func.Blueprint()
register(blueprint, "delete_study", STUDY, ["DELETE"], delete)
register(blueprint, "delete_series", SERIES, ["DELETE"], delete)
register(blueprint, "delete_instance", INSTANCE, ["DELETE"], delete)
