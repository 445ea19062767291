"""The Azure DICOM service's curl tutorial, replayed request by request with curl itself.

The commands are the tutorial's, with {Service URL}/v{version} replaced by the local URL. Two typos of
the published tutorial are corrected: the series-metadata URL lacks a '/' after 'studies', and the
study delete reads 'curl--request' with a truncated study UID.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pydicom
import pytest

from tests.dicom_factory import TUTORIAL
from tests.entra import OWNER
from tests.multipart_split import split

STUDY = "1.2.826.0.1.3680043.8.498.13230779778012324449356534479549187420"
SERIES = "1.2.826.0.1.3680043.8.498.45787841905473114233124723359129632652"
RED = "1.2.826.0.1.3680043.8.498.47359123102728459884412887463296905395"
GREEN = "1.2.826.0.1.3680043.8.498.12714725698140337137334606354172323212"
BLUE = "1.2.826.0.1.3680043.8.498.13273713909719068980354078852867170114"
DICOMS = str(TUTORIAL)


class Curl:
    def __init__(self, workdir: Path, token: str | None) -> None:
        self.workdir = workdir
        self.token = token

    def __call__(self, *arguments: str) -> tuple[int, dict[str, str], bytes]:
        """Run curl with the tutorial's arguments; return status, response headers and body."""
        headers_file, body_file = self.workdir / "headers.txt", self.workdir / "body.out"
        extra = ["--silent", "--show-error", "--dump-header", str(headers_file)]
        if self.token:  # as the tutorial writes it: --header "Authorization: Bearer {token value}"
            extra += ["--header", f"Authorization: Bearer {self.token}"]
        if "--output" not in arguments:
            extra += ["--output", str(body_file)]
        result = subprocess.run(
            ["curl", *arguments, *extra, "--write-out", "%{http_code}"],
            cwd=self.workdir,
            capture_output=True,
            text=True,
            check=True,
        )
        output = (
            Path(self.workdir / arguments[arguments.index("--output") + 1]) if "--output" in arguments else body_file
        )
        headers = {}
        for line in headers_file.read_text().splitlines()[1:]:
            if ": " in line:
                name, value = line.split(": ", 1)
                headers[name.lower()] = value
        return int(result.stdout), headers, output.read_bytes() if output.exists() else b""


@pytest.fixture(scope="module", params=["auth off", "auth on"])
def auth(request: pytest.FixtureRequest) -> str:
    """The whole tutorial runs twice: as `make run` serves it, and secured with an owner's token."""
    return request.param


@pytest.fixture(scope="module")
def curl(tmp_path_factory: pytest.TempPathFactory, auth: str, request: pytest.FixtureRequest) -> Curl:
    token = request.getfixturevalue("signing_key").token([OWNER]) if auth == "auth on" else None
    return Curl(tmp_path_factory.mktemp("curl"), token)


@pytest.fixture(scope="module")
def url(auth: str, request: pytest.FixtureRequest) -> str:
    service = request.getfixturevalue("secured_service" if auth == "auth on" else "service")
    return f"{service.url}/v1"


def stored_sop_uids(body: bytes) -> list[str]:
    response = json.loads(body)
    return [item["00081155"]["Value"][0] for item in response["00081199"]["Value"]]


# The tutorial's three store requests; its upsert section repeats them with PUT.
def store_multipart(curl: Curl, url: str, method: str) -> tuple[int, dict[str, str], bytes]:
    return curl(
        "--location", "--request", method, f"{url}/studies",
        "--header", "Accept: application/dicom+json",
        "--header", 'Content-Type: multipart/related; type="application/dicom"',
        "--form", f"file1=@{DICOMS}/red-triangle.dcm;type=application/dicom",
        "--trace-ascii", "trace.txt",
    )  # fmt: skip


def store_for_study(curl: Curl, url: str, method: str) -> tuple[int, dict[str, str], bytes]:
    return curl(
        "--request", method, f"{url}/studies/{STUDY}",
        "--header", "Accept: application/dicom+json",
        "--header", 'Content-Type: multipart/related; type="application/dicom"',
        "--form", f"file1=@{DICOMS}/blue-circle.dcm;type=application/dicom",
    )  # fmt: skip


