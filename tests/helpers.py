"""Small request helpers shared by the conformance tests."""

from __future__ import annotations

import json

import httpx

from tests.dicom_factory import multipart_body

RELATED = 'multipart/related; type="application/dicom"'


def store(client: httpx.Client, url: str, files: list[bytes], method: str = "POST", **headers: str) -> httpx.Response:
    boundary = "BOUNDARY-test-1234"
    headers = {"Content-Type": f"{RELATED}; boundary={boundary}", "Accept": "application/dicom+json", **headers}
    return client.request(method, url, content=multipart_body(files, boundary), headers=headers)


def failure_reasons(response: httpx.Response) -> list[int]:
    body = response.json()
    return [item["00081197"]["Value"][0] for item in body.get("00081198", {}).get("Value", [])]


def failure_comments(response: httpx.Response) -> list[str]:
    items = response.json().get("00081198", {}).get("Value", [])
    return [item["00741048"]["Value"][0]["00000902"]["Value"][0] for item in items]


def stored_uids(response: httpx.Response) -> list[str]:
    return [item["00081155"]["Value"][0] for item in response.json().get("00081199", {}).get("Value", [])]


def search(client: httpx.Client, url: str, **params: str) -> list[dict]:
    response = client.get(url, params=params, headers={"Accept": "application/dicom+json"})
    assert response.status_code in (200, 204), response.text
    return response.json() if response.status_code == 200 else []


def values(result: dict, tag: str) -> list:
    return result.get(tag, {}).get("Value", [])


def dumps(value: object) -> str:
    return json.dumps(value)
