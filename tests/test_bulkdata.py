"""Bulk data in metadata: BulkDataURIs the service serves with one ranged read each."""

from __future__ import annotations

import base64
import io
import json

import httpx
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.sequence import Sequence
from pydicom.uid import DeflatedExplicitVRLittleEndian, generate_uid

from dicom.dicom_json import INLINE_BINARY_LIMIT
from tests.dicom_factory import make_instance, pixel_data
from tests.helpers import store
from tests.multipart_split import split

PRIVATE = b"\x01\x02" * 3000
DOCUMENT = b"%PDF-1.4 " + b"x" * 9991
ICON = b"\x07" * 64
PROFILE = b"\x09" * (INLINE_BINARY_LIMIT + 2)


@pytest.fixture(scope="module")
def instance(base_url: str) -> dict:
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    dataset = pydicom.dcmread(io.BytesIO(make_instance(study, series, sop)))
    dataset.private_block(0x0009, "DICOMWEB TEST", create=True).add_new(0x10, "OB", PRIVATE)
    dataset.add_new(0x00420011, "OB", DOCUMENT)  # EncapsulatedDocument
    icon = pydicom.Dataset()
    icon.add_new(0x7FE00010, "OB", ICON)
    dataset.IconImageSequence = Sequence([icon])
    optical_path = pydicom.Dataset()
    optical_path.OpticalPathIdentifier = "1"
    optical_path.add_new(0x00282000, "OB", PROFILE)  # ICCProfile, above the inline limit
    dataset.OpticalPathSequence = Sequence([optical_path])
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    with httpx.Client() as client:
        assert store(client, f"{base_url}/studies", [buffer.getvalue()]).status_code == 200
    return {"url": f"{base_url}/studies/{study}/series/{series}/instances/{sop}", "study": study, "series": series,
            "sop": sop}  # fmt: skip


def metadata(client: httpx.Client, url: str) -> dict:
    (item,) = client.get(url + "/metadata").json()
    return item


def test_large_binary_values_are_bulk_data_uris_to_this_instance(client: httpx.Client, instance: dict) -> None:
    item = metadata(client, instance["url"])
    assert item["00420011"] == {"vr": "OB", "BulkDataURI": instance["url"] + "/bulkdata/00420011"}
    assert item["00091010"]["BulkDataURI"] == instance["url"] + "/bulkdata/00091010"


def test_a_bulk_data_uri_serves_the_value_with_one_ranged_read(client: httpx.Client, instance: dict) -> None:
    response = client.get(instance["url"] + "/bulkdata/00420011")
    ((headers, content),) = split(response.content, response.headers["content-type"])
    assert headers["content-type"] == "application/octet-stream"
    assert content == DOCUMENT
    assert int(response.headers["X-Storage-Bytes-Read"]) == len(DOCUMENT)


def test_single_part_octet_stream_when_asked(client: httpx.Client, instance: dict) -> None:
    response = client.get(instance["url"] + "/bulkdata/00091010", headers={"Accept": "application/octet-stream"})
    assert response.content == PRIVATE


def test_pixel_data_is_bulk_data_too(client: httpx.Client, instance: dict) -> None:
    uri = metadata(client, instance["url"])["7FE00010"]["BulkDataURI"]
    assert client.get(uri, headers={"Accept": "application/octet-stream"}).content == pixel_data(4, 4, 1)


def test_uris_follow_the_api_version_asked(client: httpx.Client, instance: dict) -> None:
    v1 = instance["url"].replace("/v2/", "/v1/")
    assert metadata(client, v1)["00420011"]["BulkDataURI"].startswith(v1 + "/bulkdata/")


def test_small_binary_values_inside_sequences_are_inline(client: httpx.Client, instance: dict) -> None:
    (icon,) = metadata(client, instance["url"])["00880200"]["Value"]
    assert icon["7FE00010"] == {"vr": "OB", "InlineBinary": base64.b64encode(ICON).decode()}


def test_large_binary_values_inside_sequences_are_left_out(client: httpx.Client, instance: dict) -> None:
    (profile,) = metadata(client, instance["url"])["00480105"]["Value"]
    assert "00282000" not in profile and profile["00480106"]["Value"] == ["1"]


def test_binary_values_of_a_deflated_file_are_inline_not_wrong_ranges(client: httpx.Client, base_url: str) -> None:
    # Positions in a deflated file are those of the inflated stream: no BulkDataURI may point at them.
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    dataset = pydicom.dcmread(io.BytesIO(make_instance(study, series, sop)))
    dataset.add_new(0x00420011, "OB", DOCUMENT)
    buffer = io.BytesIO()
    dataset.save_as(buffer, implicit_vr=False, little_endian=True, enforce_file_format=True)
    dataset.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    assert store(client, f"{base_url}/studies", [buffer.getvalue()]).status_code == 200
    item = metadata(client, f"{base_url}/studies/{study}/series/{series}/instances/{sop}")
    assert item["00420011"] == {"vr": "OB", "InlineBinary": base64.b64encode(DOCUMENT).decode()}
    assert "BulkDataURI" not in json.dumps(item)


def test_dicomweb_client_follows_the_uri(base_url: str, instance: dict) -> None:
    client = DICOMwebClient(url=base_url)
    uri = client.retrieve_instance_metadata(instance["study"], instance["series"], instance["sop"])["00420011"]
    assert client.retrieve_bulkdata(uri["BulkDataURI"]) == [DOCUMENT]


@pytest.mark.parametrize(("tag", "status"), [("00100010", 404), ("zz", 400)])
def test_unknown_or_malformed_tags(client: httpx.Client, instance: dict, tag: str, status: int) -> None:
    assert client.get(instance["url"] + f"/bulkdata/{tag}").status_code == status
