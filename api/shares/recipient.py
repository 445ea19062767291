"""The recipient's side of a link: the page, its password form, the studies it covers, and every image and
file the page shows, each checked against the share (no Entra login: the link and its password are the key)."""

from __future__ import annotations

import asyncio
import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from archive.partitions import Partition
from archive.reads import read_partition
from archive.shares import count_guess
from dicom.values import first_text
from shared.auth import Access, requires
from shared.runner import Operation

from .access import (
    Opened,
    ShareRefused,
    audit_share,
    cookie_header,
    find_open_share,
    open_share,
    require_study,
    security_headers,
    share_path,
)
from .download import study_zip

PAGE = Path(__file__).parent / "page"
ASSETS = {"share.js": "text/javascript", "share.css": "text/css"}
MAX_FORM_BYTES = 4096


def _page(name: str, status: int, request: Request, **values: str) -> Response:
    """A page of page/ in its layout, {{placeholders}} filled (escaped), with the share's security headers."""
    assets = f"/{request.path_params.get('api_version', 'v2')}/share-page"
    script = f'<script src="{assets}/share.js" defer></script>' if name == "share.html" else ""
    text = (PAGE / "layout.html").read_text().replace("{{content}}", (PAGE / name).read_text())
    text = text.replace("{{script}}", script).replace("{{assets}}", assets)
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(value))
    return security_headers(Response(text, status_code=status, media_type="text/html; charset=utf-8"))


def _refusal_page(request: Request, refused: ShareRefused, path: str) -> Response:
    if refused.status == 401:
        return _page("password.html", 401, request, title="Password needed", action=path, message="")
    titles = {404: "Link not found", 410: "Link expired", 429: "Too many attempts"}
    response = _page("message.html", refused.status, request, title=titles.get(refused.status, "Unavailable"),
                     message=refused.detail)  # fmt: skip
    response.headers.update(refused.headers)
    return response


@requires(Access.PUBLIC)
async def share_page(request: Request, api_version: str, partition: Partition, token: str) -> Response:
    """The page behind the link; the password form first when the share has a password."""
    try:
        opened = await open_share(request, partition, token)
    except ShareRefused as refused:
        return _refusal_page(request, refused, share_path(request, token))
    audit_share(request, "share_opened", partition, opened.share, 200)
    share = opened.share
    return _page("share.html", 200, request, title=share.title or "Shared studies", description=share.description,
                 base=opened.path, downloadable="true" if share.downloadable else "false")  # fmt: skip


@requires(Access.PUBLIC)
async def share_password(request: Request, api_version: str, partition: Partition, token: str) -> Response:
    """The password form's answer: a cookie for this share and back to the page, or the form again (throttled)."""
    path = share_path(request, token)
    now = datetime.now(UTC)
    try:
        storage, share = await find_open_share(partition, token, now)
        if until := share.throttled(now):
            seconds = str(int((until - now).total_seconds()) + 1)
            raise ShareRefused(429, "Too many wrong passwords for this link; try later.", {"Retry-After": seconds})
    except ShareRefused as refused:
        return _refusal_page(request, refused, path)
    password = (await _form(request)).get("password", "")
    right = share.has_password and await asyncio.to_thread(share.password_matches, password)
    await count_guess(storage, share, right, now)
    audit_share(request, "share_password_accepted" if right else "share_password_refused", partition, share,
                200 if right else 401)  # fmt: skip
    if not right:
        return _page("password.html", 401, request, title="Password needed", action=path, message="Wrong password.")
    response = RedirectResponse(path, status_code=303)
    response.headers["Set-Cookie"] = cookie_header(share, path, now)
    return security_headers(response)


async def _form(request: Request) -> dict[str, str]:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise ShareRefused(413, f"The form is larger than {MAX_FORM_BYTES} bytes.")
    fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=5)
    return {name: values[0] for name, values in fields.items()}


@requires(Access.PUBLIC)
async def share_studies(request: Request, api_version: str, partition: Partition, token: str) -> Response:
    """What the page shows: each study's patient name, date, description and modalities, its series and the
    instances (and frames) of each."""
    opened = await open_share(request, partition, token)
    partitions = await asyncio.gather(*(read_partition(opened.storage, study) for study in opened.studies))
    studies = [_study_json(p) for p in partitions if p.study is not None]
    body = {"title": opened.share.title, "description": opened.share.description,
            "downloadable": opened.share.downloadable, "studies": studies}  # fmt: skip
    return security_headers(Response(json.dumps(body), media_type="application/json"))


def _study_json(partition: Any) -> dict[str, Any]:
    row = partition.study
    instances: dict[str, list[dict[str, Any]]] = {}
    for record in sorted(partition.instances.values(), key=_order):
        instances.setdefault(record.series, []).append({"instance": record.sop, "frames": record.frame_count})
    series = sorted(partition.series.values(), key=lambda s: (_number(s.attrs.get("00200011")), s.series))
    return {
        "study": row.study,
        "patientName": first_text(row.attrs.get("00100010")).replace("^", " ").strip(),
        "date": first_text(row.attrs.get("00080020")),
        "description": first_text(row.attrs.get("00081030")),
        "modalities": row.modalities,
        "series": [{"series": s.series, "modality": s.modality, "description": first_text(s.attrs.get("0008103E")),
                    "number": first_text(s.attrs.get("00200011")), "instances": instances.get(s.series, [])}
                   for s in series if instances.get(s.series)],
    }  # fmt: skip


def _number(element: Any) -> int:
    text = first_text(element)
    return int(text) if text.lstrip("-").isdigit() else 0


def _order(record: Any) -> tuple[int, str]:
    return _number(record.attrs.get("00200013")), record.sop


@requires(Access.PUBLIC)
async def through_share(
    request: Request,
    api_version: str,
    partition: Partition,
    token: str,
    study: str,
    series: str | None = None,
    instance: str | None = None,
    frames: str | None = None,
    *,
    target: Operation,
    download: bool = False,
) -> Response:
    """A WADO operation (metadata, thumbnail, rendered image, frames, files) for a study the share covers."""
    opened = await open_share(request, partition, token)
    require_study(opened, study)
    _require_download(opened, download)
    arguments: dict[str, Any] = {"series": series, "instance": instance}
    if frames is not None:
        arguments["frames"] = frames
    response = await target(request, api_version=api_version, partition=partition, study=study, **arguments)
    if download:
        audit_share(request, "share_download", partition, opened.share, response.status_code, study)
    return security_headers(response)


def _require_download(opened: Opened, download: bool) -> None:
    if download and not opened.share.downloadable:
        raise ShareRefused(403, "This share does not allow downloading; its sender may share it again with it.")


@requires(Access.PUBLIC)
async def share_zip(request: Request, api_version: str, partition: Partition, token: str, study: str) -> Response:
    """The study's files as stored, in a ZIP that streams as it is read."""
    opened = await open_share(request, partition, token)
    require_study(opened, study)
    _require_download(opened, True)
    response = await study_zip(opened.storage, study)
    audit_share(request, "share_download", partition, opened.share, response.status_code, study)
    return security_headers(response)


@requires(Access.PUBLIC)
async def share_asset(request: Request, api_version: str, asset: str) -> Response:
    """The page's script and style sheet (no data, the same for every share)."""
    if asset not in ASSETS:
        raise ShareRefused(404, "No such file.")
    return security_headers(Response((PAGE / asset).read_bytes(), media_type=ASSETS[asset]))