def store_single(curl: Curl, url: str, method: str) -> tuple[int, dict[str, str], bytes]:
    return curl(
        "--location", "--request", method, f"{url}/studies",
        "--header", "Accept: application/dicom+json",
        "--header", "Content-Type: application/dicom",
        "--data-binary", f"@{DICOMS}/green-square.dcm",
    )  # fmt: skip


def test_01_store_instances_using_multipart_related(curl: Curl, url: str) -> None:
    status, _, body = store_multipart(curl, url, "POST")
    assert status == 200
    assert stored_sop_uids(body) == [RED]


def test_02_store_instances_for_a_specific_study(curl: Curl, url: str) -> None:
    status, _, body = store_for_study(curl, url, "POST")
    assert status == 200
    assert stored_sop_uids(body) == [BLUE]
    assert json.loads(body)["00081190"]["Value"] == [f"{url}/studies/{STUDY}"]


def test_03_store_single_instance(curl: Curl, url: str) -> None:
    status, _, body = store_single(curl, url, "POST")
    assert status == 200
    assert stored_sop_uids(body) == [GREEN]


def test_04_upsert_instances_using_multipart_related(curl: Curl, url: str) -> None:
    status, _, body = store_multipart(curl, url, "PUT")
    assert status == 200
    assert stored_sop_uids(body) == [RED]


def test_05_upsert_instances_for_a_specific_study(curl: Curl, url: str) -> None:
    status, _, body = store_for_study(curl, url, "PUT")
    assert status == 200
    assert stored_sop_uids(body) == [BLUE]


def test_06_upsert_single_instance(curl: Curl, url: str) -> None:
    status, _, body = store_single(curl, url, "PUT")
    assert status == 200
    assert stored_sop_uids(body) == [GREEN]


def test_07_retrieve_all_instances_within_a_study(curl: Curl, url: str) -> None:
    status, headers, body = curl(
        "--request",
        "GET",
        f"{url}/studies/{STUDY}",
        "--header",
        'Accept: multipart/related; type="application/dicom"; transfer-syntax=*',
        "--output",
        "suppressWarnings.txt",
    )
    assert status == 200
    parts = split(body, headers["content-type"])
    assert len(parts) == 3
    originals = {p.name: p.read_bytes()[128:] for p in TUTORIAL.glob("*.dcm")}
    # Byte for byte as stored, preamble aside (it is zeroed on store).
    assert sorted(content[128:] for _, content in parts) == sorted(originals.values())
    assert all(part_headers["content-type"].startswith("application/dicom") for part_headers, _ in parts)


def test_08_retrieve_metadata_of_all_instances_in_study(curl: Curl, url: str) -> None:
    status, _, body = curl(
        "--request",
        "GET",
        f"{url}/studies/{STUDY}/metadata",
        "--header",
        "Accept: application/dicom+json",
    )
    assert status == 200
    metadata = json.loads(body)
    assert sorted(item["00080018"]["Value"][0] for item in metadata) == sorted([RED, GREEN, BLUE])
    assert all("Value" not in item["7FE00010"] for item in metadata), "pixel data is referenced, not inlined"


def test_09_retrieve_all_instances_within_a_series(curl: Curl, url: str) -> None:
    status, headers, body = curl(
        "--request",
        "GET",
        f"{url}/studies/{STUDY}/series/{SERIES}",
        "--header",
        'Accept: multipart/related; type="application/dicom"; transfer-syntax=*',
        "--output",
        "suppressWarnings.txt",
    )
    assert status == 200
    assert len(split(body, headers["content-type"])) == 2


def test_10_retrieve_metadata_of_all_instances_within_a_series(curl: Curl, url: str) -> None:
    status, _, body = curl(
        "--request",
        "GET",
        f"{url}/studies/{STUDY}/series/{SERIES}/metadata",
        "--header",
        "Accept: application/dicom+json",
    )
    assert status == 200
    assert sorted(item["00080018"]["Value"][0] for item in json.loads(body)) == sorted([RED, GREEN])


