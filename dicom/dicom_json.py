"""DICOM JSON (PS3.18 F.2): headers to metadata, bulk data as URIs or inline binary."""

from __future__ import annotations

import base64
from typing import Any

from pydicom import Dataset
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement

from .values import DicomJson

# Values of these VRs are bulk data: in metadata as BulkDataURI or InlineBinary, never read whole.
BULK_DATA_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})


# Stored in metadata at write time; replaced by the instance's URL when metadata is served.
BULK_DATA_TOKEN = "urn:dicomweb:bulkdata:"


def dataset_to_json(
    dataset: Dataset, bulk: dict[str, tuple[int, int]] | None = None, little_endian: bool = True
) -> DicomJson:
    """DICOM JSON of a header without file meta; values that cannot be encoded are dropped.

    Bulk data (OB, OW, UN, ...) is never read from the file: at the top level, when `bulk` is given
    (the file's byte positions are known), it becomes a BulkDataURI and its byte range is recorded in
    `bulk`. Elsewhere (inside sequences, or in a deflated file) values pydicom already holds, up to
    INLINE_BINARY_LIMIT, become InlineBinary (icons, ICC profiles); larger ones are left out.
    """
    result: DicomJson = {}
    for tag_value in dataset.keys():  # noqa: SIM118 - iterating a Dataset itself reads every value
        if tag_value.group == 0x0002:
            continue
        raw = dataset.get_item(tag_value, keep_deferred=True)  # a deferred value stays unread here
        tag = f"{tag_value:08X}"
        vr = _raw_vr(raw, tag_value)
        large = raw.value is None and getattr(raw, "length", 0) > INLINE_BINARY_LIMIT  # deferred, and large
        if large and vr not in BULK_DATA_VRS and vr != "SQ":  # e.g. a long UT: by reference where positions are known
            byte_range = _value_range(raw) if bulk is not None else None
            if byte_range is not None:
                bulk[tag] = byte_range  # type: ignore[index]
                result[tag] = {"vr": vr, "BulkDataURI": BULK_DATA_TOKEN + tag}
            continue
        if raw.value is None and not large:
            raw = dataset.get_item(tag_value)  # small enough to read
        if vr in BULK_DATA_VRS:
            byte_range = _value_range(raw) if bulk is not None else None
            if bulk is not None and byte_range is not None:
                bulk[tag] = byte_range
                result[tag] = {"vr": vr, "BulkDataURI": BULK_DATA_TOKEN + tag}
            elif (inline := _inline_binary(raw.value, vr, little_endian)) is not None:
                result[tag] = {"vr": vr, "InlineBinary": inline}
            continue
        element = dataset[tag_value]
        if element.VR == "SQ":
            items = [dataset_to_json(item, little_endian=little_endian) for item in element.value]
            result[tag] = {"vr": "SQ", "Value": items}
            continue
        json_element = _element_to_json(element)
        if json_element is not None:
            result[tag] = json_element
    return result


INLINE_BINARY_LIMIT = 64 * 1024
BYTE_VRS = frozenset({"OB", "UN"})


def _inline_binary(value: object, vr: str, little_endian: bool) -> str | None:
    """Base64 of a value already in memory; words of a big-endian file would need swapping, so not those."""
    if not isinstance(value, bytes) or len(value) > INLINE_BINARY_LIMIT:
        return None
    if vr not in BYTE_VRS and not little_endian:
        return None
    return base64.b64encode(value).decode("ascii")


def _raw_vr(raw: Any, tag: int) -> str:
    if raw.VR:
        return str(raw.VR)
    try:
        return dictionary_VR(tag)
    except KeyError:
        return "UN"


def _value_range(raw: Any) -> tuple[int, int] | None:
    """Where the value lies in the file, if pydicom recorded it and its length is defined."""
    offset = getattr(raw, "value_tell", None) if hasattr(raw, "value_tell") else getattr(raw, "file_tell", None)
    if getattr(raw, "is_undefined_length", False) or offset is None:
        return None
    length = raw.length if hasattr(raw, "length") else len(raw.value or b"")
    return (int(offset), int(length)) if length != 0xFFFFFFFF else None


def _element_to_json(element: DataElement) -> dict[str, Any] | None:
    try:
        return element.to_json_dict(bulk_data_element_handler=None, bulk_data_threshold=1 << 30)
    except Exception:  # a malformed value (e.g. bad IS/DS text); the file itself is kept intact
        return None
