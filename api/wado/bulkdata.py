"""Retrieving bulk data: a BulkDataURI from the metadata, the value's bytes read with one ranged read."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from archive.clients import get_storage, start_counting_bytes
from archive.instance_files import read_range
from archive.partitions import Partition
from dicom.errors import Invalid, Missing
from shared.auth import Access, requires
from shared.multipart import multipart_response
from shared.negotiation import OCTET_STREAM, bulk_data_single_part

from .records import find_instance


@requires(Access.READ)
async def bulkdata(
    request: Request, api_version: str, partition: Partition, study: str, series: str, instance: str, tag: str
) -> Response:
    tag = tag.upper()
    if len(tag) != 8 or any(c not in "0123456789ABCDEF" for c in tag):
        raise Invalid(f"'{tag[:20]}' is not a tag: use eight hex digits, as in the BulkDataURI.")
    single = bulk_data_single_part(request.headers.get("accept"))
    storage = await get_storage(partition.key)
    record = await find_instance(storage, study, series, instance)
    if tag not in record.bulk:
        raise Missing(f"The instance has no bulk data at tag {tag}.")
    counter = start_counting_bytes()
    data = await read_range(storage, record, *record.bulk[tag])
    headers = {"X-Storage-Bytes-Read": str(counter[0])}
    if single:
        return Response(data, media_type=OCTET_STREAM, headers=headers)
    return multipart_response([data], OCTET_STREAM, headers)
