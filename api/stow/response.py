"""The STOW-RS response: what was stored (with its URL), what failed and why, and the status they imply."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from shared.negotiation import DICOM_JSON
from shared.settings import public_base_url

from .outcome import Outcome


def _uid(value: str | None) -> dict[str, Any]:
    return {"vr": "UI", "Value": [value]} if value else {"vr": "UI"}


def stow_response(results: list[Outcome], api: str, study_in_path: str | None, path: str) -> Response:
    """`api` is the API version; `path` what URLs start with after the base (`v2` or `v2/partitions/p1`)."""
    base = f"{public_base_url()}/{path}"
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
