"""Every route needs a valid Entra ID token with the right app role when authentication is on.

Tokens are signed with a locally generated RSA key whose JWKS the service fetches over HTTP from a
loopback stand-in for Entra ID (tests/entra.py); nothing else is faked.
"""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from pydicom.uid import generate_uid

from shared.auth import TenantKeys
from tests.conftest import LocalHost
from tests.dicom_factory import make_instance
from tests.entra import (
    CLIENT_ID,
    OWNER,
    READER,
    TENANT,
    V1_ISSUER,
    V2_ISSUER,
    Jwks,
    SigningKey,
    claims_of,
    hs256_with_public_key,
    unsigned_token,
)
from tests.helpers import store


@pytest.fixture(scope="module")
def api(secured_service: LocalHost) -> str:
    return f"{secured_service.url}/v2"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/dicom+json"}


def search_status(client: httpx.Client, api: str, token: str) -> httpx.Response:
    return client.get(f"{api}/studies", params={"PatientID": "nobody"}, headers=bearer(token))


def test_a_request_without_a_token_answers_401_with_a_bearer_challenge(client: httpx.Client, api: str) -> None:
    response = client.get(f"{api}/studies")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in response.json()["detail"]


@pytest.mark.parametrize(
    "request_line",
    [
        ("POST", "studies"), ("PUT", "studies"), ("GET", "studies/1.2.3"), ("GET", "studies/1.2.3/metadata"),
        ("GET", "studies/1.2.3/series/1.2/instances/1.3/frames/1"), ("GET", "series"), ("GET", "instances"),
        ("DELETE", "studies/1.2.3"),
    ],
)  # fmt: skip
def test_every_kind_of_route_is_protected(client: httpx.Client, api: str, request_line: tuple[str, str]) -> None:
    method, path = request_line
    assert client.request(method, f"{api}/{path}").status_code == 401


def test_a_valid_reader_token_may_search(client: httpx.Client, api: str, signing_key: SigningKey) -> None:
    assert search_status(client, api, signing_key.token([READER])).status_code == 204


def test_a_v1_token_is_accepted_too(client: httpx.Client, api: str, signing_key: SigningKey) -> None:
    token = signing_key.token([READER], iss=V1_ISSUER, aud=CLIENT_ID)
    assert search_status(client, api, token).status_code == 204


def test_a_reader_may_not_store_or_delete(client: httpx.Client, api: str, signing_key: SigningKey) -> None:
    token = signing_key.token([READER])
    stored = store(client, f"{api}/studies", [make_instance()], Authorization=f"Bearer {token}")
    assert stored.status_code == 403
    assert OWNER in stored.json()["detail"]
    assert client.delete(f"{api}/studies/1.2.3", headers=bearer(token)).status_code == 403


def test_a_token_without_roles_is_forbidden(client: httpx.Client, api: str, signing_key: SigningKey) -> None:
    assert search_status(client, api, signing_key.token([])).status_code == 403


def test_an_owner_may_store_retrieve_search_and_delete(client: httpx.Client, api: str, signing_key: SigningKey) -> None:
    headers = {"Authorization": f"Bearer {signing_key.token([OWNER])}"}
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    assert store(client, f"{api}/studies", [make_instance(study, series, sop)], **headers).status_code == 200
    assert client.get(f"{api}/studies/{study}/series/{series}/instances/{sop}", headers=headers).status_code == 200
    assert client.get(f"{api}/studies/{study}/metadata", headers=headers).status_code == 200
    assert client.get(f"{api}/studies", params={"StudyInstanceUID": study}, headers=headers).status_code == 200
    assert client.delete(f"{api}/studies/{study}", headers=headers).status_code == 204


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": int(time.time()) - 3600, "nbf": int(time.time()) - 7200}, "expired"),
        ({"nbf": int(time.time()) + 3600}, "not valid yet"),
        ({"aud": "api://another-service"}, "audience"),
        ({"iss": "https://login.microsoftonline.com/another-tenant/v2.0"}, "issuer"),
        ({"tid": "another-tenant"}, "tenant"),
        ({"exp": None}, "invalid"),
    ],
)
def test_invalid_claims_answer_401(
    client: httpx.Client, api: str, signing_key: SigningKey, overrides: dict, reason: str
) -> None:
    response = search_status(client, api, signing_key.token([OWNER], **overrides))
    assert response.status_code == 401
    assert reason in response.json()["detail"]
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_small_clock_skew_is_tolerated(client: httpx.Client, api: str, signing_key: SigningKey) -> None:
    token = signing_key.token([READER], nbf=int(time.time()) + 20)
    assert search_status(client, api, token).status_code == 204


def test_a_token_signed_by_another_key_answers_401(client: httpx.Client, api: str) -> None:
    impostor = SigningKey()
    assert search_status(client, api, impostor.token([OWNER])).status_code == 401


def test_a_token_reusing_a_known_key_id_with_another_key_answers_401(
    client: httpx.Client, api: str, signing_key: SigningKey
) -> None:
    impostor = SigningKey()
    impostor.kid = signing_key.kid
    assert search_status(client, api, impostor.token([OWNER])).status_code == 401


def test_alg_none_answers_401(client: httpx.Client, api: str, signing_key: SigningKey) -> None:
    token = unsigned_token(claims_of(signing_key.token([OWNER])))
    assert search_status(client, api, token).status_code == 401


def test_hs256_signed_with_the_public_key_answers_401(client: httpx.Client, api: str, signing_key: SigningKey) -> None:
    token = hs256_with_public_key(signing_key, claims_of(signing_key.token([OWNER])))
    assert search_status(client, api, token).status_code == 401


