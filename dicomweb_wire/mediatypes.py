"""Content-Type and Accept parsing, lenient in the ways real DICOMweb clients need.

Handles quoted or unquoted parameters, a trailing `;`, `q` weights, and commas inside quotes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ORIGINAL = "*"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"


@dataclass(frozen=True)
class MediaType:
    type: str
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0

    @property
    def transfer_syntax(self) -> str | None:
        return self.params.get("transfer-syntax")

    @property
    def related_type(self) -> str | None:
        """The `type` parameter of multipart/related, lower-cased."""
        value = self.params.get("type")
        return value.lower() if value else None

    def matches(self, media_type: str) -> bool:
        """Whether this (possibly wildcard) media range covers `media_type`."""
        if self.type == "*/*":
            return True
        major, _, minor = self.type.partition("/")
        if minor == "*":
            return media_type.startswith(major + "/")
        return self.type == media_type


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts, current, quoted, escaped = [], [], False, False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quoted:
            current.append(char)
            escaped = True
        elif char == '"':
            quoted = not quoted
            current.append(char)
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def parse_media_type(text: str) -> MediaType:
    """Parse one media type with parameters; parameter names are lower-cased."""
    segments = _split_outside_quotes(text, ";")
    media_type = segments[0].strip().lower()
    params: dict[str, str] = {}
    q = 1.0
    for segment in segments[1:]:
        if not segment.strip():
            continue  # a trailing ';' as some clients send
        name, _, value = segment.partition("=")
        name = name.strip().lower()
        value = _unquote(value)
        if name == "q":
            try:
                q = min(max(float(value), 0.0), 1.0)
            except ValueError:
                q = 0.0
        else:
            params[name] = value
    return MediaType(media_type, params, q)


def parse_accept(header: str | None) -> list[MediaType]:
    """Media ranges by preference (q descending, order kept on ties); empty when absent."""
    if not header or not header.strip():
        return []
    ranges = [parse_media_type(item) for item in _split_outside_quotes(header, ",") if item.strip()]
    ranges = [media_range for media_range in ranges if media_range.q > 0]
    return sorted(ranges, key=lambda media_range: -media_range.q)
