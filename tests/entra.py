"""A local stand-in for Entra ID: RSA signing keys, their JWKS served over HTTP on loopback, and tokens.

Entra's login service cannot run here, so this is the one thing the tests fake; the service fetches
and caches these keys over HTTP exactly as it does Entra's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

TENANT = str(uuid.uuid4())
CLIENT_ID = str(uuid.uuid4())
AUDIENCE = f"api://{CLIENT_ID}"
V2_ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"
V1_ISSUER = f"https://sts.windows.net/{TENANT}/"
READER, OWNER = "Dicom.Data.Reader", "Dicom.Data.Owner"


class SigningKey:
    def __init__(self) -> None:
        self.kid = uuid.uuid4().hex
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def token(self, roles: list[str] | None = None, **overrides: object) -> str:
        now = int(time.time())
        claims = {
            "aud": AUDIENCE, "iss": V2_ISSUER, "tid": TENANT, "iat": now, "nbf": now, "exp": now + 3600,
            "oid": str(uuid.uuid4()), "roles": roles if roles is not None else [OWNER],
        }  # fmt: skip
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": self.kid})


class Jwks:
    """Serves the public keys at http://127.0.0.1:<port>/keys; keys can be added (key rollover)."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.requests = 0
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                jwks.requests += 1
                body = json.dumps({"keys": [key.jwk() for key in jwks.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/keys"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def unsigned_token(claims: dict) -> str:
    """alg: none - a token with no signature at all."""
    return _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(claims) + "."


def hs256_with_public_key(key: SigningKey, claims: dict) -> str:
    """The classic algorithm-confusion attack: HMAC keyed with the public key."""
    signing_input = _b64({"alg": "HS256", "typ": "JWT", "kid": key.kid}) + "." + _b64(claims)
    signature = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _b64(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


class FakeResponse:
    def __init__(self, status: int, body: dict) -> None:
        self.status_code = status
        self.text = json.dumps(body)
        self.headers = {"Content-Type": "application/json"}

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}")


class FakeEntraHttp:
    """msal's network access, answered as Entra ID's endpoints would: the only fake in the CLI tests.

    Tokens come from the local signing key, so the real service validates them for real.
    """

    def __init__(self, key: SigningKey, roles: list[str]) -> None:
        self.key = key
        self.roles = roles
        self.grants: list[str] = []
        self.device_flows = 0
        self.secrets: list[str] = []

    def get(self, url: str, params: dict | None = None, headers: dict | None = None, **kwargs: object) -> FakeResponse:
        base = f"https://login.microsoftonline.com/{TENANT}"
        if "discovery/instance" in url:
            return FakeResponse(200, {"tenant_discovery_endpoint": f"{base}/v2.0/.well-known/openid-configuration",
                                      "metadata": []})  # fmt: skip
        if "openid-configuration" in url:
            return FakeResponse(200, {
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "issuer": V2_ISSUER,
            })  # fmt: skip
        return FakeResponse(404, {"error": "not_found"})

    def post(self, url: str, params: dict | None = None, data: dict | None = None, headers: dict | None = None,
             **kwargs: object) -> FakeResponse:  # fmt: skip
        data = data or {}
        if url.endswith("/devicecode"):
            self.device_flows += 1
            return FakeResponse(200, {
                "device_code": "device-code", "user_code": "ABCD-EFGH", "interval": 0, "expires_in": 900,
                "verification_uri": "https://microsoft.com/devicelogin",
                "message": "To sign in, open https://microsoft.com/devicelogin and enter the code ABCD-EFGH.",
            })  # fmt: skip
        self.grants.append(data.get("grant_type", ""))
        if data.get("client_secret"):
            self.secrets.append(data["client_secret"])
        oid = str(uuid.uuid4())
        body = {"token_type": "Bearer", "expires_in": 3600, "access_token": self.key.token(self.roles, oid=oid)}
        if data.get("grant_type") != "client_credentials":
            body["refresh_token"] = "refresh-" + oid
            body["id_token"] = unsigned_token({
                "iss": V2_ISSUER, "sub": oid, "oid": oid, "tid": TENANT, "aud": data.get("client_id", ""),
                "preferred_username": "radiologist@example.org", "iat": int(time.time()),
                "exp": int(time.time()) + 3600,
            })  # fmt: skip
            body["client_info"] = _b64({"uid": oid, "utid": TENANT})
        return FakeResponse(200, body)
