"""Folder functions (an extension API): folders that refer to studies and orders."""

import azure.functions as func

from ..routes import VERSION, register
from .folders import (
    add_order,
    add_study,
    create_folder,
    delete_folder,
    get_folder,
    remove_study,
    search_folders,
    update_folder,
)

FOLDERS = VERSION + "/folders"
FOLDER = FOLDERS + "/{folder}"

blueprint = func.Blueprint()
register(blueprint, "create_folder", FOLDERS, ["POST"], create_folder)
register(blueprint, "search_folders", FOLDERS, ["GET"], search_folders)
register(blueprint, "get_folder", FOLDER, ["GET"], get_folder)
register(blueprint, "update_folder", FOLDER, ["PATCH"], update_folder)
register(blueprint, "delete_folder", FOLDER, ["DELETE"], delete_folder)
register(blueprint, "add_study_to_folder", FOLDER + "/studies/{study}", ["PUT"], add_study)
register(blueprint, "remove_study_from_folder", FOLDER + "/studies/{study}", ["DELETE"], remove_study)
register(blueprint, "add_order_to_folder", FOLDER + "/orders/{order}", ["PUT"], add_order)
