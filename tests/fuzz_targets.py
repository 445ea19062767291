"""Fuzz targets: arbitrary bytes into every parser that meets user input. Only a clear rejection (an error
the runner answers with a 4xx, or a DICOM failure reason for one instance) may escape; anything else is a
finding.

Used by the hypothesis tests (tests/test_hostile_input.py) and by atheris (coverage-guided):
    python -m tests.fuzz_targets TARGET [libFuzzer options, e.g. -runs=5000 or -max_total_time=60]
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from api.qido.query import parse_query
from dicom.attributes import Level
from dicom.errors import InstanceFailure
from dicom.parsing import parse_instance
from dicomweb_wire.mediatypes import parse_accept, parse_media_type
from dicomweb_wire.multipart import read_parts
from shared.problems import problem_of


def _rejected(error: Exception) -> None:
    """A parser may refuse input only with an error the runner answers with a 4xx."""
    problem = problem_of(error)
    if problem is None or not 400 <= problem.status < 500:
        raise AssertionError(f"a parser failed with {type(error).__name__}: {error}") from error


async def _chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def multipart(data: bytes) -> None:
    """First byte: chunk size; second: whether the boundary is given; the rest: the body."""
    if len(data) < 2:
        return
    size, boundary = data[0] + 1, ("b0undary" if data[1] % 2 else None)

    async def read() -> None:
        async for part in read_parts(_chunks(data[2:], size), boundary):
            assert part.size == len(part.file.read())
            part.close()

    try:
        asyncio.run(read())
    except Exception as error:
        _rejected(error)


def media_types(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    for parse in (parse_media_type, parse_accept):
        try:
            parse(text)
        except Exception as error:
            _rejected(error)


def query(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    for level in Level:
        try:
            parse_query(text, level)
        except Exception as error:
            _rejected(error)


PREFIX = b"\0" * 128 + b"DICM"


def dicom(data: bytes) -> None:
    """`data` is a Part 10 file after its preamble and prefix (so mutations reach the parser)."""
    with contextlib.suppress(InstanceFailure):
        parse_instance(io.BytesIO(PREFIX + data), len(PREFIX) + len(data))


TARGETS: dict[str, Callable[[bytes], None]] = {
    "multipart": multipart,
    "media_types": media_types,
    "query": query,
    "dicom": dicom,
}


def seeds(target: str) -> list[bytes]:
    """Valid inputs for mutation to start from."""
    from tests.dicom_factory import make_instance

    instance = make_instance(PatientName="Müller^Jürgen", rows=2, columns=2)
    return {
        "multipart": [
            b"\x07\x01--b0undary\r\nContent-Type: application/dicom\r\n\r\nDICM\r\n--b0undary--\r\n",
            b"\x40\x00--x\r\n\r\n" + instance + b"\r\n--x\r\n\r\nsecond\r\n--x--",
        ],
        "media_types": [
            b'multipart/related; type="application/dicom"; transfer-syntax=*; q=0.5, application/dicom;q=1',
            b"image/jpeg; q=0.9, */*",
        ],
        "query": [
            b"PatientName=doe*&fuzzymatching=true&includefield=all&limit=10&offset=2",
            b"StudyDate=20200101-20201231&ModalitiesInStudy=CT,MR&00100020=ID1",
        ],
        "dicom": [instance[len(PREFIX) :], _encapsulated_seed()[len(PREFIX) :]],
    }[target]


def _encapsulated_seed() -> bytes:
    """Three JPEG-LS frames in two fragments each, no offset table: the fragment walk and the frame markers."""
    import pydicom
    from pydicom.encaps import encapsulate, generate_frames

    from tests.dicom_factory import make_instance

    dataset = pydicom.dcmread(io.BytesIO(make_instance(rows=16, columns=16, frames=3)))
    dataset.compress("1.2.840.10008.1.2.4.80", generate_instance_uid=False)
    frames = list(generate_frames(dataset.PixelData, number_of_frames=3))
    dataset.PixelData = encapsulate(frames, fragments_per_frame=2, has_bot=False)
    output = io.BytesIO()
    dataset.save_as(output, enforce_file_format=True)
    return output.getvalue()


INSTRUMENTED = ("dicomweb_wire.multipart", "dicomweb_wire.mediatypes", "dicomweb_wire.uids", "api.qido.query",
                "dicom.parsing", "dicom.layout", "dicom.validation", "dicom.dicom_json", "python_multipart.multipart",
                "pydicom.filereader", "pydicom.values")  # fmt: skip


def _instrument(atheris: object) -> None:
    """Coverage for the parsers only: instrumenting every loaded module (numpy, pydicom...) takes minutes."""
    import inspect

    for name in INSTRUMENTED:
        for _, value in inspect.getmembers(sys.modules[name]):
            functions = [value] if inspect.isfunction(value) else []
            if inspect.isclass(value) and value.__module__ == name:
                functions = [f for _, f in inspect.getmembers(value, inspect.isfunction)]
            for function in functions:
                if function.__module__ == name:
                    atheris.instrument_func(function)  # type: ignore[attr-defined]


def main() -> None:
    import atheris

    target_name, options = sys.argv[1], sys.argv[2:]
    target = TARGETS[target_name]
    corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{target_name}-"))
    for number, seed in enumerate(seeds(target_name)):
        (corpus / f"seed{number}").write_bytes(seed)
    _instrument(atheris)
    atheris.Setup([sys.argv[0], *options, str(corpus)], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
