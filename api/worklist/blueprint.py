"""UPS-RS worklist functions (workitems) and the patient orders built on them."""

import azure.functions as func

blueprint = func.Blueprint()
