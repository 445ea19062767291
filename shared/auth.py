"""Entra ID bearer tokens: signature (RS256 only) against the tenant's JWKS, audience, issuer, time, tenant, role.

Two roles mirror the managed service's "DICOM Data Reader" and "DICOM Data Owner": readers search and
retrieve; owners also store, upsert and delete. Tokens are never logged or echoed back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

import jwt
from jwt import PyJWK, PyJWKClient

from .problems import DicomWebError

LEEWAY_SECONDS = 60  # clock skew tolerated on exp and nbf
JWKS_GRACE_SECONDS = 3600  # how long past its lifespan a key set is kept while the tenant cannot be reached
log = logging.getLogger("dicomweb")
T = TypeVar("T")


class Access(Enum):
    PUBLIC = "public"  # the health probe only: it returns no data
    READ = "read"
    WRITE = "write"


def requires(access: Access) -> Callable[[T], T]:
    """Declare what an operation needs; shared.runner.run() refuses to call an operation that declares nothing."""

    def mark(operation: T) -> T:
        operation.required_access = access  # type: ignore[attr-defined]
        return operation

    return mark


@dataclass(frozen=True)
class AuthSettings:
    enabled: bool
    tenant_id: str
    audiences: tuple[str, ...]
    jwks_url: str
    reader_role: str
    owner_role: str
    jwks_refresh_cooldown: float  # unknown key ids refetch the keys at most this often (forged kids)
    jwks_lifespan: float  # the key set is re-fetched when this old: removed keys stop being trusted

    @classmethod
    def from_environment(cls) -> AuthSettings:
        env = os.environ
        tenant = env.get("DICOM_AUTH_TENANT_ID", "").strip()
        return cls(
            enabled=env.get("DICOM_AUTH_ENABLED", "true").strip().lower() not in ("false", "0", "no", "off"),
            tenant_id=tenant,
            audiences=tuple(a.strip() for a in env.get("DICOM_AUTH_AUDIENCE", "").split(",") if a.strip()),
            jwks_url=env.get("DICOM_AUTH_JWKS_URL")
            or f"https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys",
            reader_role=env.get("DICOM_READER_ROLE", "Dicom.Data.Reader"),
            owner_role=env.get("DICOM_OWNER_ROLE", "Dicom.Data.Owner"),
            jwks_refresh_cooldown=float(env.get("DICOM_AUTH_JWKS_REFRESH_COOLDOWN", "30")),
            jwks_lifespan=float(env.get("DICOM_AUTH_JWKS_LIFESPAN", "300")),
        )

    def issuers(self) -> list[str]:
        """Entra issues v1 tokens (sts.windows.net) and v2 tokens (login.microsoftonline.com .../v2.0)."""
        return [
            f"https://sts.windows.net/{self.tenant_id}/",
            f"https://login.microsoftonline.com/{self.tenant_id}/v2.0",
        ]


def unauthorized(detail: str, error: str | None = "invalid_token") -> DicomWebError:
    challenge = 'Bearer realm="dicomweb"'
    if error:
        challenge += f', error="{error}", error_description="{detail}"'
    return DicomWebError(401, detail, {"WWW-Authenticate": challenge})


class TenantKeys:
    """The tenant's signing keys, following its published key set (JWKS).

    The set is re-fetched once it is `lifespan` seconds old, and sooner when a token names a key id the set lacks
    (key rollover), but at most once per `cooldown` seconds, so a flood of forged key ids costs the tenant one fetch
    per cooldown. A key removed from the set stops being trusted at the next fetch (PyJWKClient's per-key cache
    never forgot one). When a fetch fails, the last set is kept up to `grace` seconds past its lifespan, so a
    hiccup of the identity provider does not lock everyone out; after that, requests answer 503.
    """

    def __init__(
        self, url: str, lifespan: float, cooldown: float, grace: float = JWKS_GRACE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self._source = PyJWKClient(url, cache_jwk_set=False, timeout=10)
        self.lifespan, self.cooldown, self.grace, self._clock = lifespan, cooldown, grace, clock
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._tried_at: float | None = None
        self._lock = threading.Lock()

    def key(self, kid: str | None) -> PyJWK:
        """The key named `kid`; PyJWKClientError when the tenant does not publish it, PyJWKClientConnectionError
        when the key set cannot be had."""
        with self._lock:
            now = self._clock()
            age = math.inf if self._fetched_at is None else now - self._fetched_at
            if age >= self.lifespan or kid not in self._keys:
                self._refresh(now, age)
            if kid not in self._keys:
                raise jwt.PyJWKClientError("The token names a key id the tenant does not publish.")
            return self._keys[kid]

    def _refresh(self, now: float, age: float) -> None:
        published = None
        if self._tried_at is None or now - self._tried_at >= self.cooldown:
            self._tried_at = now
            try:
                published = self._source.fetch_data().get("keys")
            except jwt.PyJWKClientError as error:
                log.warning("the tenant's signing keys could not be fetched: %s", type(error).__name__)
        if published is not None:
            self._keys = {key.key_id: key for key in _signing_keys(published)}
            self._fetched_at = now
        elif age >= self.lifespan + self.grace:
            self._keys = {}  # too old to trust: refuse tokens until the tenant answers again
            raise jwt.PyJWKClientConnectionError("The tenant's signing keys cannot be fetched.")


def _signing_keys(published: object) -> list[PyJWK]:
    """The usable signature keys of a JWKS `keys` list; anything else in it is skipped."""
    keys = []
    for entry in published if isinstance(published, list) else []:
        try:
            key = PyJWK(entry)
        except (jwt.PyJWTError, TypeError, ValueError):
            continue
        if key.key_id and key.public_key_use in ("sig", None):
            keys.append(key)
    return keys


_tenant_keys: dict[tuple[str, float, float], TenantKeys] = {}


def _keys_of(settings: AuthSettings) -> TenantKeys:
    index = (settings.jwks_url, settings.jwks_lifespan, settings.jwks_refresh_cooldown)
    if index not in _tenant_keys:
        _tenant_keys[index] = TenantKeys(*index)
    return _tenant_keys[index]


async def authenticate(authorization: str | None, access: Access, settings: AuthSettings) -> dict | None:
    """The claims of a valid token of the tenant (401 otherwise); None when auth is off or `access` is public."""
    if not settings.enabled or access is Access.PUBLIC:
        return None
    if not settings.tenant_id or not settings.audiences:
        raise DicomWebError(
            500,
            "Authentication is on but DICOM_AUTH_TENANT_ID or DICOM_AUTH_AUDIENCE is not set; "
            "the operator must configure them (or set DICOM_AUTH_ENABLED=false for a local, trusted setup).",
        )
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("This service needs an Entra ID access token: send Authorization: Bearer <token>.", None)
    return await asyncio.to_thread(_validate, token.strip(), settings)


def check_role(claims: dict | None, access: Access, settings: AuthSettings) -> None:
    """403 unless the token's app roles allow `access` (nothing to check when there is no token)."""
    if claims is None:
        return
    roles = set(claims.get("roles") or [])
    allowed = {settings.owner_role} if access is Access.WRITE else {settings.owner_role, settings.reader_role}
    if not roles & allowed:
        needed = " or ".join(sorted(allowed))
        raise DicomWebError(403, f"The token is valid but lacks the app role this operation needs: {needed}.")