def test_a_tampered_payload_answers_401(client: httpx.Client, api: str, signing_key: SigningKey) -> None:
    header, _, signature = signing_key.token([READER]).split(".")
    forged = signing_key.token([OWNER]).split(".")[1]
    assert search_status(client, api, f"{header}.{forged}.{signature}").status_code == 401


def test_a_new_signing_key_is_fetched_when_a_token_names_it(
    client: httpx.Client, api: str, jwks: Jwks, signing_key: SigningKey
) -> None:
    search_status(client, api, signing_key.token([READER]))  # the keys are cached by now
    rolled = SigningKey()
    jwks.keys.append(rolled)  # Entra publishes a new key; the service has not seen it yet
    fetches = jwks.requests
    assert search_status(client, api, rolled.token([READER])).status_code == 204
    assert jwks.requests == fetches + 1


def test_a_key_removed_from_the_key_set_is_refused_once_the_set_is_fetched_again(
    client: httpx.Client, api: str, jwks: Jwks
) -> None:
    retiring = SigningKey()
    jwks.keys.append(retiring)
    assert search_status(client, api, retiring.token([READER])).status_code == 204  # trusted and cached
    jwks.keys.remove(retiring)  # the tenant withdraws the key (compromised, or retired)
    rolled = SigningKey()
    jwks.keys.append(rolled)  # a token naming a new key makes the service fetch the set again
    assert search_status(client, api, rolled.token([READER])).status_code == 204
    assert search_status(client, api, retiring.token([READER])).status_code == 401


class Clock:
    """Time for TenantKeys, moved by the test instead of waited for (the key set itself is fetched over HTTP
    from the loopback stand-in for Entra ID, as in the service)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_removed_key_stops_being_trusted_when_the_key_set_outlives_its_lifespan(jwks: Jwks) -> None:
    retiring, clock = SigningKey(), Clock()
    jwks.keys.append(retiring)
    keys = TenantKeys(jwks.url, lifespan=300, cooldown=30, clock=clock)
    assert keys.key(retiring.kid).key_id == retiring.kid
    jwks.keys.remove(retiring)
    clock.now += 300
    with pytest.raises(jwt.PyJWKClientError):
        keys.key(retiring.kid)


def test_the_key_set_is_not_fetched_again_within_its_lifespan(jwks: Jwks, signing_key: SigningKey) -> None:
    clock = Clock()
    keys = TenantKeys(jwks.url, lifespan=300, cooldown=30, clock=clock)
    fetches = jwks.requests
    for _ in range(50):
        keys.key(signing_key.kid)
        clock.now += 5
    assert jwks.requests == fetches + 1


def test_a_flood_of_unknown_key_ids_fetches_the_key_set_at_most_once_per_cooldown(
    jwks: Jwks, signing_key: SigningKey
) -> None:
    clock = Clock()
    keys = TenantKeys(jwks.url, lifespan=300, cooldown=30, clock=clock)
    keys.key(signing_key.kid)
    fetches = jwks.requests
    for second in range(90):  # 9,000 forged key ids in 90 s: fetches at 30 s and 60 s only
        for attempt in range(100):
            with pytest.raises(jwt.PyJWKClientError):
                keys.key(f"forged-{second}-{attempt}")
        clock.now += 1
    assert jwks.requests - fetches == 2


def unreachable(tenant: Jwks) -> None:
    """The tenant's key endpoint goes down: connections are refused from now on."""
    tenant.server.shutdown()
    tenant.server.server_close()


def test_known_keys_stay_trusted_while_the_tenant_is_briefly_unreachable(signing_key: SigningKey) -> None:
    clock, tenant = Clock(), Jwks(signing_key)
    keys = TenantKeys(tenant.url, lifespan=300, cooldown=30, grace=3600, clock=clock)
    keys.key(signing_key.kid)
    unreachable(tenant)
    clock.now += 300 + 1800
    assert keys.key(signing_key.kid).key_id == signing_key.kid


def test_no_key_is_trusted_once_the_tenant_has_been_unreachable_past_the_grace_period(
    signing_key: SigningKey,
) -> None:
    clock, tenant = Clock(), Jwks(signing_key)
    keys = TenantKeys(tenant.url, lifespan=300, cooldown=30, grace=3600, clock=clock)
    keys.key(signing_key.kid)
    unreachable(tenant)
    clock.now += 300 + 3600
    with pytest.raises(jwt.PyJWKClientConnectionError):  # the service answers 503 with Retry-After
        keys.key(signing_key.kid)


def test_a_malformed_authorization_header_answers_401(client: httpx.Client, api: str) -> None:
    for value in ("Bearer", "Basic dXNlcjpwYXNz", "Bearer not.a.jwt"):
        assert client.get(f"{api}/studies", headers={"Authorization": value}).status_code == 401


def test_tokens_are_never_echoed_or_logged(
    client: httpx.Client, api: str, signing_key: SigningKey, secured_service: LocalHost
) -> None:
    tokens = [signing_key.token([READER], aud="api://wrong"), signing_key.token([READER])]
    bodies = [search_status(client, api, token).text for token in tokens]
    bodies.append(store(client, f"{api}/studies", [make_instance()], Authorization=f"Bearer {tokens[1]}").text)
    secured_service.output.flush()
    log = secured_service.output.name
    with open(log) as written:
        logged = written.read()
    for token in tokens:
        signature = token.split(".")[2]
        assert signature not in logged and signature not in "".join(bodies)
    assert "operation=" in logged, "the log is being written, so its silence about tokens means something"


def test_the_tenant_under_test_is_the_configured_one() -> None:
    assert V2_ISSUER.endswith(f"{TENANT}/v2.0")
