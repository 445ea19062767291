"""Reading only as many of a broad search's candidates as its page needs, newest first.

A study search driven by a lookup partition with many candidates (a common name prefix, a modality over a
month) would read every candidate's row before sorting and paging. A study's pointer is written when the study
is (or just before, on the same clocks), so a candidate's study was created no later than its pointer's write
time plus the clocks' difference. Reading candidates newest pointer first, a search can stop once it holds a
page of matches all created after the next unread pointer was written (plus DICOM_CLOCK_SKEW_SECONDS): no unread
study can come before them.
"""

from __future__ import annotations

from collections.abc import Callable

from archive.clients import Storage
from archive.lookup import Pointer
from dicom.attributes import Level
from shared.settings import clock_skew_seconds

from .results import Row, rows_of

UNKNOWN = 2**63 - 1
FIRST_READ = 8  # candidates read in the first wave, or twice the page; each later wave twice the one before


async def newest_studies_of(
    storage: Storage, pointers: list[Pointer], wanted: int, keep: Callable[[Row], bool]
) -> tuple[list[Row], list[Pointer]]:
    """Study rows of the candidates, newest pointer first, until the first `wanted` rows that `keep` accepts
    in result order (newest first) are surely among them; and the pointers whose targets were read."""
    ordered = sorted(pointers, key=_written_ns, reverse=True)
    rows: list[Row] = []
    kept_created: list[int] = []
    read = 0
    wave, skew_ns = max(FIRST_READ, 2 * wanted), int(clock_skew_seconds() * 1e9)
    while read < len(ordered):
        batch = ordered[read : read + wave]
        read += len(batch)
        wave *= 2
        studies = {(p.target[0],) for p in batch} - {row.key for row in rows}  # a study's several pointers: once
        found = await rows_of(storage, studies, Level.STUDY)
        rows += found
        kept_created += [int(row.updated) for row in found if keep(row)]
        if read < len(ordered):
            unread_before = _written_ns(ordered[read]) + skew_ns
            if sum(1 for created in kept_created if created > unread_before) >= wanted:
                break
    return rows, ordered[:read]


def _written_ns(pointer: Pointer) -> int:
    """When the pointer was written (ns since the epoch); unknown counts as newest, so it is read first."""
    written = pointer.written
    return int(written.timestamp() * 1e9) if written is not None else UNKNOWN
