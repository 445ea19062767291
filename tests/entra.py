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
