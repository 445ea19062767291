"""Small request helpers shared by the conformance tests."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pydicom
from pydicom.uid import generate_uid

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


def with_new_uids(path: Path, study: str | None = None) -> tuple[bytes, tuple[str, str, str]]:
    """The file as it is, but with fresh UIDs, so the samples (which share theirs) can all be stored."""
    dataset = pydicom.dcmread(path)
    uids = (study or generate_uid(), generate_uid(), generate_uid())
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.SOPInstanceUID = uids
    dataset.file_meta.MediaStorageSOPInstanceUID = uids[2]
    output = io.BytesIO()
    dataset.save_as(output, enforce_file_format=True)
    return output.getvalue(), uids


def stored(client: httpx.Client, base_url: str, path: Path, study: str | None = None) -> str:
    data, (study, series, sop) = with_new_uids(path, study)
    assert store(client, f"{base_url}/studies", [data]).status_code == 200
    return f"{base_url}/studies/{study}/series/{series}/instances/{sop}"
