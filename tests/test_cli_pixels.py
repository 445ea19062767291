"""`dicomweb frames` and `dicomweb rendered` from the installed command against the local host on Azurite."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from tests.dicom_factory import frame_bytes, make_instance
from tests.test_cli import run


@pytest.fixture()
def multiframe(base_url: str, tmp_path: Path) -> list[str]:
    """A stored 3-frame 4x4 instance: its study, series and instance UIDs."""
    uids = [generate_uid(), generate_uid(), generate_uid()]
    path = tmp_path / "multiframe.dcm"
    path.write_bytes(make_instance(*uids, rows=4, columns=4, frames=3))
    assert run(base_url, "upload", str(path)).returncode == 0
    return uids


def test_frames_writes_each_frame_asked_for_as_stored(multiframe: list[str], base_url: str, tmp_path: Path) -> None:
    out = tmp_path / "frames"
    result = run(base_url, "frames", *multiframe, "--frames", "1,3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert {path.name: path.read_bytes() for path in out.iterdir()} == {
        "frame-1.raw": frame_bytes(4, 4, 1),
        "frame-3.raw": frame_bytes(4, 4, 3),
    }


def test_a_frame_that_does_not_exist_exits_4_and_writes_nothing(
    multiframe: list[str], base_url: str, tmp_path: Path
) -> None:
    result = run(base_url, "frames", *multiframe, "--frames", "7", "--out", str(tmp_path / "frames"))
    assert result.returncode == 4, result.stderr
    assert not (tmp_path / "frames").exists()


@pytest.mark.parametrize(
    ("arguments", "signature"), [(["--format", "png"], b"\x89PNG"), (["--frame", "2"], b"\xff\xd8")]
)
def test_rendered_writes_an_image_of_the_instance_or_a_frame(
    multiframe: list[str], base_url: str, tmp_path: Path, arguments: list[str], signature: bytes
) -> None:
    image = tmp_path / "image"
    result = run(base_url, "rendered", *multiframe, *arguments, "--out", str(image))
    assert result.returncode == 0, result.stderr
    assert image.read_bytes().startswith(signature)
