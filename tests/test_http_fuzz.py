"""Generated input through the real HTTP stack (the local host): frame lists, render parameters, query strings,
multipart boundaries and path segments of any shape get a 2xx or a 4xx, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.uid import generate_uid

from tests.conftest import LocalHost
from tests.dicom_factory import make_instance, multipart_body
from tests.helpers import RELATED, store

HTTP = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
# Digits of many scripts, signs, separators, spaces and controls: the shapes that once gave 500s.
NUMBERISH = st.text(st.sampled_from([*"0123456789,-+ .eE\t\x1c²٣۴߅०໓", "𝟘"]), max_size=40) | st.text(max_size=40)
ASCII = st.characters(min_codepoint=32, max_codepoint=126)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def instance(http: httpx.Client, service: LocalHost) -> str:
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    response = store(
        http, f"{service.url}/v2/studies", [make_instance(study, series, sop, rows=8, columns=8, frames=3)]
    )
    assert response.status_code == 200
    return f"{service.url}/v2/studies/{study}/series/{series}/instances/{sop}"


def _not_a_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text[:300]


@HTTP
@given(frames=NUMBERISH)
def test_any_frame_list_is_served_or_refused_with_a_4xx(http: httpx.Client, instance: str, frames: str) -> None:
    _not_a_server_error(http.get(f"{instance}/frames/{quote(frames, safe='')}", headers={"Accept": "*/*"}))


@HTTP
@given(quality=NUMBERISH, viewport=NUMBERISH)
def test_any_render_parameters_are_served_or_refused_with_a_4xx(
    http: httpx.Client, instance: str, quality: str, viewport: str
) -> None:
    params = {"quality": quality, "viewport": viewport}
    _not_a_server_error(http.get(f"{instance}/rendered", params=params, headers={"Accept": "image/jpeg"}))


@HTTP
@given(
    key=st.sampled_from(["InstanceNumber", "SeriesNumber", "StudyDate", "PatientName", "limit", "offset",
                         "includefield", "fuzzymatching", "SOPInstanceUID", "00200013"]) | st.text(max_size=20),
    value=NUMBERISH | st.text(max_size=80),
)  # fmt: skip
def test_any_query_parameter_is_answered_or_refused_with_a_4xx(
    http: httpx.Client, service: LocalHost, key: str, value: str
) -> None:
    _not_a_server_error(http.get(f"{service.url}/v2/instances", params={key: value}))


@HTTP
@given(boundary=st.text(ASCII, min_size=1, max_size=70) | st.text(ASCII, min_size=200, max_size=400))
def test_any_multipart_boundary_stores_or_is_refused_with_a_4xx(
    http: httpx.Client, service: LocalHost, boundary: str
) -> None:
    body = multipart_body([make_instance()], boundary)
    headers = {"Content-Type": f'{RELATED}; boundary="{boundary}"'}
    _not_a_server_error(http.post(f"{service.url}/v2/studies", content=body, headers=headers))


@HTTP
@given(segment=st.text(max_size=80))
def test_any_path_segment_in_place_of_a_uid_is_a_4xx(http: httpx.Client, service: LocalHost, segment: str) -> None:
    path = quote(segment, safe="") or "x"
    for url in (f"{service.url}/v2/studies/{path}", f"{service.url}/v2/studies/{path}/series",
                f"{service.url}/v2/studies/1.2/series/{path}/instances/1.3/frames/1"):  # fmt: skip
        _not_a_server_error(http.get(url))
