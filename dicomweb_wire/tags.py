"""Naming a DICOM attribute by its keyword or by its tag (8 hex digits), as query keys, includefield, tag paths
and DICOM JSON do; the service and the command line read the names the same way."""

from __future__ import annotations

from pydicom.datadict import keyword_for_tag, tag_for_keyword

_HEX = frozenset("0123456789abcdefABCDEF")


def is_hex_tag(name: str) -> bool:
    """Exactly 8 hexadecimal digits, as a DICOM JSON key."""
    return len(name) == 8 and all(c in _HEX for c in name)


def keyword_of(name: str) -> str | None:
    """A keyword (case-sensitive) or 8-hex-digit tag, as its data dictionary keyword; None if it is neither."""
    if is_hex_tag(name):
        return keyword_for_tag(int(name, 16)) or None
    return name if tag_for_keyword(name) is not None else None


def hex_tag(name: str) -> str | None:
    """The 8 upper-case hex digits of a tag named by them or by its keyword (private tags too); None otherwise."""
    if is_hex_tag(name):
        return name.upper()
    number = tag_for_keyword(name)
    return None if number is None else f"{number:08X}"
