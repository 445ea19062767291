"""Which data partition a request works in: the `/partitions/{name}` segment, checked against the settings and
the caller's access, then resolved to the partition's archive (archive.partitions).

DICOM_DATA_PARTITIONS_ENABLED (default false) requires the segment on every STOW, WADO, QIDO and DELETE route;
off, the segment is refused and everything is the default partition, as before partitions existed.
DICOM_PARTITION_ACCESS (optional) maps partition names to the Entra group object ids or app role values whose
tokens may use them, as JSON: {"hospital-a": ["<group id>", "HospitalA.Reader"], "*": [...]}; "*" covers
partitions not named. With the mapping, a token without one of a partition's groups or roles gets 403 there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import TypeVar

from archive import partitions
from archive.partitions import DEFAULT_NAME, Partition

from .problems import DicomWebError, bad_request

T = TypeVar("T")
DEFAULT = Partition(DEFAULT_NAME, 1, "")


def creates_partition(operation: T) -> T:
    """Mark the operation (STOW) whose first call into a partition creates it."""
    operation.creates_partition = True  # type: ignore[attr-defined]
    return operation


def api_path(api_version: str, partition: Partition) -> str:
    """The path URLs of this partition start with (RetrieveURLs, BulkDataURIs): `v2` or `v2/partitions/p1`."""
    return f"{api_version}/partitions/{partition.name}" if enabled() else api_version


def enabled() -> bool:
    return os.environ.get("DICOM_DATA_PARTITIONS_ENABLED", "false").strip().lower() == "true"


def _access_map() -> dict[str, set[str]] | None:
    text = os.environ.get("DICOM_PARTITION_ACCESS", "").strip()
    if not text:
        return None
    try:
        mapping = json.loads(text)
        return {str(name): {str(member) for member in members} for name, members in mapping.items()}
    except (ValueError, AttributeError, TypeError) as error:
        raise DicomWebError(500, "DICOM_PARTITION_ACCESS is not a JSON object of name: [groups or roles].") from error


def may_use(claims: dict | None, name: str) -> bool:
    """Whether the token's groups or app roles include the partition (always, without a mapping or a token:
    authentication off)."""
    mapping = _access_map()
    if mapping is None or claims is None:
        return True
    allowed = mapping.get(name, mapping.get("*", set()))
    held = {str(value) for value in (claims.get("groups") or []) + (claims.get("roles") or [])}
    return bool(allowed & held)


async def resolve(name: str | None, operation: Callable, claims: dict | None) -> Partition:
    """The partition an operation works in; 400 or 403 as the reference service and the access map say."""
    if name is None:
        if enabled():
            raise bad_request(
                "Data partitions are enabled on this service: name one after the API version, e.g. "
                f"/v2/partitions/{DEFAULT_NAME}/studies (see GET /v2/partitions for those that exist)."
            )
        return DEFAULT
    if not enabled():
        raise bad_request(
            "Data partitions are not enabled on this service: remove '/partitions/<name>' from the URL "
            "(the operator turns them on with DICOM_DATA_PARTITIONS_ENABLED=true)."
        )
    if not partitions.is_valid_name(name):
        raise bad_request(f"'{name[:80]}' is not a valid partition name: up to 64 letters, digits, '.', '-' or '_'.")
    if not may_use(claims, name):
        raise DicomWebError(403, f"Your token's groups and roles do not include the data partition '{name}'.")
    if getattr(operation, "creates_partition", False):
        return await partitions.find_or_create(name)
    if name == DEFAULT_NAME:
        return DEFAULT  # it always exists: it is the archive as it was before partitions
    found = await partitions.find(name)
    if found is None:
        raise bad_request(f"The data partition '{name}' does not exist: a partition is created by its first store.")
    return found
