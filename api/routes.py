"""Route templates the areas share, and how an area registers an operation at its routes.

Every DICOMweb route exists twice: at the API version (`/v2/studies/...`) and inside a data partition
(`/v2/partitions/{partition}/studies/...`); each is its own HTTP-triggered function, named after the operation
at that route (`retrieve_study`, `retrieve_study_in_partition`). The runner decides which of the two the
service's settings accept.
"""

from typing import Any

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.runner import Operation, run

VERSION = "{api_version}"
STUDIES = VERSION + "/studies"
STUDY = STUDIES + "/{study}"
SERIES = STUDY + "/series/{series}"
INSTANCE = SERIES + "/instances/{instance}"
PARTITIONS = VERSION + "/partitions"
IN_PARTITION = PARTITIONS + "/{partition}"


def in_partition(route: str) -> str:
    return IN_PARTITION + route.removeprefix(VERSION)


def register(
    blueprint: func.Blueprint, name: str, route: str, methods: list[str], operation: Operation, **fixed: Any
) -> None:
    """Add the function `name` for the operation at `route`, and `name`_in_partition at the partitioned route;
    `fixed` are arguments the route implies (a search's level, an upsert)."""
    for function_name, template in ((name, route), (f"{name}_in_partition", in_partition(route))):

        async def function(req: Request) -> Response:
            return await run(operation, req, **fixed, **req.path_params)

        function.__name__ = function.__qualname__ = function_name
        blueprint.route(route=template, methods=methods)(function)
