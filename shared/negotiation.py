"""Content negotiation, in one place: what each resource can answer and which form the Accept header picks."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from dicom.pixels.render import JPEG, PNG, RenderRequest
from dicom.values import whole_number
from dicomweb_wire.mediatypes import EXPLICIT_VR_LITTLE_ENDIAN, ORIGINAL, MediaType, parse_accept

from .problems import DicomWebError, bad_request, not_acceptable

DICOM_JSON = "application/dicom+json"
DICOM = "application/dicom"
OCTET_STREAM = "application/octet-stream"
JP2 = "image/jp2"


@dataclass(frozen=True)
class Choice:
    multipart: bool
    transfer_syntax: str  # a UID, or ORIGINAL
    part_type: str = OCTET_STREAM  # frames only: application/octet-stream or image/jp2


def require_json_accept(request: Request) -> None:
    """Store, metadata and search answer DICOM JSON; `application/json`, `*/*` or no Accept also do."""
    ranges = parse_accept(request.headers.get("accept"))
    if not ranges or any(r.matches(DICOM_JSON) or r.type == "application/json" for r in ranges):
        return
    raise DicomWebError(
        406,
        f"This resource is returned as {DICOM_JSON}; the Accept header '{request.headers['accept'][:200]}' "
        f"does not allow it. Send Accept: {DICOM_JSON}.",
    )


def _syntax(media_range: MediaType) -> str:
    return media_range.transfer_syntax or EXPLICIT_VR_LITTLE_ENDIAN


def instance_format(accept: str | None, single_allowed: bool) -> Choice:
    """The most preferred acceptable form; among equally preferred ones (same q) the stored original wins."""
    ranges = parse_accept(accept)
    if not ranges:
        return Choice(not single_allowed, EXPLICIT_VR_LITTLE_ENDIAN)
    acceptable: list[tuple[float, Choice]] = []
    for media_range in ranges:
        if media_range.type in ("*/*", "multipart/*"):
            acceptable.append((media_range.q, Choice(not single_allowed, ORIGINAL)))
        elif media_range.type == "multipart/related" and media_range.related_type in (None, DICOM, "*/*"):
            acceptable.append((media_range.q, Choice(True, _syntax(media_range))))
        elif media_range.type in (DICOM, "application/*") and single_allowed:
            acceptable.append((media_range.q, Choice(False, _syntax(media_range))))
    if acceptable:
        best = max(q for q, _ in acceptable)
        tied = [choice for q, choice in acceptable if q == best]
        return next((c for c in tied if c.transfer_syntax == ORIGINAL), tied[0])
    allowed = 'multipart/related; type="application/dicom"' + (" or application/dicom" if single_allowed else "")
    raise not_acceptable(
        f"Cannot answer with '{accept[:200]}'. This resource is available as {allowed}, with "
        "transfer-syntax=* (as stored), 1.2.840.10008.1.2.1 (the default) or 1.2.840.10008.1.2.4.90."
    )


def frame_format(accept: str | None, frame_count: int) -> Choice:
    ranges = parse_accept(accept)
    if not ranges:
        return Choice(True, EXPLICIT_VR_LITTLE_ENDIAN)
    for media_range in ranges:
        if media_range.type in ("*/*", "multipart/*"):
            return Choice(True, ORIGINAL)
        if media_range.type == "multipart/related" and media_range.related_type in (None, OCTET_STREAM, "*/*"):
            return Choice(True, _syntax(media_range))
        if media_range.type == OCTET_STREAM and frame_count == 1:
            return Choice(False, _syntax(media_range))
        if media_range.type == JP2 and frame_count == 1:
            return Choice(False, ORIGINAL, JP2)
        if media_range.type == "multipart/related" and media_range.related_type == JP2:
            return Choice(True, ORIGINAL, JP2)
    raise not_acceptable(
        f"Cannot answer with '{accept[:200]}'. Frames are available as multipart/related; "
        'type="application/octet-stream" (or application/octet-stream when exactly one frame is asked), '
        "with transfer-syntax=* or 1.2.840.10008.1.2.1."
    )


def bulk_data_single_part(accept: str | None) -> bool:
    """Bulk data as a bare application/octet-stream body (True) or one multipart/related part (False)."""
    for media_range in parse_accept(accept):
        if media_range.type == OCTET_STREAM:
            return True
        if media_range.type in ("*/*", "multipart/related", "multipart/*"):
            return False
    if accept and parse_accept(accept):
        raise not_acceptable('Bulk data is available as multipart/related; type="application/octet-stream" or '
                             "application/octet-stream.")  # fmt: skip
    return False


def render_request(accept: str | None, query_quality: str | None) -> RenderRequest:
    """The image format (JPEG by default, or PNG) and JPEG quality (`quality`, 1 to 100, default 90)."""
    quality = 90
    if query_quality is not None:
        number = whole_number(query_quality, max_digits=3)
        if number is None or not 1 <= number <= 100:
            raise bad_request(f"quality must be a whole number from 1 to 100; got '{query_quality[:20]}'.")
        quality = number
    ranges = parse_accept(accept)
    if not ranges:
        return RenderRequest(JPEG, quality)
    for media_range in ranges:
        if media_range.type in (JPEG, "image/*", "*/*"):
            return RenderRequest(JPEG, quality)
        if media_range.type == PNG:
            return RenderRequest(PNG, quality)
    raise not_acceptable(f"Rendered images are available as {JPEG} (the default) or {PNG}.")
