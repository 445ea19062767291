"""The UPS-RS transactions on one workitem (PS3.18 chapter 11, as the Azure DICOM service documents them):
create, retrieve, update, change state, request cancellation; and delete, an owner-only extension."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from archive import workitems
from archive.clients import Storage, get_storage
from archive.partitions import Partition
from archive.workitems import Stored
from dicom import workitem as ups
from dicom.values import first_text
from dicom.workitem import SOP_INSTANCE, STATE, TRANSACTION_UID
from shared.auth import Access, requires
from shared.negotiation import require_json_accept
from shared.partitions import creates_partition
from shared.problems import DicomWebError, bad_request
from shared.runner import require_uid

from .common import bare_query_uid, conflicts_as_409, owner_of, read_dataset, workitem_url

DICOM_JSON = "application/dicom+json"
WHAT = "workitem UID"


async def _storage(partition: Partition) -> Storage:
    return await get_storage(partition.key)


@requires(Access.WRITE)
@creates_partition
@conflicts_as_409
async def create_workitem(
    request: Request, api_version: str, partition: Partition, claims: dict | None = None
) -> Response:
    """201 with Location; the UID comes from `?{uid}` or else from the dataset's SOP Instance UID."""
    dataset = await read_dataset(request)
    uid = bare_query_uid(request, ("AffectedSOPInstanceUID", "workitem"), WHAT)
    if uid is None:
        given = first_text(dataset.get(SOP_INSTANCE))
        if not given:
            raise bad_request("Give the workitem UID as ?{uid} or as the dataset's SOP Instance UID (0008,0018).")
        uid = require_uid(given, WHAT)
    item = ups.prepared_for_creation(dataset, uid)
    await workitems.create(await _storage(partition), uid, item, owner_of(claims))
    location = workitem_url(api_version, partition, uid)
    return Response(status_code=201, headers={"Location": location, "Content-Location": location})


@requires(Access.READ)
async def retrieve_workitem(request: Request, api_version: str, workitem: str, partition: Partition) -> Response:
    """The workitem without its Transaction UID, which only its performer may know."""
    require_json_accept(request)
    stored = await workitems.get(await _storage(partition), require_uid(workitem, WHAT))
    return Response(json.dumps(ups.without_transaction(stored.item)), media_type=DICOM_JSON)


@requires(Access.WRITE)
@conflicts_as_409
async def update_workitem(request: Request, api_version: str, workitem: str, partition: Partition) -> Response:
    """Change attributes (never the state): SCHEDULED without a Transaction UID, IN PROGRESS with the right one."""
    uid = require_uid(workitem, WHAT)
    changes = await read_dataset(request)
    given = bare_query_uid(request, ("transaction", "TransactionUID"), "Transaction UID")

    def decide(stored: Stored) -> tuple[dict, str | None]:
        ups.check_transaction(ups.state_of(stored.item), stored.transaction, given)
        return ups.updated(stored.item, changes), stored.transaction

    await workitems.change(await _storage(partition), uid, decide)
    return Response(status_code=200)


@requires(Access.WRITE)
@conflicts_as_409
async def change_workitem_state(request: Request, api_version: str, workitem: str, partition: Partition) -> Response:
    """Claim (IN PROGRESS with a new Transaction UID), then COMPLETED or CANCELED with it: one ETag-guarded
    write, so of two performers claiming at once exactly one wins and the other gets 409."""
    uid = require_uid(workitem, WHAT)
    body = await read_dataset(request)
    wanted = first_text(body.get(STATE)).upper()
    given = first_text(body.get(TRANSACTION_UID))
    if given:
        require_uid(given, "Transaction UID")

    def decide(stored: Stored) -> tuple[dict, str | None]:
        return ups.changed_state(stored.item, stored.transaction, wanted, given)

    await workitems.change(await _storage(partition), uid, decide)
    return Response(status_code=200)


@requires(Access.WRITE)
@conflicts_as_409
async def request_cancellation(request: Request, api_version: str, workitem: str, partition: Partition) -> Response:
    """202: a SCHEDULED workitem becomes CANCELED; 409 in progress or final (with PS3.18's Warning when it is
    already CANCELED). The body may hold the reason attributes of PS3.4 Table CC.2.2-1."""
    uid = require_uid(workitem, WHAT)
    reasons = await read_dataset(request, optional=True)
    reasons.pop(TRANSACTION_UID, None)

    def decide(stored: Stored) -> tuple[dict, str | None]:
        return ups.cancelled(stored.item, reasons), stored.transaction

    await workitems.change(await _storage(partition), uid, decide)
    return Response(status_code=202)


@requires(Access.WRITE)
@conflicts_as_409
async def delete_workitem(
    request: Request, api_version: str, workitem: str, partition: Partition, claims: dict | None = None
) -> Response:
    """An extension (orders are deleted; UPS-RS has no delete): only its creator may delete a workitem."""
    storage = await _storage(partition)
    stored = await workitems.get(storage, require_uid(workitem, WHAT))
    caller = owner_of(claims)
    if claims is not None and stored.owner and caller != stored.owner:
        raise DicomWebError(403, "Only the one who created this workitem (its owner) may delete it.")
    await workitems.delete(storage, stored)
    return Response(status_code=204)
