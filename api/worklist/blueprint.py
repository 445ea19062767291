"""UPS-RS worklist functions (workitems) and the patient orders built on them."""

import azure.functions as func

from ..routes import VERSION, register
from .search import search_workitems
from .workitems import (
    change_workitem_state,
    create_workitem,
    delete_workitem,
    request_cancellation,
    retrieve_workitem,
    update_workitem,
)

blueprint = func.Blueprint()
WORKITEMS = VERSION + "/workitems"
WORKITEM = WORKITEMS + "/{workitem}"

register(blueprint, "create_workitem", WORKITEMS, ["POST"], create_workitem)
register(blueprint, "search_workitems", WORKITEMS, ["GET"], search_workitems)
register(blueprint, "retrieve_workitem", WORKITEM, ["GET"], retrieve_workitem)
register(blueprint, "update_workitem", WORKITEM, ["POST"], update_workitem)
register(blueprint, "delete_workitem", WORKITEM, ["DELETE"], delete_workitem)
register(blueprint, "change_workitem_state", WORKITEM + "/state", ["PUT"], change_workitem_state)
register(blueprint, "request_workitem_cancellation", WORKITEM + "/cancelrequest", ["POST"], request_cancellation)
