"""QIDO-RS: a search reads the candidates of one lookup partition (or the study in the path), verifies each
against every condition, and pages the results newest first."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from archive import extended_tags, lookup
from archive.clients import Storage, get_storage, start_counting
from archive.lookup import Pointer
from archive.partitions import Partition
from dicom.attributes import ATTRIBUTES, BY_TAG, Attribute, Level
from shared.auth import Access, requires
from shared.negotiation import DICOM_JSON, require_json_accept
from shared.runner import note

from .matching import matches
from .paging import newest_studies_of
from .planner import candidates, choose_driver, driving_attribute
from .query import Condition, Query, parse_query
from .results import Row, Target, rows_of


def returned_tags(query: Query, api_version: str, extended: tuple[Attribute, ...] = ()) -> set[str]:
    visible = [a for a in (*ATTRIBUTES, *extended) if a.level <= query.level]
    if query.include_all:
        return {a.tag for a in visible} | query.include
    # A study's counts describe the study: a series or instance result carries them only when asked for.
    defaults = {
        a.tag
        for a in visible
        if (a.default or (api_version == "v1" and not a.computed)) and not (a.computed and a.level < query.level)
    }
    return defaults | query.include


@requires(Access.READ)
async def search(
    request: Request,
    api_version: str,
    partition: Partition,
    level: Level,
    study: str | None = None,
    series: str | None = None,
) -> Response:
    require_json_accept(request)
    tags = [tag for tag in await extended_tags.all_tags() if tag.searchable]
    extended = tuple(tag.attribute for tag in tags)
    query = parse_query(request.url.query, level, extended)
    scope: Target = tuple(uid for uid in (study, series) if uid is not None)
    counter = start_counting()
    storage = await get_storage(partition.key)
    rows, stale, in_order = await _matching_rows(storage, query, scope)
    if not in_order:
        rows.sort(key=lambda row: row.key)
        rows.sort(key=lambda row: row.updated, reverse=True)  # newest first; ties in UID order (stable sort)
    page = rows[query.offset : query.offset + query.limit]
    if stale:
        await lookup.drop_stale(storage, stale)
    headers = {"X-Table-Entities-Read": str(counter[0])}
    erroneous = [t.path for t in tags if t.errors and any(c.attribute.tag == t.tag for c in query.conditions)]
    if erroneous:  # enabled again after its reindex failed for some instances: results may miss those
        headers["erroneous-dicom-attributes"] = ",".join(erroneous)
    note(results=len(page), entities_read=counter[0])
    if not page:
        return Response(status_code=204, headers=headers)
    returned = sorted(returned_tags(query, api_version, extended))
    # Attributes asked for by name (query keys, includefield) come back empty when a file lacks them.
    asked = {tag: {"vr": BY_TAG[tag].vr} for tag in query.include if tag in BY_TAG and BY_TAG[tag].level <= query.level}
    body = [
        {
            tag: row.attrs[tag] if tag in row.attrs else asked[tag]
            for tag in returned
            if tag in row.attrs or tag in asked
        }
        for row in page
    ]
    return Response(json.dumps(body), media_type=DICOM_JSON, headers=headers)


async def _matching_rows(storage: Storage, query: Query, scope: Target) -> tuple[list[Row], list[Pointer], bool]:
    """The rows that meet every condition, the pointers found stale on the way, and whether the rows are
    already in the order results are paged in."""
    driver = None if scope else choose_driver(query.conditions)
    if driver is None and not scope:
        newest = await _newest_studies(storage, query)
        if newest is not None:
            return *newest, True
    pointers: list[Pointer] = []
    if scope:
        targets = {scope}
    elif driver is not None and driver.attribute.keyword == "StudyInstanceUID":
        targets = {(uid,) for uid in driver.values}
    else:
        pointers = await (candidates(storage, driver) if driver else lookup.all_studies(storage))
        targets = {p.target for p in pointers}

    def keep(row: Row) -> bool:
        return all(matches(c, row.attrs) for c in query.conditions)

    wanted = query.offset + query.limit
    if pointers and driver is not None and query.level == Level.STUDY and len(targets) > 2 * wanted:
        rows, pointers = await newest_studies_of(storage, pointers, wanted, keep)
    else:
        rows = await rows_of(storage, targets, query.level)
    return [row for row in rows if keep(row)], _stale(pointers, rows, driver, query.level), False


async def _newest_studies(storage: Storage, query: Query) -> tuple[list[Row], list[Pointer]] | None:
    """A search no index can drive (none, or unindexed conditions such as OHIF's `*value*`): walk every study
    newest first, a page at a time, reading its rows at the level asked, until the page asked for is full.

    Results come in that order (a study's series or instances by their update, newest first), so pages are
    stable and `/instances?limit=1` reads one study, not the archive. An unfiltered worklist of 101 studies
    reads about 101 pointers and 101 study rows, whatever the archive's size. None when the listing still
    holds studies stored before 2026-11-23, which have no order: then every study is read.
    """
    wanted = query.offset + query.limit
    found: list[Row] = []
    pointers: list[Pointer] = []
    rows: list[Row] = []
    listed: set[str] = set()
    page_size = min(1000, wanted if not query.conditions else max(100, 4 * wanted))  # filters: read ahead
    if query.level != Level.STUDY:
        page_size = min(page_size, 20)  # each study brings all its series or instances
    async for page in lookup.newest_studies(storage, page_size):
        if not all(pointer.in_listing_order for pointer in page):
            return None
        pointers += page
        read = await rows_of(storage, {p.target for p in page}, query.level)
        rows += read
        by_study: dict[str, list[Row]] = {}
        for row in sorted(read, key=lambda row: row.key):
            by_study.setdefault(row.key[0], []).append(row)
        for pointer in page:  # in the listing's order, newest first
            study = pointer.target[0]
            study_rows = sorted(by_study.get(study, []), key=lambda row: row.updated, reverse=True)
            if not study_rows or study in listed:
                continue  # a study since deleted
            if query.level == Level.STUDY and not lookup.is_listing_of(pointer, study, study_rows[0].updated):
                continue  # the listing of a creation that lost a race
            listed.add(study)
            found += [row for row in study_rows if all(matches(c, row.attrs) for c in query.conditions)]
        if len(found) >= wanted:
            break
    return found, _stale(pointers, rows, None, query.level)


def _stale(pointers: list[Pointer], rows: list[Row], driver: Condition | None, level: Level) -> list[Pointer]:
    """Pointers whose target is gone or no longer carries the value they were written for."""
    if driver is None:  # the listing of every study: at study level rows carry each study's creation time
        studies = {row.key[0]: row.updated if level == Level.STUDY else None for row in rows}
        return lookup.stale_listings(pointers, studies)
    return lookup.stale_pointers(pointers, driving_attribute(driver), ((row.key, row.attrs) for row in rows), level)
