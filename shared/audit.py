"""The audit log: one structured event per request saying who did what to which study, when, from where, and how
it ended.

Events go to the logger `dicomweb.audit` at INFO (whatever LOG_LEVEL says), which does not propagate: the audit
names studies, the operational log must not, so they never share a destination. Its handlers are set up by
shared.telemetry: Azure Monitor (custom events, AppEvents Name "dicomweb.audit") and/or a JSON-lines file
(DICOM_AUDIT_LOG). The message is the event as one JSON object; the same fields are the record's custom dimensions.
Who is the token's `oid` and `appid`/`azp`, never the token. What is the operation and the UIDs of the path,
never the query: its values (PatientName=...) are patient data.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from archive.partitions import is_valid_name
from dicomweb_wire.uids import clean_uid, is_valid_uid

EVENT_NAME = "dicomweb.audit"
audit_log = logging.getLogger(EVENT_NAME)
audit_log.setLevel(logging.INFO)  # the audit trail is not a verbosity choice
audit_log.propagate = False

PATH_UIDS = {"study": "study_uid", "series": "series_uid", "instance": "instance_uid"}
MAX_FORWARDED = 10  # addresses of X-Forwarded-For kept; the rest of a long (forged) chain is dropped


def begin(request: Request, operation: str, request_id: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The event's facts known when the request arrives: when, what, from where (who and outcome come later)."""
    level = arguments.get("level")
    entries = request.headers.get("x-forwarded-for", "").split(",")[-MAX_FORWARDED:]
    forwarded = [address for address in map(_address, entries) if address]
    peer = request.client.host if request.client else ""
    return {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "request_id": request_id,
        "operation": operation,
        "method": request.method,
        "api_version": str(arguments.get("api_version") or "")[:8],
        "query_level": level.name.lower() if level is not None else "",
        "partition": _partition(arguments.get("partition")),
        **{field: _uid(arguments.get(name)) for name, field in PATH_UIDS.items()},
        # The right-most forwarded address is the one the platform's front end saw; those left of it are
        # whatever the caller claimed. Without a proxy in front, the peer is the caller.
        "client_ip": _address(entries[-1]) or peer,
        "forwarded_for": ", ".join(forwarded),
    }


def _partition(name: object) -> str:
    if name is None:
        return ""
    return str(name) if is_valid_name(str(name)) else "(not a partition name)"


def record(event: dict[str, Any], caller: dict[str, str], status: int, bytes_out: int, duration_ms: float) -> None:
    """Write the finished event."""
    outcome = "success" if status < 400 else "denied" if status in (401, 403) else "failure"
    event = {**event, **caller, "status": status, "outcome": outcome, "bytes_out": bytes_out,
             "duration_ms": duration_ms}  # fmt: skip
    audit_log.info(json.dumps(event, separators=(",", ":")), extra={**event, "microsoft.custom_event.name": EVENT_NAME})


def keep_in_file(path: str) -> None:
    """Append the events to `path` as JSON lines; the file is created readable by its owner only."""
    if any(getattr(handler, "baseFilename", None) == os.path.abspath(path) for handler in audit_log.handlers):
        return
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    audit_log.addHandler(handler)


def _uid(value: object) -> str:
    """A UID of the path as the audit shows it; anything else a caller put there is not repeated."""
    if value is None:
        return ""
    return clean_uid(str(value)) if is_valid_uid(str(value)) else "(not a UID)"


def _address(entry: str) -> str:
    """The IP address of one X-Forwarded-For entry (App Service adds ':port'); '' for anything else."""
    text = entry.strip()
    if text.startswith("["):  # [IPv6]:port
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4:port
        text = text.partition(":")[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return ""
