"""Opening a share from its link: the secret, revocation, expiry, the password cookie, and the studies covered.

Every request through a link goes through open_share(), so nothing is served for a study the share does not
cover. The cookie a right password earns is an HMAC (under DICOM_INDEX_KEY) of the share's id, its password's
salt and the cookie's own expiry: it opens that share only, and only until then.
"""

from __future__ import annotations

import hmac
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response

from archive.clients import Storage, get_storage
from archive.folders import studies_of
from archive.lookup import keyed_hash
from archive.partitions import Partition
from archive.shares import Share, find_share
from shared import audit
from shared.problems import DicomWebError
from shared.settings import public_base_url

DEFAULT_COOKIE_MINUTES = 30


class ShareRefused(DicomWebError):
    """A link that opens nothing: unknown or revoked (404), expired (410), locked (429), password needed (401)."""


def cookie_minutes() -> int:
    return int(os.environ.get("DICOM_SHARE_COOKIE_MINUTES") or DEFAULT_COOKIE_MINUTES)


def cookie_name(share: Share) -> str:
    return f"share_{share.id}"


def _signature(share: Share, until: int) -> str:
    return keyed_hash("share-cookie", f"{share.binding}|{until}")


def cookie_header(share: Share, path: str, now: datetime) -> str:
    """Set-Cookie for a recipient who gave the right password: short-lived, HttpOnly, SameSite=Strict, only
    sent to this share's path (Secure where the service is served over HTTPS)."""
    until = min(now + timedelta(minutes=cookie_minutes()), share.expires)
    stamp = int(until.timestamp())
    secure = "; Secure" if public_base_url().startswith("https://") else ""
    max_age = max(0, stamp - int(now.timestamp()))
    return (f"{cookie_name(share)}={stamp}.{_signature(share, stamp)}; Max-Age={max_age}; Path={path}; "
            f"HttpOnly; SameSite=Strict{secure}")  # fmt: skip


def _cookie_admits(request: Request, share: Share, now: datetime) -> bool:
    stamp, _, signature = request.cookies.get(cookie_name(share), "").partition(".")
    if not stamp.isdigit() or int(stamp) <= now.timestamp():
        return False
    return hmac.compare_digest(signature, _signature(share, int(stamp)))


@dataclass
class Opened:
    storage: Storage
    share: Share
    studies: list[str]
    path: str  # the link's path: the page, and the prefix of everything served through it


def share_path(request: Request, token: str) -> str:
    """The link's own path (what the cookie is scoped to), from the routed path up to the token."""
    path = request.url.path
    return path[: path.index(token) + len(token)]


async def find_open_share(partition: Partition, token: str, now: datetime) -> tuple[Storage, Share]:
    """The share the token names, if it is neither unknown, revoked nor expired (no password check)."""
    storage = await get_storage(partition.key)
    share_id, _, secret = token.partition(".")
    share = await find_share(storage, share_id)
    if share is None or not secret or not share.secret_matches(secret) or share.revoked:
        raise ShareRefused(404, "This share link does not exist or was revoked; ask its sender for a new one.")
    if share.expires <= now:
        raise ShareRefused(410, "This share link has expired; ask its sender for a new one.")
    return storage, share


async def open_share(request: Request, partition: Partition, token: str) -> Opened:
    """The share and the studies it covers now (a folder's, as the folder is at this moment)."""
    now = datetime.now(UTC)
    storage, share = await find_open_share(partition, token, now)
    if share.has_password and not _cookie_admits(request, share, now):
        raise ShareRefused(401, "This share needs its password: open the link in a browser and enter it.")
    studies = share.studies if not share.folder else await studies_of(storage, share.folder)
    return Opened(storage, share, studies, share_path(request, token))


def require_study(opened: Opened, study: str | None) -> None:
    """404, exactly as for a study that does not exist, for any study the share does not cover."""
    if study is not None and study not in opened.studies:
        raise ShareRefused(404, "The study was not found in this share.")


def audit_share(request: Request, what: str, partition: Partition, share: Share, status: int,
                study: str | None = None) -> None:  # fmt: skip
    """An audit event naming the share (never its secret nor a password): openings, refusals, downloads."""
    arguments = {"api_version": request.path_params.get("api_version"), "study": study,
                 "partition": partition.name}  # fmt: skip
    event = audit.begin(request, what, request.headers.get("x-request-id") or uuid.uuid4().hex, arguments)
    event["share_id"] = share.id
    audit.record(event, {"oid": "", "app_id": ""}, status, 0, 0.0)


def security_headers(response: Response) -> Response:
    """The recipient's page runs only its own script and styles, is never framed, and never sends its link
    (which holds the secret) to another site as a Referer."""
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    return response
