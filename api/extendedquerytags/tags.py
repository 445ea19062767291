"""Extended query tags and their reindex operations, as the Azure DICOM service has them (at the base URI)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from archive import extended_tags, reindex
from dicom.errors import Invalid, Missing
from shared.auth import Access, requires
from shared.parameters import number
from shared.settings import public_base_url

JSON = "application/json"


def _base(api_version: str) -> str:
    return f"{public_base_url()}/{api_version}"


async def _body(request: Request) -> object:
    if not (request.headers.get("content-type") or "").startswith(JSON):
        raise Invalid("Send the body as application/json.")
    try:
        return json.loads(await request.body())
    except ValueError as error:
        raise Invalid(f"The body is not JSON: {error}.") from error


@requires(Access.WRITE)
async def add_tags(request: Request, api_version: str) -> Response:
    """202 with the reindex operation that makes the tags searchable."""
    operation = await extended_tags.add(await _body(request))
    await reindex.start(operation)
    href = f"{_base(api_version)}/operations/{operation}"
    return Response(json.dumps({"id": operation, "href": href}), status_code=202, media_type=JSON,
                    headers={"Location": href})  # fmt: skip


@requires(Access.READ)
async def list_tags(request: Request, api_version: str) -> Response:
    tags = sorted(await extended_tags.all_tags(fresh=True), key=lambda tag: tag.tag)
    offset = number(request.query_params, "offset", 0, 0, extended_tags.MAX_TAGS)
    limit = number(request.query_params, "limit", 100, 1, 200)
    body = [tag.to_json(_base(api_version)) for tag in tags[offset : offset + limit]]
    return Response(json.dumps(body), media_type=JSON)


@requires(Access.READ)
async def get_tag(request: Request, api_version: str, tag_path: str) -> Response:
    tag = await extended_tags.find(tag_path)
    return Response(json.dumps(tag.to_json(_base(api_version))), media_type=JSON)


@requires(Access.WRITE)
async def delete_tag(request: Request, api_version: str, tag_path: str) -> Response:
    await extended_tags.remove(tag_path)
    return Response(status_code=204)


@requires(Access.WRITE)
async def update_tag(request: Request, api_version: str, tag_path: str) -> Response:
    body = await _body(request)
    if not isinstance(body, dict) or set(body) != {"queryStatus"}:
        raise Invalid('The body must be {"queryStatus": "Enabled"} or {"queryStatus": "Disabled"}.')
    tag = await extended_tags.set_query_status(tag_path, str(body["queryStatus"]).title())
    return Response(json.dumps(tag.to_json(_base(api_version))), media_type=JSON)


@requires(Access.READ)
async def tag_errors(request: Request, api_version: str, tag_path: str) -> Response:
    return Response(json.dumps(await extended_tags.errors_of(tag_path)), media_type=JSON)


@requires(Access.READ)
async def get_operation(request: Request, api_version: str, operation_id: str) -> Response:
    """200 once finished, 202 while it runs; its tags as URLs."""
    found = await reindex.operation(operation_id)
    if found is None:
        raise Missing(f"There is no operation {operation_id[:40]}.")
    found["resources"] = [f"{_base(api_version)}/extendedquerytags/{tag}" for tag in found["resources"]]
    status = 200 if found["status"] in ("completed", "failed") else 202
    return Response(json.dumps(found), status_code=status, media_type=JSON)
