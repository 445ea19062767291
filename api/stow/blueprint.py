"""STOW-RS functions: POST stores new instances, PUT upserts; with or without a study in the path."""

import azure.functions as func

from ..routes import STUDIES, STUDY, register
from .store import store

blueprint = func.Blueprint()
register(blueprint, "store_instances", STUDIES, ["POST"], store)
register(blueprint, "store_instances_in_study", STUDY, ["POST"], store)
register(blueprint, "upsert_instances", STUDIES, ["PUT"], store, upsert=True)
register(blueprint, "upsert_instances_in_study", STUDY, ["PUT"], store, upsert=True)
