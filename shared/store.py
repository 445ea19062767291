"""STOW-RS: POST stores new instances, PUT upserts. Nothing becomes visible until its index commit."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pydicom
from starlette.requests import Request
from starlette.responses import Response

from .auth import Access, requires
from .config import Settings
from .dicom_file import (
    ALREADY_EXISTS,
    PROCESSING_FAILURE,
    STORED_CONCURRENTLY,
    InstanceFailure,
    ParsedInstance,
    parse_instance,
)
from .errors import DicomWebError, storage_unavailable, unsupported_media_type
from .http import DICOM_JSON, check_version, note, require_json_accept
from .index import AlreadyStored, Commit, StoredConcurrently, commit_instances
from .journal import STORE, Entry, Item, close_entries, new_request_id, open_entry
from .mediatypes import parse_media_type
from .multipart import Part, read_parts, spool_body
from .storage import Storage, get_storage, instance_blob, is_outage, metadata_blob
from .uids import require_uid

DICOM = "application/dicom"


@dataclass
class Outcome:
    sop_class_uid: str | None
    sop_uid: str | None
    study_uid: str | None = None
    series_uid: str | None = None
    failure: InstanceFailure | None = None
    warnings: list[int] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


@dataclass
class Staged:
    item: ParsedInstance
    version: str
    entry: Entry


@requires(Access.WRITE)
async def store(request: Request, version: str, study: str | None = None, upsert: bool = False) -> Response:
    api = check_version(version)
    study_in_path = require_uid(study, "study instance UID") if study is not None else None
    require_json_accept(request)
    parts = _parts(request)
    storage = await get_storage()
    journal_request = new_request_id()
    staged: list[Staged] = []
    outcomes: list[Outcome | Staged] = []
    try:
        async for part in parts:
            try:
                _check_part_type(part)
                outcomes.append(await _stage(storage, part, api, study_in_path, journal_request))
            finally:
                part.close()
            if isinstance(outcomes[-1], Staged):
                staged.append(outcomes[-1])
    except BaseException:
        # A bad part or a broken body fails the whole request: remove what was already uploaded.
        await _release(storage, [(s.entry, [s.version]) for s in staged])
        raise
    if not outcomes:
        return Response(status_code=204)
    committed = await _commit(storage, staged, upsert)
    results = [o if isinstance(o, Outcome) else committed[id(o)] for o in outcomes]
    stored = sum(1 for r in results if r.failure is None)
    note(instances_stored=stored, instances_failed=len(results) - stored,
         bytes_in=sum(s.item.size for s in staged))  # fmt: skip
    return _response(results, api, version, study_in_path)


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
        return read_parts(request.stream(), media_type.params.get("boundary"))
    if media_type.type == "multipart/form-data":
        raise unsupported_media_type(
            "multipart/form-data is not a DICOMweb store request, so nothing was stored. With curl --form, add "
            f"--header 'Content-Type: {expected}' (curl then keeps your type and adds the boundary)."
        )
    raise unsupported_media_type(f"Content-Type '{content_type[:100]}' cannot be stored. Send {expected} or {DICOM}.")


async def _single(request: Request, content_type: str) -> AsyncIterator[Part]:
    yield await spool_body(request.stream(), content_type)


def _check_part_type(part: Part) -> None:
    if part.content_type is None:
        return
    if parse_media_type(part.content_type).type != DICOM:
        raise unsupported_media_type(
            f"A part has Content-Type '{part.content_type[:100]}'; every part must be {DICOM}. Nothing was stored."
        )


async def _stage(
    storage: Storage, part: Part, api: str, study_in_path: str | None, journal_request: str
) -> Outcome | Staged:
    """Parse and upload one instance; it stays invisible (no index row) until committed.

    The journal names the version before any byte of it is written, so a crash leaves no orphan.
    """
    try:
        item = await asyncio.to_thread(parse_instance, part.file, part.size, api, study_in_path)
    except InstanceFailure as failure:
        return Outcome(*_identity(part), failure=failure)
    version = uuid.uuid4().hex
    metadata_json = json.dumps(item.metadata).encode()
    part.file.seek(0)
    entry = None
    try:
        journaled = Item(item.study_uid, item.series_uid, item.sop_uid, version)
        entry = await open_entry(storage, STORE, [journaled], journal_request)
        await asyncio.gather(
            storage.upload(instance_blob(version), part.file, part.size, DICOM),
            storage.upload(metadata_blob(version), metadata_json, len(metadata_json), DICOM_JSON),
        )
    except Exception as error:
        if entry is not None:
            await _release(storage, [(entry, [version])])
        if is_outage(error):  # nothing of this request is committed yet: the client can simply retry
            raise storage_unavailable() from error
        failure = InstanceFailure(
            PROCESSING_FAILURE, f"The instance could not be written to storage: {type(error).__name__}."
        )
        return Outcome(item.sop_class_uid, item.sop_uid, failure=failure)
    return Staged(item, version, entry)


async def _release(storage: Storage, owned: list[tuple[Entry, list[str]]]) -> None:
    """Remove versions that are not kept; an entry closes only once its versions are gone (else cleanup)."""
    failed = await asyncio.gather(*(storage.delete_versions(*versions) for _, versions in owned))
    await close_entries(storage, [entry for (entry, _), left in zip(owned, failed, strict=True) if not left])


def _identity(part: Part) -> tuple[str | None, str | None]:
    """The SOP Class and Instance UIDs of a file that failed, when they can be read at all."""
    try:
        part.file.seek(0)
        header = pydicom.dcmread(part.file, stop_before_pixels=True, specific_tags=["SOPClassUID", "SOPInstanceUID"])
        return str(header.get("SOPClassUID", "")) or None, str(header.get("SOPInstanceUID", "")) or None
    except Exception:
        return None, None


async def _commit(storage: Storage, staged: list[Staged], upsert: bool) -> dict[int, Outcome]:
    """Commit every staged instance (a study's together), then remove what is not kept, in one pass."""
    commits = [Commit(s.item, s.entry) for s in staged]
    await commit_instances(storage, commits, upsert)
    if commits and all(c.error is not None for c in commits):
        busy = next((c.error for c in commits if isinstance(c.error, DicomWebError) or is_outage(c.error)), None)
        if busy is not None:  # nothing of this request was committed: the client can simply retry
            await _release(storage, [(s.entry, [s.version]) for s in staged])
            if isinstance(busy, DicomWebError):
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
        elif isinstance(commit.error, AlreadyStored):
            outcome.failure = InstanceFailure(ALREADY_EXISTS, "An instance with the same Study, Series and SOP "
                                              "Instance UIDs is already stored; use PUT to replace it.")  # fmt: skip
        elif commit.error is not None:
            outcome.failure = InstanceFailure(
                PROCESSING_FAILURE, f"The index could not be updated: {type(commit.error).__name__}."
            )
        removed = [done.version] if commit.error else [commit.replaced.blob] if commit.replaced else []
        owned.append((done.entry, removed))
        outcomes[id(done)] = outcome
    await _release(storage, owned)
    return outcomes


def _uid(value: str | None) -> dict[str, Any]:
    return {"vr": "UI", "Value": [value]} if value else {"vr": "UI"}


def _response(results: list[Outcome], api: str, version: str, study_in_path: str | None) -> Response:
    base = f"{Settings.from_environment().public_base_url}/{version}"
    stored = [r for r in results if r.failure is None]
    failed = [r for r in results if r.failure is not None]
    body: dict[str, Any] = {}
    if study_in_path and stored:
        body["00081190"] = {"vr": "UR", "Value": [f"{base}/studies/{study_in_path}"]}
    if stored:
        body["00081199"] = {"vr": "SQ", "Value": [_stored_item(r, api, base) for r in stored]}
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": [_failure_item(r, api) for r in failed]}
    warned = api != "v1" and any(r.warnings for r in stored)
    status = 409 if not stored else 202 if failed or warned else 200
    return Response(json.dumps(body), status_code=status, media_type=DICOM_JSON)


def _stored_item(outcome: Outcome, api: str, base: str) -> dict[str, Any]:
    url = f"{base}/studies/{outcome.study_uid}/series/{outcome.series_uid}/instances/{outcome.sop_uid}"
    item: dict[str, Any] = {
        "00081150": _uid(outcome.sop_class_uid),
        "00081155": _uid(outcome.sop_uid),
        "00081190": {"vr": "UR", "Value": [url]},
    }
    if outcome.warnings:
        item["00081196"] = {"vr": "US", "Value": outcome.warnings}
        if api != "v1":
            item["00741048"] = _comments(outcome.comments)
    return item


def _comments(comments: list[str]) -> dict[str, Any]:
    return {"vr": "SQ", "Value": [{"00000902": {"vr": "LO", "Value": [comment]}} for comment in comments]}


def _failure_item(outcome: Outcome, api: str) -> dict[str, Any]:
    assert outcome.failure is not None
    item: dict[str, Any] = {
        "00081150": _uid(outcome.sop_class_uid),
        "00081155": _uid(outcome.sop_uid),
        "00081197": {"vr": "US", "Value": [outcome.failure.reason]},
    }
    if api != "v1":
        item["00741048"] = _comments([outcome.failure.comment])
    return item
