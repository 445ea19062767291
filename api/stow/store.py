"""STOW-RS: POST stores new instances, PUT upserts. Nothing becomes visible until its index commit."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from archive.blobs import new_version
from archive.clients import Storage, get_storage
from archive.commit import (
    AlreadyStored,
    Commit,
    Prepared,
    StoredConcurrently,
    StoredElsewhere,
    commit_instances,
    prepare,
)
from archive.instance_files import write_version
from archive.journal import STORE, Entry, Item, close_entries, new_request_id, open_entry
from archive.partitions import Partition
from dicom.errors import ArchiveError, InstanceFailure
from dicom.parsing import ParsedInstance, instance_identity, parse_instance
from dicomweb_wire.mediatypes import parse_media_type
from dicomweb_wire.multipart import Part
from dicomweb_wire.reasons import ALREADY_EXISTS, PATIENT_MISMATCH, PROCESSING_FAILURE, STORED_CONCURRENTLY
from shared.auth import Access, requires
from shared.multipart import request_parts, spool_body
from shared.negotiation import DICOM, require_json_accept
from shared.partitions import api_path, creates_partition
from shared.problems import is_outage, storage_unavailable, unsupported_media_type
from shared.runner import note

from .outcome import Outcome, apply_rules
from .response import stow_response

log = logging.getLogger("dicomweb.stow")
# Parts parsed and uploaded while the following ones are still arriving (each spooled to its own file).
STAGED_AT_ONCE = 4


@dataclass
class Staged:
    item: ParsedInstance
    version: str
    entry: Entry
    prepared: Prepared | None = None


@creates_partition
@requires(Access.WRITE)
async def store(
    request: Request, api_version: str, partition: Partition, study: str | None = None, upsert: bool = False
) -> Response:
    study_in_path = study
    require_json_accept(request)
    parts = _parts(request)
    storage = await get_storage(partition.key)
    journal_request = new_request_id()
    staging: list[asyncio.Task[Outcome | Staged]] = []
    try:
        async for part in parts:
            try:
                _check_part_type(part)
            except BaseException:
                part.close()
                raise
            ahead = not staging  # the first part: its commit's reads and pointers go beside its upload
            staging.append(asyncio.create_task(
                _stage_and_close(storage, part, api_version, study_in_path, journal_request, ahead, upsert)
            ))  # fmt: skip
            uploading = [task for task in staging if not task.done()]
            if len(uploading) >= STAGED_AT_ONCE:
                await asyncio.wait(uploading, return_when=asyncio.FIRST_COMPLETED)
        outcomes = [await task for task in staging]
    except BaseException:
        # A bad part or a broken body fails the whole request: remove what was already uploaded.
        finished = await asyncio.gather(*staging, return_exceptions=True)
        await _release(storage, [(s.entry, [s.version]) for s in finished if isinstance(s, Staged)])
        raise
    staged = [outcome for outcome in outcomes if isinstance(outcome, Staged)]
    if not outcomes:
        return Response(status_code=204)
    committed, finished = await _commit(storage, staged, upsert)
    results = [o if isinstance(o, Outcome) else committed[id(o)] for o in outcomes]
    stored = sum(1 for r in results if r.failure is None)
    _log_failures(results)
    note(instances_stored=stored, instances_failed=len(results) - stored,
         bytes_in=sum(s.item.size for s in staged))  # fmt: skip
    response = stow_response(results, api_version, study_in_path, api_path(api_version, partition))
    # Closing the entries of what was stored and recorded waits for no one: the answer goes first. If the host
    # stops before closing them, cleanup finds each version committed and in the feed, and just closes it.
    response.background = BackgroundTask(close_entries, storage, finished)
    return response


def _log_failures(results: list[Outcome]) -> None:
    """Why each instance failed, for the operator. Comments can quote the file's values, so only the part's
    position, the reason code and the cause's type are logged: no UIDs, no patient data."""
    for position, result in enumerate(results, 1):
        if result.failure is not None:
            cause = result.failure.__cause__
            log.warning(
                "store: part %d failed with reason %d (0x%04X), cause %s", position, result.failure.reason,
                result.failure.reason, type(cause).__name__ if cause else "a rule of the standard",
            )  # fmt: skip


def _parts(request: Request) -> AsyncIterator[Part]:
    content_type = request.headers.get("content-type")
    expected = 'multipart/related; type="application/dicom"'
    if not content_type:
        raise unsupported_media_type(f"The request has no Content-Type. Send {expected} or {DICOM}.")
    media_type = parse_media_type(content_type)
    if media_type.type == DICOM:
        return _single(request, content_type)
    if media_type.type == "multipart/related":
        if media_type.related_type not in (None, DICOM):
            raise unsupported_media_type(
                f"Only DICOM files can be stored: the multipart type '{media_type.related_type}' is not supported. "
                f"Send {expected}."
            )
        return request_parts(request, media_type.params.get("boundary"))
    if media_type.type == "multipart/form-data":
        raise unsupported_media_type(
            "multipart/form-data is not a DICOMweb store request, so nothing was stored. With curl --form, add "
            f"--header 'Content-Type: {expected}' (curl then keeps your type and adds the boundary)."
        )
    raise unsupported_media_type(f"Content-Type '{content_type[:100]}' cannot be stored. Send {expected} or {DICOM}.")


async def _single(request: Request, content_type: str) -> AsyncIterator[Part]:
    yield await spool_body(request, content_type)


def _check_part_type(part: Part) -> None:
    if part.content_type is None:
        return
    if parse_media_type(part.content_type).type != DICOM:
        raise unsupported_media_type(
            f"A part has Content-Type '{part.content_type[:100]}'; every part must be {DICOM}. Nothing was stored."
        )


