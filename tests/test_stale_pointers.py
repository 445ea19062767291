"""Which lookup pointers a search may remove: only those whose target no longer carries their value.

A pointer is judged against the key the target's current value would produce, not against the whole
query: a word pointer found by a fuzzy or wildcard search is valid even when the full query fails.
"""

from __future__ import annotations

from shared.dicom_json import BY_KEYWORD, Level
from shared.index import ALL_STUDIES, Pointer, all_studies_key, pointer_keys, word_partition
from shared.search import Row, _condition, _stale

STUDY = "1.2.3"


def name(value: str) -> dict:
    return {"00100010": {"vr": "PN", "Value": [{"Alphabetic": value}]}}


def word_pointer(word: str) -> Pointer:
    attribute = BY_KEYWORD["PatientName"]
    keys = dict(pointer_keys(attribute, name(f"{word}^X")["00100010"], STUDY))
    partition = word_partition(attribute, word)
    assert keys[partition].startswith(word)
    return Pointer((STUDY,), {"PartitionKey": partition, "RowKey": keys[partition]})


def test_a_word_pointer_is_live_when_the_full_fuzzy_query_does_not_match() -> None:
    driver = _condition(BY_KEYWORD["PatientName"], "jo smi", fuzzy=True)
    rows = [Row((STUDY,), "1", name("Smith^Anna"))]
    assert _stale([word_pointer("smith")], rows, driver, Level.STUDY) == []


def test_a_word_pointer_is_live_when_a_wildcard_query_does_not_match() -> None:
    driver = _condition(BY_KEYWORD["PatientName"], "smith^b*", fuzzy=False)
    rows = [Row((STUDY,), "1", name("Smith^Anna"))]
    assert _stale([word_pointer("smith")], rows, driver, Level.STUDY) == []


def test_a_word_pointer_is_stale_when_the_name_changed() -> None:
    driver = _condition(BY_KEYWORD["PatientName"], "smi", fuzzy=True)
    pointer = word_pointer("smith")
    assert _stale([pointer], [Row((STUDY,), "1", name("Jones^Anna"))], driver, Level.STUDY) == [pointer]


def test_a_pointer_to_a_target_that_no_longer_exists_is_stale() -> None:
    driver = _condition(BY_KEYWORD["PatientName"], "smi", fuzzy=True)
    pointer = word_pointer("smith")
    assert _stale([pointer], [], driver, Level.STUDY) == [pointer]


def test_an_exact_pointer_is_stale_only_when_its_value_changed() -> None:
    attribute = BY_KEYWORD["PatientID"]
    (key,) = pointer_keys(attribute, {"vr": "LO", "Value": ["ID1"]}, STUDY)
    pointer = Pointer((STUDY,), {"PartitionKey": key[0], "RowKey": key[1]})
    driver = _condition(attribute, "ID1", fuzzy=False)
    same = {"00100020": {"vr": "LO", "Value": ["ID1"]}}
    changed = {"00100020": {"vr": "LO", "Value": ["ID2"]}}
    assert _stale([pointer], [Row((STUDY,), "1", same)], driver, Level.STUDY) == []
    assert _stale([pointer], [Row((STUDY,), "1", changed)], driver, Level.STUDY) == [pointer]


def test_series_pointers_are_not_judged_from_study_rows() -> None:
    attribute = BY_KEYWORD["Modality"]
    (key,) = pointer_keys(attribute, {"vr": "CS", "Value": ["CT"]}, f"{STUDY}|4.5")
    pointer = Pointer((STUDY, "4.5"), {"PartitionKey": key[0], "RowKey": key[1]})
    driver = _condition(BY_KEYWORD["ModalitiesInStudy"], "CT", fuzzy=False)
    assert _stale([pointer], [Row((STUDY,), "1", {})], driver, Level.STUDY) == []


def study_pointer(created: str | None) -> Pointer:
    return Pointer((STUDY,), {"PartitionKey": ALL_STUDIES, "RowKey": all_studies_key(STUDY, created)})


def test_a_study_pointer_is_live_when_keyed_by_the_studys_creation_or_by_its_uid_alone() -> None:
    rows = [Row((STUDY,), "00000000000000000042", {})]
    pointers = [study_pointer("00000000000000000042"), study_pointer(None)]
    assert _stale(pointers, rows, None, Level.STUDY) == []


def test_a_study_pointer_with_another_creation_time_is_stale() -> None:
    # Written by a store that lost the race to create the study: its time is not the study's.
    pointer = study_pointer("00000000000000000041")
    assert _stale([pointer], [Row((STUDY,), "00000000000000000042", {})], None, Level.STUDY) == [pointer]


def test_series_rows_judge_study_pointers_only_by_their_studys_presence() -> None:
    # A series row carries the series' update time, not the study's creation: it must not condemn the pointer.
    pointer = study_pointer("00000000000000000042")
    assert _stale([pointer], [Row((STUDY, "4.5"), "00000000000000000099", {})], None, Level.SERIES) == []
    assert _stale([pointer], [], None, Level.SERIES) == [pointer]
