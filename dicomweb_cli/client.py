"""A small async DICOMweb client for the `dicomweb` command line: streaming both ways."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pydicom

from dicomweb_wire.mediatypes import parse_media_type
from dicomweb_wire.multipart import closing, new_boundary, part_head, read_parts
from dicomweb_wire.reasons import ALREADY_EXISTS, FAILURES, STORED_CONCURRENTLY, VALIDATION_WARNING
from dicomweb_wire.uids import is_valid_uid

from .errors import HttpError
from .errors import ServiceError as ServiceError  # where the other command modules import it from
from .resume import stored_already

READ_CHUNK = 1024 * 1024
PREAMBLE = b"\0" * 128 + b"DICM"
Progress = Callable[[int, int], None]
WARNINGS = {VALIDATION_WARNING: "invalid values left out of search and metadata"}


def describe(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", "")
    except (ValueError, AttributeError):
        detail = response.text[:300]
    return f"HTTP {response.status_code}: {detail}"


def has_preamble(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(132)[128:] == b"DICM"


def not_dicom(path: Path) -> str | None:
    """Why the file is not DICOM, or None when it is: a DICM prefix after the preamble, or a file that starts
    with its meta information group (written without the preamble) which pydicom reads."""
    try:
        if has_preamble(path):
            return None
        with path.open("rb") as file:
            head = file.read(6)
        if head[:2] != b"\x02\x00" or not head[4:6].isalpha():
            return "not DICOM (no DICM prefix, no meta information group)"
        meta = pydicom.dcmread(path, force=True, stop_before_pixels=True).file_meta
        return None if meta.get("TransferSyntaxUID") else "not DICOM (meta information without a transfer syntax)"
    except OSError as error:
        return f"unreadable: {error.strerror or error}"
    except Exception as error:
        return f"not DICOM ({type(error).__name__})"


def find_dicom_files(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """DICOM files under the paths, recursively; and the other files seen, with why each was skipped."""
    found, skipped = [], []
    for root in paths:
        if not root.exists():
            raise ServiceError(f"{root}: no such file or folder")
        candidates = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in candidates:
            reason = not_dicom(path)
            if reason is None:
                found.append(path)
            else:
                skipped.append((path, reason))
    return found, skipped


def instance_uids(path: Path) -> tuple[str, str]:
    """The file's Study and SOP Instance UIDs, read without its pixel data; empty where unreadable."""
    keywords = ["StudyInstanceUID", "SOPInstanceUID"]
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=keywords, force=True)
    except Exception:
        return "", ""
    study, sop = (str(header.get(keyword, "")).strip("\0 ") for keyword in keywords)
    return study, sop


@dataclass
class UploadSummary:
    stored: list[Path] = field(default_factory=list)
    already_stored: list[Path] = field(default_factory=list)  # not sent (the service has them), or it said so
    failed: list[tuple[Path, str]] = field(default_factory=list)
    warned: list[tuple[Path, str]] = field(default_factory=list)  # stored, with a v2 warning (202)


