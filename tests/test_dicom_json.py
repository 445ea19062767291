"""Unit tests of DICOM JSON from headers and of header parsing at store time."""

from __future__ import annotations

import io

import pytest
from pydicom import Dataset
from pydicom.sequence import Sequence

from dicom.dicom_json import INLINE_BINARY_LIMIT, dataset_to_json
from dicom.errors import InstanceFailure
from dicom.parsing import parse_instance
from dicom.values import name_words, normalize_person_name
from dicomweb_wire.reasons import PROCESSING_FAILURE
from tests.dicom_factory import TUTORIAL, make_instance


def test_binary_values_without_file_positions_are_inline_up_to_the_limit_at_every_depth() -> None:
    dataset = Dataset()
    dataset.PatientName = "Doe^John"
    dataset.add_new(0x00091010, "OB", b"\x00\x01")
    dataset.add_new(0x00091012, "OB", bytes(INLINE_BINARY_LIMIT + 2))
    item = Dataset()
    item.CodeValue = "123"
    item.add_new(0x00091011, "UN", b"\x02\x03")
    dataset.add_new(0x00400260, "SQ", Sequence([item]))
    result = dataset_to_json(dataset)
    assert result["00091010"] == {"vr": "OB", "InlineBinary": "AAE="}
    assert "00091012" not in result
    assert result["00400260"]["Value"] == [
        {"00080100": {"vr": "SH", "Value": ["123"]}, "00091011": {"vr": "UN", "InlineBinary": "AgM="}}
    ]
    assert result["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "Doe^John"}]}


def test_words_of_a_big_endian_file_are_not_inline() -> None:
    dataset = Dataset()
    dataset.add_new(0x00091010, "OW", b"\x00\x01")
    dataset.add_new(0x00091011, "OB", b"\x00\x01")
    assert list(dataset_to_json(dataset, little_endian=False)) == ["00091011"]


def test_empty_values_keep_their_vr() -> None:
    dataset = Dataset()
    dataset.AccessionNumber = ""
    assert dataset_to_json(dataset)["00080050"] == {"vr": "SH"}


def test_person_names_normalize_case_accents_and_separators() -> None:
    assert normalize_person_name("Müller^Jöhn^^Dr") == "muller john dr"
    assert name_words("O'Brien^Séan") == ["o'brien", "sean"]


def test_parse_records_uids_syntax_and_the_native_frame_layout() -> None:
    data = make_instance(rows=3, columns=2, frames=5)
    parsed = parse_instance(io.BytesIO(data), len(data))
    assert parsed.transfer_syntax == "1.2.840.10008.1.2.1"
    assert parsed.frames is not None
    assert (parsed.frames.length, parsed.frames.count) == (12, 5)
    offset, length = parsed.frames.byte_range(5)
    assert data[offset : offset + length] == data[-12:]


def test_parse_of_a_tutorial_file_needs_no_pixel_data_in_memory() -> None:
    data = (TUTORIAL / "red-triangle.dcm").read_bytes()
    parsed = parse_instance(io.BytesIO(data), len(data))
    assert parsed.frames is not None and parsed.frames.length == 979 * 985 * 3
    assert set(parsed.metadata["7FE00010"]) == {"vr", "BulkDataURI"}, "a reference, never the pixels"
    assert parsed.bulk["7FE00010"] == (parsed.frames.offset, 979 * 985 * 3)


def test_a_file_without_the_dicm_prefix_is_a_processing_failure() -> None:
    with pytest.raises(InstanceFailure) as failure:
        parse_instance(io.BytesIO(b"\x00" * 300), 300)
    assert failure.value.reason == PROCESSING_FAILURE