def test_11_retrieve_a_single_instance_within_a_series_of_a_study(curl: Curl, url: str) -> None:
    status, headers, body = curl(
        "--request",
        "GET",
        f"{url}/studies/{STUDY}/series/{SERIES}/instances/{RED}",
        "--header",
        "Accept: application/dicom; transfer-syntax=*",
        "--output",
        "suppressWarnings.txt",
    )
    assert status == 200
    assert headers["content-type"].startswith("application/dicom")
    assert body[:128] == bytes(128)
    assert body[128:] == (TUTORIAL / "red-triangle.dcm").read_bytes()[128:]


def test_12_retrieve_metadata_of_a_single_instance(curl: Curl, url: str) -> None:
    status, _, body = curl(
        "--request",
        "GET",
        f"{url}/studies/{STUDY}/series/{SERIES}/instances/{RED}/metadata",
        "--header",
        "Accept: application/dicom+json",
    )
    assert status == 200
    (metadata,) = json.loads(body)
    assert metadata["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "Anony Mous"}]}
    assert metadata["00080018"]["Value"] == [RED]


def test_13_retrieve_one_or_more_frames_from_a_single_instance(curl: Curl, url: str) -> None:
    status, headers, body = curl(
        "--request",
        "GET",
        f"{url}/studies/{STUDY}/series/{SERIES}/instances/{RED}/frames/1",
        "--header",
        'Accept: multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1',
        "--output",
        "suppressWarnings.txt",
    )
    assert status == 200
    ((part_headers, frame),) = split(body, headers["content-type"])
    assert part_headers["content-type"].startswith("application/octet-stream")
    original = pydicom.dcmread(TUTORIAL / "red-triangle.dcm")
    frame_length = original.Rows * original.Columns * original.SamplesPerPixel  # 8-bit RGB
    assert len(frame) == frame_length
    # The element's value has one more byte: the padding of an odd length, which no frame includes.
    assert frame == original.PixelData[:frame_length]


@pytest.mark.parametrize(
    "path",
    [
        f"studies?StudyInstanceUID={STUDY}",
        f"series?SeriesInstanceUID={SERIES}",
        f"studies/{STUDY}/series?SeriesInstanceUID={SERIES}",
        f"instances?SOPInstanceUID={RED}",
        f"studies/{STUDY}/instances?SOPInstanceUID={RED}",
        f"studies/{STUDY}/series/{SERIES}/instances?SOPInstanceUID={RED}",
    ],
)
def test_14_search_finds_exactly_one_match(curl: Curl, url: str, path: str) -> None:
    status, _, body = curl("--request", "GET", f"{url}/{path}", "--header", "Accept: application/dicom+json")
    assert status == 200
    (match,) = json.loads(body)
    key, _, value = path.rpartition("?")[2].partition("=")
    tag = {"StudyInstanceUID": "0020000D", "SeriesInstanceUID": "0020000E", "SOPInstanceUID": "00080018"}[key]
    assert match[tag]["Value"] == [value]


def test_15_delete_a_specific_instance_within_a_study_and_series(curl: Curl, url: str) -> None:
    status, _, _ = curl("--request", "DELETE", f"{url}/studies/{STUDY}/series/{SERIES}/instances/{RED}")
    assert status == 204
    status, _, _ = curl("--request", "GET", f"{url}/instances?SOPInstanceUID={RED}")
    assert status == 204


def test_16_delete_a_specific_series_within_a_study(curl: Curl, url: str) -> None:
    status, _, _ = curl("--request", "DELETE", f"{url}/studies/{STUDY}/series/{SERIES}")
    assert status == 204
    status, _, _ = curl("--request", "GET", f"{url}/studies/{STUDY}/series/{SERIES}/metadata")
    assert status == 404


def test_17_delete_a_specific_study(curl: Curl, url: str) -> None:
    status, _, _ = curl("--request", "DELETE", f"{url}/studies/{STUDY}")
    assert status == 204
    status, _, _ = curl("--request", "GET", f"{url}/studies?StudyInstanceUID={STUDY}")
    assert status == 204
