"""Unit tests of Content-Type and Accept parsing as real clients write them."""

from __future__ import annotations

from dicomweb_wire.mediatypes import parse_accept, parse_media_type


def test_quoted_and_unquoted_type_parameters_are_equal() -> None:
    quoted = parse_media_type('multipart/related; type="application/dicom"; boundary=abc')
    unquoted = parse_media_type("multipart/related; type=application/dicom; boundary=abc")
    assert quoted == unquoted
    assert quoted.related_type == "application/dicom"


def test_trailing_semicolon_is_ignored() -> None:
    media_type = parse_media_type('multipart/related; type="application/octet-stream";')
    assert media_type.params == {"type": "application/octet-stream"}


def test_names_are_case_insensitive_values_kept() -> None:
    media_type = parse_media_type("Multipart/Related; Boundary=AbC")
    assert (media_type.type, media_type.params["boundary"]) == ("multipart/related", "AbC")


def test_accept_is_ordered_by_q_keeping_order_on_ties() -> None:
    ranges = parse_accept("application/dicom;q=0.5, multipart/related; type=application/dicom, */*;q=0.5")
    assert [r.type for r in ranges] == ["multipart/related", "application/dicom", "*/*"]


def test_commas_inside_quotes_do_not_split_accept() -> None:
    (media_range,) = parse_accept('multipart/related; type="a,b"')
    assert media_range.params["type"] == "a,b"


def test_transfer_syntax_parameter() -> None:
    (media_range,) = parse_accept("application/dicom; transfer-syntax=*")
    assert media_range.transfer_syntax == "*"


def test_q_zero_means_not_acceptable() -> None:
    assert parse_accept("application/dicom;q=0") == []


def test_missing_accept_is_empty() -> None:
    assert parse_accept(None) == [] and parse_accept("  ") == []
