"""Search workitems (PS3.18 11.9): the reference service's attributes, plus this service's additions
(other patient IDs, birth date range, the assignee) and `assignedTo=me`: the workitems whose Scheduled Human
Performers include the caller's Entra object ID or any group of the caller's token."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from archive import workitems
from archive.clients import get_storage, start_counting
from archive.partitions import Partition
from dicom.workitem_query import SEARCHABLE, Condition, parse_query, result_of
from shared.auth import Access, requires
from shared.negotiation import require_json_accept
from shared.problems import bad_request

ASSIGNEE = next(path for path, index in SEARCHABLE.items() if index == "assignee")


def assigned_to_me(claims: dict | None) -> Condition:
    """The assignee condition for the caller: their oid or any of their token's groups."""
    if claims is None:
        raise bad_request("assignedTo=me needs a signed-in caller: this service runs without authentication.")
    ids = [str(claims["oid"])] if claims.get("oid") else []
    ids += [str(group) for group in claims.get("groups") or []]
    if not ids:
        raise bad_request("assignedTo=me: the token has neither an oid nor groups to match assignments with.")
    return Condition(ASSIGNEE, "assignee", [i.strip().casefold() for i in ids])


@requires(Access.READ)
async def search_workitems(
    request: Request, api_version: str, partition: Partition, claims: dict | None = None
) -> Response:
    """200 with the matches (O(matches) entities read: see X-Table-Entities-Read), 204 when none."""
    require_json_accept(request)
    parameters = parse_qsl(request.url.query, keep_blank_values=True)
    query = parse_query(parameters)
    for key, value in parameters:
        if key.lower() == "assignedto":
            if value.strip().lower() != "me":
                raise bad_request(
                    "assignedTo takes only 'me'; search others' assignments by "
                    "ScheduledHumanPerformersSequence.HumanPerformerCodeSequence.LongCodeValue."
                )
            query.conditions.append(assigned_to_me(claims))
    counter = start_counting()
    found = await workitems.search(await get_storage(partition.key), query)
    page = found[query.offset : query.offset + query.limit]
    headers = {"X-Table-Entities-Read": str(counter[0])}
    if not page:
        return Response(status_code=204, headers=headers)
    body = json.dumps([result_of(item, query) for item in page])
    return Response(body, media_type="application/dicom+json", headers=headers)
