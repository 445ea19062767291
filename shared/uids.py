"""DICOM UID syntax, as the reference service checks it (PS3.5 9.1, leniently)."""

from __future__ import annotations

import re

from .errors import bad_request

_UID = re.compile(r"^[0-9.]*[0-9]$")
MAX_UID_LENGTH = 64


def clean_uid(value: str) -> str:
    """Strip the trailing space/NUL padding that DICOM allows on UI values."""
    return value.rstrip(" \x00")


def is_valid_uid(value: str) -> bool:
    value = clean_uid(value)
    return len(value) <= MAX_UID_LENGTH and bool(_UID.match(value))


def require_uid(value: str, what: str) -> str:
    """A UID from the URL path: a bad one is the client's mistake, so 400."""
    uid = clean_uid(value)
    if not is_valid_uid(uid):
        raise bad_request(
            f"The {what} '{value[:80]}' is not a valid DICOM UID: use digits and dots only, "
            f"end with a digit, at most {MAX_UID_LENGTH} characters."
        )
    return uid
