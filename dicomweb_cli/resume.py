"""Which files of an upload the service already has, asked before sending, so an upload run again after an
interruption sends only the rest (re-sending would cost the bytes and end as "already present" anyway).

Two QIDO steps, both UID-list matching: which of the files' studies exist (up to CHUNK studies a request: a fresh
upload costs one request per CHUNK studies), then, only within those, which of the files' SOP Instance UIDs are
stored (CHUNK a request). A service that cannot answer (no UID lists, say) has every file sent, as before.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import HttpError

if TYPE_CHECKING:
    from .client import DicomWebClient

CHUNK = 50  # UIDs a request: 50 x 64 characters keeps the URL near 3 KB
STUDY, SOP = "0020000D", "00080018"


async def stored_already(client: DicomWebClient, uids: dict[Path, tuple[str, str]], parallel: int) -> set[Path]:
    """The files (by their (Study, SOP Instance UID)) whose instance the service has stored."""
    by_study: dict[str, dict[str, list[Path]]] = defaultdict(lambda: defaultdict(list))
    for path, (study, sop) in uids.items():
        if study and sop:
            by_study[study][sop].append(path)
    limit = asyncio.Semaphore(max(1, parallel))
    try:
        existing = await _matching(client, "studies", STUDY, list(by_study), limit)
        asked = [(f"studies/{study}/instances", list(by_study[study])) for study in existing]
        found = await asyncio.gather(*(_matching(client, path, SOP, sops, limit) for path, sops in asked))
    except HttpError as error:
        if error.exit_code == 3:  # 401, 403: the upload would meet the same refusal
            raise
        return set()
    return {path for study, sops in zip(existing, found, strict=True) for sop in sops
            for path in by_study[study][sop]}  # fmt: skip


async def _matching(
    client: DicomWebClient, path: str, tag: str, values: list[str], limit: asyncio.Semaphore
) -> list[str]:
    """Those of `values` the search at `path` finds by `tag` (a UID list, CHUNK at a time)."""

    async def ask(chunk: list[str]) -> list[str]:
        async with limit:
            params = [(tag, ",".join(chunk)), ("includefield", tag), ("limit", str(len(chunk)))]
            results = await client.search(path, params)
        return [str((result.get(tag, {}).get("Value") or [""])[0]) for result in results]

    chunks = [values[i : i + CHUNK] for i in range(0, len(values), CHUNK)]
    return [uid for found in await asyncio.gather(*(ask(chunk) for chunk in chunks)) for uid in found]
