"""Query parameters of the JSON APIs (change feed, extended query tags): numbers and flags, checked alike."""

from __future__ import annotations

from collections.abc import Mapping

from dicom.values import whole_number

from .problems import bad_request


def number(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = params.get(name)
    if text is None:
        return default
    value = whole_number(text.strip(), max_digits=16)
    if value is None or not low <= value <= high:
        raise bad_request(f"{name} must be a whole number from {low} to {high}; got '{text[:20]}'.")
    return value


def flag(params: Mapping[str, str], name: str, default: bool = True) -> bool:
    text = params.get(name)
    if text is None:
        return default
    if text.strip().lower() not in ("true", "false"):
        raise bad_request(f"{name} must be true or false.")
    return text.strip().lower() == "true"
