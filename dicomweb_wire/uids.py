"""DICOM UID syntax, as the reference service checks it (PS3.5 9.1, leniently)."""

from __future__ import annotations

import re

_UID = re.compile(r"^[0-9.]*[0-9]$")
MAX_UID_LENGTH = 64


def clean_uid(value: str) -> str:
    """Strip the trailing space/NUL padding that DICOM allows on UI values."""
    return value.rstrip(" \x00")


def is_valid_uid(value: str) -> bool:
    value = clean_uid(value)
    return len(value) <= MAX_UID_LENGTH and bool(_UID.match(value))