class DicomWebClient:
    def __init__(self, base_url: str, token: Callable[[], str | None], http: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.http = http

    def headers(self, accept: str) -> dict[str, str]:
        headers = {"Accept": accept}
        token = self._token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    # ---- store ----

    async def upload(
        self, files: list[Path], batch_size: int, parallel: int, on_progress: Progress = lambda files, size: None,
        study: str | None = None, upsert: bool = False,
    ) -> UploadSummary:  # fmt: skip
        """Store the files, `batch_size` a request, `parallel` requests at once; `on_progress(files, bytes)` is
        told as each chunk and each file is sent (negative when a retried request starts over). `study`: only
        into that study (others fail with 43265); `upsert`: PUT, replacing what is stored under the same UIDs.
        Files whose instance the service has already stored are not sent (resume.py), unless upserting."""
        target = ("PUT" if upsert else "POST", f"{self.base_url}/studies" + (f"/{study}" if study else ""))
        summary = UploadSummary()
        uids = {path: instance_uids(path) for path in files}
        if not upsert:
            there = await stored_already(self, {p: u for p, u in uids.items() if u[0] == (study or u[0])}, parallel)
            summary.already_stored = [path for path in files if path in there]
            files = [path for path in files if path not in there]
            on_progress(len(there), sum(path.stat().st_size for path in there))
        limit = asyncio.Semaphore(parallel)
        batches = [files[i : i + batch_size] for i in range(0, len(files), batch_size)]

        async def send(batch: list[Path]) -> None:
            async with limit:
                await self._store_batch(target, batch, {path: uids[path][1] for path in batch}, summary, on_progress)

        await asyncio.gather(*(send(batch) for batch in batches))
        return summary

    async def _store_batch(
        self, target: tuple[str, str], batch: list[Path], uids: dict[Path, str], summary: UploadSummary,
        on_progress: Progress,
    ) -> None:  # fmt: skip
        boundary = new_boundary()
        headers = self.headers("application/dicom+json")
        headers["Content-Type"] = f'multipart/related; type="application/dicom"; boundary={boundary}'
        body = Body(batch, boundary, on_progress)
        try:
            response = await self.http.request(*target, content=body, headers=headers)
        except httpx.HTTPError as error:
            summary.failed += [(path, f"request failed: {error or type(error).__name__}") for path in batch]
            return
        if response.status_code not in (200, 202, 409):
            error = HttpError.of(response)
            if error.status in (401, 403):
                raise error  # every other batch would meet the same refusal
            summary.failed += [(path, str(error)) for path in batch]
            return
        pending = list(batch)

        def take(uid: str) -> Path | None:
            """The file a response item is about: by its SOP Instance UID, else an unreadable file."""
            path = next((p for p in pending if uids[p] == uid and uid), None)
            path = path or next((p for p in pending if not uids[p]), None) or (pending[0] if pending else None)
            if path is not None:
                pending.remove(path)
            return path

        body = response.json()
        for item in body.get("00081199", {}).get("Value", []):
            if path := take(item["00081155"]["Value"][0]):
                summary.stored.append(path)
                if warning := _warning(item):
                    summary.warned.append((path, warning))
        for item in body.get("00081198", {}).get("Value", []):
            reason = item["00081197"]["Value"][0]
            path = take((item.get("00081155", {}).get("Value") or [""])[0])
            if path is None:
                continue
            if reason in (ALREADY_EXISTS, STORED_CONCURRENTLY):
                summary.already_stored.append(path)
                continue
            summary.failed.append((path, f"{reason} {FAILURES.get(reason, '')}. {_comments(item)}".strip(". ")))

    # ---- search ----

    async def search(self, path: str, params: list[tuple[str, str]]) -> list[dict]:
        response = await self.http.get(f"{self.base_url}/{path}", params=params,
                                       headers=self.headers("application/dicom+json"))  # fmt: skip
        if response.status_code == 204:
            return []
        if response.status_code != 200:
            raise HttpError.of(response)
        return response.json()

    async def metadata(self, path: str) -> list[dict]:
        response = await self.http.get(
            f"{self.base_url}/{path}/metadata", headers=self.headers("application/dicom+json")
        )
        if response.status_code != 200:
            raise HttpError.of(response)
        return response.json()

    # ---- retrieve ----

    async def retrieve(
        self, path: str, folder: Path, on_bytes: Callable[[int], None], transfer_syntax: str = "*", flat: bool = False
    ) -> list[Path]:
        """Stream a study/series/instance into one .dcm file per instance: `study/series/instance.dcm` by UID
        (or all in `folder` when `flat`), in the transfer syntax asked for (`*`: as stored)."""
        accept = f'multipart/related; type="application/dicom"; transfer-syntax={transfer_syntax}'
        written: list[Path] = []
        async with self.http.stream("GET", f"{self.base_url}/{path}", headers=self.headers(accept)) as response:
            if response.status_code != 200:
                await response.aread()
                raise HttpError.of(response)
            folder.mkdir(parents=True, exist_ok=True)  # not on a refusal: a 404 leaves no empty folder behind
            boundary = parse_media_type(response.headers["content-type"]).params.get("boundary")
            async for part in read_parts(_counted(response.aiter_bytes(), on_bytes), boundary):
                with part.file as spooled:
                    uids = ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"]
                    header = pydicom.dcmread(spooled, stop_before_pixels=True, specific_tags=uids)
                    study, series, sop = (str(header.get(keyword, "")) for keyword in uids)
                    target = folder if flat else folder / folder_name(study, "study") / folder_name(series, "series")
                    target.mkdir(parents=True, exist_ok=True)
                    target = target / instance_file_name(sop, len(written) + 1)
                    spooled.seek(0)
                    with target.open("wb") as out:
                        shutil.copyfileobj(spooled, out, READ_CHUNK)
                written.append(target)
        return written

    # ---- delete ----

    async def delete(self, path: str) -> None:
        response = await self.http.delete(f"{self.base_url}/{path}", headers=self.headers("*/*"))
        if response.status_code != 204:
            raise HttpError.of(response)


def folder_name(uid: str, level: str) -> str:
    """A study's or series' folder: its UID; a value that is not a UID (a path, say) never names a folder."""
    uid = uid.strip("\0 ")
    return uid if is_valid_uid(uid) else f"unknown-{level}"


def instance_file_name(sop_instance_uid: str, number: int) -> str:
    """`<SOP Instance UID>.dcm`; a value that is not a UID (a path, say) never names a file."""
    uid = sop_instance_uid.strip("\0 ")
    return f"{uid}.dcm" if is_valid_uid(uid) else f"instance-{number}.dcm"


def _comments(item: dict) -> str:
    comments = [(a.get("00000902", {}).get("Value") or [""])[0] for a in item.get("00741048", {}).get("Value", [])]
    return "; ".join(c for c in comments if c)


def _warning(item: dict) -> str:
    """A stored item's warning reasons and comments as one text; empty when it has none."""
    reasons = item.get("00081196", {}).get("Value") or []
    named = ", ".join(f"{r} {WARNINGS.get(r, 'warning')}" for r in reasons)
    return f"{named}. {_comments(item)}".strip(". ") if reasons else ""


class Body:
    """The multipart body of a batch, read from disk as it is sent (memory does not grow with the files); each
    iteration starts over, so a retried request sends it whole again (and takes back the progress it told)."""

    def __init__(self, files: list[Path], boundary: str, on_progress: Progress) -> None:
        self.files, self.boundary, self.on_progress = files, boundary, on_progress
        self.told = [0, 0]  # files and bytes told by the attempt so far

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self.told != [0, 0]:
            self.on_progress(-self.told[0], -self.told[1])
            self.told = [0, 0]
        return self._parts()

    def _tell(self, files: int, size: int) -> None:
        self.told = [self.told[0] + files, self.told[1] + size]
        self.on_progress(files, size)

    async def _parts(self) -> AsyncIterator[bytes]:
        for path in self.files:
            yield part_head(self.boundary, [("Content-Type", "application/dicom")])
            if not has_preamble(path):
                yield PREAMBLE  # a file written without one is sent as the DICOM file format has it
            with path.open("rb") as file:
                while chunk := file.read(READ_CHUNK):
                    yield chunk
                    self._tell(0, len(chunk))  # resumed: the chunk went out
            yield b"\r\n"
            self._tell(1, 0)
        yield closing(self.boundary)


async def _counted(chunks: AsyncIterator[bytes], on_bytes: Callable[[int], None]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        on_bytes(len(chunk))
        yield chunk
