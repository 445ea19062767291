"""Folder functions (an extension API): folders that refer to studies and orders."""

import azure.functions as func

blueprint = func.Blueprint()