async def _stage_and_close(storage: Storage, part: Part, *arguments: Any) -> Outcome | Staged:
    try:
        return await _stage(storage, part, *arguments)
    finally:
        part.close()


async def _stage(
    storage: Storage, part: Part, api_version: str, study_in_path: str | None, journal_request: str,
    ahead: bool = False, upsert: bool = False,
) -> Outcome | Staged:  # fmt: skip
    """Parse and upload one instance; it stays invisible (no index row) until committed.

    The journal names the version before any byte of it is written, so a crash leaves no orphan.
    """
    try:
        item = await asyncio.to_thread(parse_instance, part.file, part.size)
        apply_rules(item, api_version, study_in_path)
    except InstanceFailure as failure:
        return Outcome(*_identity(part), failure=failure)
    version = new_version()
    metadata_json = json.dumps(item.metadata).encode()
    part.file.seek(0)
    entry = None
    preparing = asyncio.create_task(prepare(storage, item, upsert)) if ahead else None
    try:
        journaled = Item(item.study_uid, item.series_uid, item.sop_uid, version)
        entry = await open_entry(storage, STORE, [journaled], journal_request)
        await write_version(storage, version, part.file, part.size, metadata_json)
    except Exception as error:
        if preparing is not None:
            await preparing
        if entry is not None:
            await _release(storage, [(entry, [version])])
        if is_outage(error):  # nothing of this request is committed yet: the client can simply retry
            raise storage_unavailable() from error
        failure = InstanceFailure(
            PROCESSING_FAILURE, f"The instance could not be written to storage: {type(error).__name__}."
        )
        failure.__cause__ = error
        return Outcome(item.sop_class_uid, item.sop_uid, failure=failure)
    return Staged(item, version, entry, await preparing if preparing is not None else None)


async def _release(storage: Storage, owned: list[tuple[Entry, list[str]]], close: bool = True) -> None:
    """Remove versions that are not kept; an entry closes only once its versions are gone and (close=False)
    the change feed has its change (else cleanup finishes both)."""
    failed = await asyncio.gather(*(storage.delete_versions(*versions) for _, versions in owned))
    if close:
        await close_entries(storage, [entry for (entry, _), left in zip(owned, failed, strict=True) if not left])


def _identity(part: Part) -> tuple[str | None, str | None]:
    """The SOP Class and Instance UIDs of a file that failed, when they can be read at all (never inflating
    or reading more of it than the header up to the SOP Instance UID)."""
    part.file.seek(0)
    return instance_identity(part.file)


async def _commit(storage: Storage, staged: list[Staged], upsert: bool) -> tuple[dict[int, Outcome], list[Entry]]:
    """Commit every staged instance (a study's together), then remove what is not kept, in one pass; also the
    journal entries left only to close."""
    commits = [Commit(s.item, s.entry) for s in staged]
    await commit_instances(storage, commits, upsert, staged[0].prepared if staged else None)
    if commits and all(c.error is not None for c in commits):
        busy = next((c.error for c in commits if isinstance(c.error, ArchiveError) or is_outage(c.error)), None)
        if busy is not None:  # nothing of this request was committed: the client can simply retry
            await _release(storage, [(s.entry, [s.version]) for s in staged])
            if isinstance(busy, ArchiveError):
                raise busy
            raise storage_unavailable() from busy
    outcomes: dict[int, Outcome] = {}
    owned: list[tuple[Entry, list[str]]] = []
    for done, commit in zip(staged, commits, strict=True):
        item = done.item
        outcome = Outcome(item.sop_class_uid, item.sop_uid, item.study_uid, item.series_uid,
                          warnings=item.warnings, comments=item.comments)  # fmt: skip
        if isinstance(commit.error, StoredConcurrently):
            outcome.failure = InstanceFailure(STORED_CONCURRENTLY, "Another request stored the same instance while "
                                              "this one was storing it; use PUT to replace it.")  # fmt: skip
        elif isinstance(commit.error, StoredElsewhere):
            outcome.failure = InstanceFailure(ALREADY_EXISTS, f"SOP Instance UID {item.sop_uid} is already stored in "
                f"study {commit.error.study}, series {commit.error.series}. A SOP Instance UID names one instance, so "
                "it cannot be stored under other parents; give the new instance its own UID, or delete the stored "
                "one first if it was filed under the wrong study.")  # fmt: skip
        elif isinstance(commit.error, AlreadyStored):
            outcome.failure = InstanceFailure(ALREADY_EXISTS, "An instance with the same Study, Series and SOP "
                                              "Instance UIDs is already stored; use PUT to replace it.")  # fmt: skip
        elif commit.error is not None:
            outcome.failure = InstanceFailure(
                PROCESSING_FAILURE, f"The index could not be updated: {type(commit.error).__name__}."
            )
            outcome.failure.__cause__ = commit.error
        if commit.error is None and commit.differing_patient:
            outcome.warnings.append(PATIENT_MISMATCH)
            outcome.comments.append(
                f"{', '.join(commit.differing_patient)} of this instance differ from its study's as already stored: "
                "check that it was sent to the right study. It was stored as sent; searches show the newest values."
            )
        removed = [done.version] if commit.error else [commit.replaced.version] if commit.replaced else []
        owned.append((done.entry, removed))
        outcomes[id(done)] = outcome
    unrecorded = {id(done.entry) for done, commit in zip(staged, commits, strict=True) if commit.unrecorded}
    settled = [o for o in owned if id(o[0]) not in unrecorded]
    await _release(storage, [o for o in settled if o[1]])
    await _release(storage, [o for o in owned if id(o[0]) in unrecorded], close=False)
    return outcomes, [entry for entry, removed in settled if not removed]
