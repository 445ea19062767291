"""Share links: a list of studies, or a folder, that someone without an account may look at through a link.

Table `<prefix>shares` of the partition (each partition has its own, so a link works only in its partition):
    PartitionKey "share", RowKey <id>   SecretHash, Studies (JSON list of UIDs) or Folder, Expires (ISO 8601,
                                        UTC), PasswordHash, Downloadable, Title, Description, Created, Revoked,
                                        Failures, FailedSince (wrong-password throttling, guarded by the ETag)
The link carries `<id>.<secret>`: the id (64 random bits) finds the row; the secret (256 random bits) is kept
only as its SHA-256 (a fast hash is enough for a random secret of that size; passwords, chosen by people,
get scrypt). A revoked share keeps its row (listing shows it) but opens nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

from .clients import Storage

TABLE = "shares"
_SHARE = "share"
SECRET_BYTES = 32
MAX_GUESSES = 5  # wrong passwords per share per GUESS_WINDOW; then every guess is refused until it ends
GUESS_WINDOW = timedelta(minutes=15)
# scrypt's cost: about 0.1 s and 32 MiB per check, so guessing offline is slow and online is throttled anyway.
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
SCRYPT_MAXMEM = 64 * 1024 * 1024


@dataclass(frozen=True)
class Share:
    id: str
    studies: list[str]
    folder: str
    expires: datetime
    downloadable: bool
    title: str
    description: str
    created: str
    revoked: bool
    has_password: bool
    failures: int
    failed_since: datetime | None
    etag: str | None = None
    _secret_hash: str = ""
    _password_hash: str = ""

    def secret_matches(self, secret: str) -> bool:
        return hmac.compare_digest(self._secret_hash, _sha256(secret))

    def password_matches(self, password: str) -> bool:
        return verify_password(self._password_hash, password)

    @property
    def binding(self) -> str:
        """What a cookie after the password is bound to: the share and its password's salt (a new password
        or a new share of the same id never accepts an old cookie)."""
        return f"{self.id}|{self._password_hash.split('$')[1] if self._password_hash else ''}"

    def throttled(self, now: datetime) -> datetime | None:
        """Until when wrong guesses have locked the share, if they have."""
        if self.failures >= MAX_GUESSES and self.failed_since and now < self.failed_since + GUESS_WINDOW:
            return self.failed_since + GUESS_WINDOW
        return None

    def summary(self) -> dict[str, object]:
        """What listing shows: never the secret's hash nor the password's."""
        return {
            "id": self.id, "studies": self.studies, "folder": self.folder or None,
            "expires": _iso(self.expires), "downloadable": self.downloadable, "title": self.title,
            "description": self.description, "password": self.has_password, "created": self.created,
            "revoked": self.revoked,
        }  # fmt: skip


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, maxmem=SCRYPT_MAXMEM, dklen=32, **SCRYPT)
    return f"scrypt${_b64(salt)}${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${_b64(digest)}"


def verify_password(stored: str, password: str) -> bool:
    try:
        _, salt, n, r, p, digest = stored.split("$")
        expected = base64.b64decode(digest)
        found = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                               maxmem=SCRYPT_MAXMEM, dklen=len(expected))  # fmt: skip
    except ValueError:
        return False
    return hmac.compare_digest(found, expected)


def _of(entity: dict) -> Share:
    failed = entity.get("FailedSince")
    return Share(
        id=entity["RowKey"],
        studies=json.loads(entity.get("Studies") or "[]"),
        folder=entity.get("Folder") or "",
        expires=datetime.fromisoformat(entity["Expires"]),
        downloadable=bool(entity.get("Downloadable")),
        title=entity.get("Title") or "",
        description=entity.get("Description") or "",
        created=entity.get("Created") or "",
        revoked=bool(entity.get("Revoked")),
        has_password=bool(entity.get("PasswordHash")),
        failures=int(entity.get("Failures") or 0),
        failed_since=datetime.fromisoformat(failed) if failed else None,
        etag=entity.metadata.get("etag") if hasattr(entity, "metadata") else None,
        _secret_hash=entity["SecretHash"],
        _password_hash=entity.get("PasswordHash") or "",
    )


async def create_share(
    storage: Storage, *, studies: list[str], folder: str, expires: datetime, password: str, downloadable: bool,
    title: str, description: str,
) -> tuple[Share, str]:  # fmt: skip
    """A new share and its link token `<id>.<secret>` (the only time the secret exists outside the link)."""
    table = await storage.table(TABLE)
    share_id, secret = secrets.token_hex(8), secrets.token_urlsafe(SECRET_BYTES)
    entity = {
        "PartitionKey": _SHARE, "RowKey": share_id, "SecretHash": _sha256(secret), "Studies": json.dumps(studies),
        "Folder": folder, "Expires": _iso(expires), "PasswordHash": hash_password(password) if password else "",
        "Downloadable": downloadable, "Title": title, "Description": description,
        "Created": _iso(datetime.now(UTC)), "Revoked": False, "Failures": 0,
    }  # fmt: skip
    await table.create_entity(entity)
    found = await find_share(storage, share_id)
    assert found is not None
    return found, f"{share_id}.{secret}"


async def find_share(storage: Storage, share_id: str) -> Share | None:
    if not share_id.isalnum() or len(share_id) > 32:
        return None
    entity = await storage.get(await storage.table(TABLE), _SHARE, share_id)
    return _of(entity) if entity else None


async def list_shares(storage: Storage) -> list[Share]:
    entities = await storage.query(await storage.table(TABLE), "PartitionKey eq @pk", {"pk": _SHARE})
    return sorted((_of(entity) for entity in entities), key=lambda share: share.created)


async def revoke_share(storage: Storage, share_id: str) -> bool:
    """Whether there was such a share (revoking twice is harmless)."""
    table = await storage.table(TABLE)
    if await find_share(storage, share_id) is None:
        return False
    await table.update_entity({"PartitionKey": _SHARE, "RowKey": share_id, "Revoked": True})
    return True


async def count_guess(storage: Storage, share: Share, right: bool, now: datetime) -> None:
    """Count a wrong password (a new window starts when the last one is over); a right one clears the count.
    Under the row's ETag, so concurrent guesses are each counted."""
    table = await storage.table(TABLE)
    for _ in range(10):
        if right and not share.failures:
            return
        if right:
            changes: dict[str, object] = {"Failures": 0, "FailedSince": ""}
        elif share.failed_since is None or now >= share.failed_since + GUESS_WINDOW:
            changes = {"Failures": 1, "FailedSince": _iso(now)}
        else:
            changes = {"Failures": share.failures + 1}
        try:
            await table.update_entity({"PartitionKey": _SHARE, "RowKey": share.id, **changes}, etag=share.etag,
                                      match_condition=MatchConditions.IfNotModified)  # fmt: skip
            return
        except ResourceModifiedError:
            fresh = await find_share(storage, share.id)
            if fresh is None:
                return
            share = fresh
        except ResourceNotFoundError:
            return
