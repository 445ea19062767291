"""Entra ID bearer tokens: signature (RS256 only) against the tenant's JWKS, audience, issuer, time, tenant, role.

Two roles mirror the managed service's "DICOM Data Reader" and "DICOM Data Owner": readers search and
retrieve; owners also store, upsert and delete. Tokens are never logged or echoed back.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

import jwt
from jwt import PyJWKClient

from .problems import DicomWebError

LEEWAY_SECONDS = 60  # clock skew tolerated on exp and nbf
JWKS_CACHE_SECONDS = 3600
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


_jwks_clients: dict[tuple[str, float], PyJWKClient] = {}


def _jwks_client(settings: AuthSettings) -> PyJWKClient:
    """Keys are cached; a token naming an unknown key id refetches the set (key rollover)."""
    key = (settings.jwks_url, settings.jwks_refresh_cooldown)
    if key not in _jwks_clients:
        _jwks_clients[key] = PyJWKClient(
            settings.jwks_url, cache_keys=True, lifespan=JWKS_CACHE_SECONDS, timeout=10,
            cooldown_duration=settings.jwks_refresh_cooldown,
        )  # fmt: skip
    return _jwks_clients[key]


async def authorize(authorization: str | None, access: Access, settings: AuthSettings | None = None) -> dict | None:
    """The token's claims when it may do `access`; raises 401/403 otherwise. None when auth is off."""
    settings = settings or AuthSettings.from_environment()
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
    claims = await asyncio.to_thread(_validate, token.strip(), settings)
    roles = set(claims.get("roles") or [])
    allowed = {settings.owner_role} if access is Access.WRITE else {settings.owner_role, settings.reader_role}
    if not roles & allowed:
        needed = " or ".join(sorted(allowed))
        raise DicomWebError(403, f"The token is valid but lacks the app role this operation needs: {needed}.")
    return claims


def _validate(token: str, settings: AuthSettings) -> dict:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise unauthorized("The bearer token is not a well-formed JWT.") from None
    if header.get("alg") != "RS256":
        raise unauthorized("The token must be signed with RS256.")
    try:
        key = _jwks_client(settings).get_signing_key_from_jwt(token).key
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
