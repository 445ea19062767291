"""Domain errors every layer raises; the HTTP runner (shared.runner) alone turns them into statuses.

Each message tells the caller what was wrong and how to fix it, so it can be shown as it is.
"""

from __future__ import annotations


class ArchiveError(Exception):
    """A request the archive cannot serve."""


class Invalid(ArchiveError):
    """The request breaks a rule of the standard or of this service (HTTP 400)."""


class Missing(ArchiveError):
    """What was asked for is not in the archive (HTTP 404)."""


class CannotProvide(ArchiveError):
    """What was asked for exists but not in the form asked (HTTP 406)."""


class Conflicting(ArchiveError):
    """The request contradicts what the archive holds, e.g. adds what exists (HTTP 409)."""


class Busy(ArchiveError):
    """Too many writers at once; the request changed nothing and can be retried shortly (HTTP 503)."""

    retry_after_seconds = 1


class InstanceFailure(Exception):
    """One instance of a store request cannot be stored (the others may be): a STOW failure reason."""

    def __init__(self, reason: int, comment: str) -> None:
        super().__init__(comment)
        self.reason = reason
        self.comment = comment
