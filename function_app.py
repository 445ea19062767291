"""The Azure Functions app: one Blueprint per API area, each area's functions beside its code in api/.

HTTP streams (azurefunctions-extensions-http-fastapi) let bodies flow through without being buffered.
"""

import azure.functions as func

from api.changefeed.blueprint import blueprint as changefeed
from api.delete.blueprint import blueprint as delete
from api.extendedquerytags.blueprint import blueprint as extendedquerytags
from api.folders.blueprint import blueprint as folders
from api.operations.blueprint import blueprint as operations
from api.partitions.blueprint import blueprint as partitions
from api.qido.blueprint import blueprint as qido
from api.shares.blueprint import blueprint as shares
from api.stow.blueprint import blueprint as stow
from api.wado.blueprint import blueprint as wado
from api.worklist.blueprint import blueprint as worklist
from shared.telemetry import configure_telemetry

configure_telemetry()
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for area in (
    stow,
    wado,
    qido,
    delete,
    changefeed,
    extendedquerytags,
    partitions,
    worklist,
    folders,
    shares,
    operations,
):
    app.register_functions(area)
