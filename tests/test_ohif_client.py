"""The OHIF viewer's own DICOMweb client (npm dicomweb-client, run with node) against the local host."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import httpx
from pydicom.uid import generate_uid

from tests.dicom_factory import frame_bytes, make_instance
from tests.helpers import store

SCRIPT = Path(__file__).with_name("ohif_client.js")


def test_the_ohif_client_lists_studies_and_loads_metadata_and_frames(client: httpx.Client, base_url: str) -> None:
    study, series, multiframe = generate_uid(), generate_uid(), generate_uid()
    patient = f"OHIF-{generate_uid()[-8:]}"
    name = f"Ohifwalker{generate_uid()[-6:]}^Anna"
    files = [make_instance(study, series, multiframe, frames=3, PatientID=patient, PatientName=name, InstanceNumber=1),
             make_instance(study, series, PatientID=patient, PatientName=name, InstanceNumber=2)]  # fmt: skip
    assert store(client, f"{base_url}/studies", files).status_code == 200
    node = shutil.which("node")
    assert node, "node is needed (installed with npm by make)"
    result = subprocess.run([node, str(SCRIPT), base_url, patient, name[:7].lower(), study, series, multiframe],
                            capture_output=True, text=True, timeout=120, cwd=SCRIPT.parent.parent)  # fmt: skip
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["studies"] == [study]
    assert seen["studiesByName"] == [study], "a typed name prefix finds the study"
    assert seen["instancesInStudy"] == [2]
    assert seen["series"] == [series]
    assert len(seen["metadata"]) == 2 and multiframe in seen["metadata"]
    assert [base64.b64decode(f) for f in seen["frameBytes"]] == [frame_bytes(4, 4, 2), frame_bytes(4, 4, 3)]
