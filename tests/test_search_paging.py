"""A broad study search (a common name prefix, a modality over a month) reads its candidates newest first and
stops once its page is surely complete, instead of reading every candidate's row before paging.

Its own archive and host, with DICOM_CLOCK_SKEW_SECONDS=0: Azurite and the host share this machine's clock, and
the studies are stored one after another, so each study is created after the previous one's pointer was written.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from local.azurite import Azurite
from tests.archive import Archive
from tests.conftest import LocalHost
from tests.dicom_factory import make_instance
from tests.helpers import store, values

STUDIES = 40


@pytest.fixture(scope="module")
def host(azurite: Azurite) -> Iterator[LocalHost]:
    archive = Archive(azurite)
    service = LocalHost(azurite.connection_string, **archive.settings, DICOM_CLOCK_SKEW_SECONDS="0")
    try:
        with httpx.Client(timeout=60) as client:
            for number in range(STUDIES):  # one request each: one creation time each, oldest first
                files = [make_instance(PatientName=f"Mulder{number:02d}^Fox")]
                assert store(client, f"{service.url}/v2/studies", files).status_code == 200
        yield service
    finally:
        service.stop()


def page(client: httpx.Client, host: LocalHost, limit: int, offset: int = 0) -> tuple[list[str], int]:
    """The patient names of one page of the fuzzy search, and the table entities it read."""
    params = {"PatientName": "Mulder", "fuzzymatching": "true", "limit": str(limit), "offset": str(offset)}
    response = client.get(f"{host.url}/v2/studies", params=params, headers={"Accept": "application/dicom+json"})
    assert response.status_code == 200, response.text
    names = [values(result, "00100010")[0]["Alphabetic"] for result in response.json()]
    return names, int(response.headers["X-Table-Entities-Read"])


def test_a_broad_fuzzy_name_search_lists_every_match_newest_first(client: httpx.Client, host: LocalHost) -> None:
    names, _ = page(client, host, limit=200)
    assert names == [f"Mulder{number:02d}^Fox" for number in reversed(range(STUDIES))]


def test_a_page_of_a_broad_search_reads_the_pointers_and_about_twice_the_page_of_rows(
    client: httpx.Client, host: LocalHost
) -> None:
    names, entities = page(client, host, limit=3)
    assert names == ["Mulder39^Fox", "Mulder38^Fox", "Mulder37^Fox"]
    assert entities <= STUDIES + 8, "the 40 pointers and the first wave of 8 rows, not all 40 rows"


def test_a_later_page_of_a_broad_search_continues_exactly_where_the_first_ended(
    client: httpx.Client, host: LocalHost
) -> None:
    names, entities = page(client, host, limit=3, offset=3)
    assert names == ["Mulder36^Fox", "Mulder35^Fox", "Mulder34^Fox"]
    assert entities <= STUDIES + 12
