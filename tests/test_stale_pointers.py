"""Which lookup pointers a search may remove: only those whose target no longer carries their value.

A pointer is judged against the key the target's current value would produce, not against the whole
query: a word pointer found by a fuzzy or wildcard search is valid even when the full query fails.
"""

from __future__ import annotations

from archive.lookup import Pointer, listing_key, pointer_keys, stale_listings, stale_pointers
from dicom.attributes import BY_KEYWORD, Level

STUDY = "1.2.3"
PATIENT_NAME, PATIENT_ID, MODALITY = BY_KEYWORD["PatientName"], BY_KEYWORD["PatientID"], BY_KEYWORD["Modality"]


def pointer(target: tuple[str, ...], key: tuple[str, str]) -> Pointer:
    return Pointer(target, key, etag="*", written=None)


def name(value: str) -> dict:
    return {"00100010": {"vr": "PN", "Value": [{"Alphabetic": value}]}}


def word_pointer(word: str) -> Pointer:
    keys = [key for key in pointer_keys(PATIENT_NAME, name(f"{word}^X")["00100010"], (STUDY,)) if "~" in key[0]]
    (key,) = [key for key in keys if key[1].startswith(word[:3] + "!")]
    return pointer((STUDY,), key)


def test_a_word_pointer_is_live_when_the_full_fuzzy_query_does_not_match() -> None:
    # A fuzzy "jo smi" read the word "smith"; Smith^Anna fails the query but still carries the word.
    rows = [((STUDY,), name("Smith^Anna"))]
    assert stale_pointers([word_pointer("smith")], PATIENT_NAME, rows, Level.STUDY) == []


def test_a_word_pointer_is_stale_when_the_name_changed() -> None:
    stale = word_pointer("smith")
    assert stale_pointers([stale], PATIENT_NAME, [((STUDY,), name("Jones^Anna"))], Level.STUDY) == [stale]


def test_a_pointer_to_a_target_that_no_longer_exists_is_stale() -> None:
    stale = word_pointer("smith")
    assert stale_pointers([stale], PATIENT_NAME, [], Level.STUDY) == [stale]


def test_an_exact_pointer_is_stale_only_when_its_value_changed() -> None:
    (key,) = pointer_keys(PATIENT_ID, {"vr": "LO", "Value": ["ID1"]}, (STUDY,))
    exact = pointer((STUDY,), key)
    same = {"00100020": {"vr": "LO", "Value": ["ID1"]}}
    changed = {"00100020": {"vr": "LO", "Value": ["ID2"]}}
    assert stale_pointers([exact], PATIENT_ID, [((STUDY,), same)], Level.STUDY) == []
    assert stale_pointers([exact], PATIENT_ID, [((STUDY,), changed)], Level.STUDY) == [exact]


def test_series_pointers_are_not_judged_from_study_rows() -> None:
    (key,) = pointer_keys(MODALITY, {"vr": "CS", "Value": ["CT"]}, (STUDY, "4.5"))
    series = pointer((STUDY, "4.5"), key)
    assert stale_pointers([series], MODALITY, [((STUDY,), {})], Level.STUDY) == []


def listing(created: str | None) -> Pointer:
    return pointer((STUDY,), listing_key(STUDY, created))


def test_a_study_listing_is_live_when_keyed_by_the_studys_creation_or_by_its_uid_alone() -> None:
    listings = [listing("00000000000000000042"), listing(None)]
    assert stale_listings(listings, {STUDY: "00000000000000000042"}) == []


def test_a_study_listing_with_another_creation_time_is_stale() -> None:
    # Written by a store that lost the race to create the study: its time is not the study's.
    lost = listing("00000000000000000041")
    assert stale_listings([lost], {STUDY: "00000000000000000042"}) == [lost]


def test_rows_below_the_study_judge_listings_only_by_their_studys_presence() -> None:
    # A series row carries the series' update time, not the study's creation: it must not condemn the listing.
    live = listing("00000000000000000042")
    assert stale_listings([live], {STUDY: None}) == []
    assert stale_listings([live], {}) == [live]
