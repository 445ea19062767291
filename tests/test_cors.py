"""CORS for browser viewers: allowed origins get preflight answers and readable headers; others get none."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from local.azurite import Azurite
from tests.conftest import LocalHost

VIEWER = "http://viewer.example.org"


@pytest.fixture(scope="module")
def cors_service(azurite: Azurite) -> Iterator[LocalHost]:
    host = LocalHost(azurite.connection_string, DICOM_CORS_ORIGINS=f"{VIEWER},http://localhost:3000")
    yield host
    host.stop()


def test_preflight_from_an_allowed_origin_is_answered(client: httpx.Client, cors_service: LocalHost) -> None:
    response = client.options(
        f"{cors_service.url}/v2/studies",
        headers={"Origin": VIEWER, "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "authorization,accept"},
    )  # fmt: skip
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == VIEWER
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


def test_responses_to_an_allowed_origin_expose_etag_and_request_id(
    client: httpx.Client, cors_service: LocalHost
) -> None:
    response = client.get(f"{cors_service.url}/v2/studies", params={"PatientID": "nobody"}, headers={"Origin": VIEWER})
    assert response.headers["access-control-allow-origin"] == VIEWER
    assert "etag" in response.headers["access-control-expose-headers"].lower()


def test_other_origins_get_no_cors_headers(client: httpx.Client, cors_service: LocalHost) -> None:
    response = client.get(f"{cors_service.url}/v2/studies", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in response.headers


def test_without_configured_origins_no_cors_headers_are_sent(client: httpx.Client, service: LocalHost) -> None:
    response = client.get(f"{service.url}/v2/studies", headers={"Origin": VIEWER})
    assert "access-control-allow-origin" not in response.headers
