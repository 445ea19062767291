"""Listing the data partitions, as the reference service does (partitionKey, partitionName, createdDate)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from archive import partitions
from shared.auth import Access, requires
from shared.partitions import enabled, may_use
from shared.problems import bad_request


@requires(Access.READ)
async def list_partitions(request: Request, api_version: str, claims: dict | None = None) -> Response:
    """Only the partitions the caller may use (all of them without an access map); 204 when there are none."""
    if not enabled():
        raise bad_request("Data partitions are not enabled on this service (DICOM_DATA_PARTITIONS_ENABLED).")
    visible = [p for p in await partitions.all_partitions() if may_use(claims, p.name)]
    if not visible:
        return Response(status_code=204)
    body = [{"partitionKey": p.key, "partitionName": p.name, "createdDate": p.created} for p in visible]
    return Response(json.dumps(body), media_type="application/json")
