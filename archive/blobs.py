"""Blob names, in one place: each stored version of an instance owns a folder named by a random id.

Names never hold UIDs, which can carry patient information.
"""

from __future__ import annotations

import uuid

INSTANCE_FILE = "instance.dcm"
METADATA_FILE = "metadata.json"


def new_version() -> str:
    return uuid.uuid4().hex


def instance_blob(version: str) -> str:
    return f"{version[:2]}/{version}/{INSTANCE_FILE}"


def metadata_blob(version: str) -> str:
    return f"{version[:2]}/{version}/{METADATA_FILE}"


def version_of(blob_name: str) -> str | None:
    """The version a blob belongs to, or None for a blob this archive did not name."""
    parts = blob_name.split("/")
    return parts[1] if len(parts) == 3 and parts[0] == parts[1][:2] else None
