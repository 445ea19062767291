"""Responses carrying patient data are never kept by browsers or proxies: `Cache-Control: no-store` on every API
response, errors included (they describe the request). The real local host and Azurite, nothing faked."""

from __future__ import annotations

import httpx
import pytest
from pydicom.uid import generate_uid

from tests.conftest import LocalHost
from tests.dicom_factory import make_instance
from tests.helpers import store

JSON = {"Accept": "application/dicom+json"}


@pytest.fixture(scope="module")
def instance_url(base_url: str) -> str:
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    with httpx.Client(timeout=60) as client:
        assert store(client, f"{base_url}/studies", [make_instance(study, series, sop)]).status_code == 200
    return f"{base_url}/studies/{study}/series/{series}/instances/{sop}"


@pytest.mark.parametrize(
    ("path", "accept", "status"),
    [
        ("", "application/dicom", 200),
        ("/metadata", "application/dicom+json", 200),
        ("/frames/1", "multipart/related; type=application/octet-stream", 200),
        ("/rendered", "image/png", 200),
        ("/frames/9", "multipart/related; type=application/octet-stream", 404),
    ],
)  # fmt: skip
def test_retrieves_and_their_errors_are_not_to_be_stored(
    client: httpx.Client, instance_url: str, path: str, accept: str, status: int
) -> None:
    response = client.get(instance_url + path, headers={"Accept": accept})
    assert response.status_code == status
    assert response.headers["cache-control"] == "no-store"


def test_a_store_response_is_not_to_be_stored(client: httpx.Client, base_url: str) -> None:
    response = store(client, f"{base_url}/studies", [make_instance()])
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(("query", "status"), [({"PatientName": "No^Body"}, 204), ({"limit": "x"}, 400),
                                               ({"PatientID": "PAT-1"}, 200)])  # fmt: skip
def test_searches_and_their_errors_are_not_to_be_stored(
    client: httpx.Client, base_url: str, instance_url: str, query: dict, status: int
) -> None:
    response = client.get(f"{base_url}/studies", params=query, headers=JSON)
    assert response.status_code == status
    assert response.headers["cache-control"] == "no-store"


def test_a_refusal_for_a_missing_token_is_not_to_be_stored(client: httpx.Client, secured_service: LocalHost) -> None:
    response = client.get(f"{secured_service.url}/v2/studies", headers=JSON)
    assert response.status_code == 401
    assert response.headers["cache-control"] == "no-store"
