"""Reading and comparing DICOM JSON values: first and all texts, names normalised for matching."""

from __future__ import annotations

import unicodedata
from typing import Any

DicomJson = dict[str, dict[str, Any]]


def subset(metadata: DicomJson, tags: list[str]) -> DicomJson:
    return {tag: metadata[tag] for tag in tags if tag in metadata}


def first_text(element: dict[str, Any] | None) -> str:
    """The first non-empty value of a DICOM JSON element as text ('' when none); PN gives its first group."""
    texts = all_texts(element)
    return texts[0] if texts else ""


def all_texts(element: dict[str, Any] | None) -> list[str]:
    """Every value as text; every component group of every PN value."""
    if not element:
        return []
    texts = []
    for value in element.get("Value") or []:
        if isinstance(value, dict):
            texts.extend(v for v in value.values() if isinstance(v, str) and v)
        elif value is not None and str(value).strip():
            texts.append(str(value).strip())
    return texts


def normalize_text(value: str) -> str:
    return value.strip().casefold()


def normalize_person_name(value: str) -> str:
    """Case- and accent-insensitive form of a PN; component separators become spaces."""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.replace("^", " ").replace("=", " ").casefold().split())


def name_words(value: str) -> list[str]:
    return normalize_person_name(value).split()


def is_empty(element: dict[str, Any] | None) -> bool:
    return not all_texts(element)


def whole_number(text: str, max_digits: int = 9, signed: bool = False) -> int | None:
    """A run of ASCII digits, after a '-' if `signed`; None for anything else, '+' and spaces included
    (str.isdigit() also accepts '²', which int() refuses, and int() refuses over 4,300 digits)."""
    digits = text[1:] if signed and text.startswith("-") else text
    if not (digits.isascii() and digits.isdigit() and len(digits) <= max_digits):
        return None
    return int(text)