def caller_of(claims: dict | None) -> dict[str, str]:
    """Who a validated token speaks for, for the audit log: the principal's object id and the client application's
    id (`appid` in v1 tokens, `azp` in v2). Empty when there is no valid token; never the token itself."""
    claims = claims or {}
    principal, application = claims.get("oid"), claims.get("appid") or claims.get("azp")
    return {
        "oid": principal[:64] if isinstance(principal, str) else "",
        "app_id": application[:64] if isinstance(application, str) else "",
    }


def _validate(token: str, settings: AuthSettings) -> dict:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise unauthorized("The bearer token is not a well-formed JWT.") from None
    if header.get("alg") != "RS256":
        raise unauthorized("The token must be signed with RS256.")
    try:
        key = _keys_of(settings).key(header.get("kid")).key
    except jwt.PyJWKClientConnectionError:
        raise DicomWebError(
            503, "The identity provider's signing keys cannot be fetched; retry shortly.", {"Retry-After": "5"}
        ) from None
    except jwt.PyJWTError:
        raise unauthorized("The token was not signed by a key of the configured tenant.") from None
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=list(settings.audiences),
            issuer=settings.issuers(),
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "nbf", "iss", "aud", "tid"]},
        )
    except jwt.ExpiredSignatureError:
        raise unauthorized("The token has expired; get a new one.") from None
    except jwt.ImmatureSignatureError:
        raise unauthorized("The token is not valid yet (nbf is in the future).") from None
    except jwt.InvalidAudienceError:
        raise unauthorized("The token is for another audience than this service.") from None
    except jwt.InvalidIssuerError:
        raise unauthorized("The token was issued by another tenant or issuer than this service trusts.") from None
    except jwt.PyJWTError as error:
        raise unauthorized(f"The token is invalid: {type(error).__name__}.") from None
    if claims.get("tid") != settings.tenant_id:
        raise unauthorized("The token belongs to another tenant.")
    return claims
