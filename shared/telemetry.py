"""Telemetry without patient data: OpenTelemetry to Application Insights when APPLICATIONINSIGHTS_CONNECTION_STRING
is set, the audit trail's destinations, and the guards that keep PHI out of spans and logs in every setup.

Where PHI would leak without the guards: the Azure SDK's spans carry Table Storage URLs whose paths hold lookup keys
(`dicomlookup(...='PatientName|smith jane',...)`, birth dates among them); request spans and the web
server's access log keep query strings (`?PatientName=...`); the Azure SDK's HTTP logging policy logs request URLs
at INFO; exception messages can quote values. So every span is rewritten before it is exported (queries and entity
keys cut from its name and every attribute, exception messages dropped), the Azure SDK logs only warnings, and the
access log loses its query strings.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.trace import Status

from . import audit

LOGGER = "dicomweb"
REDACTED = "REDACTED"
# Attributes whose every value is the query or a message: dropped whole.
DROPPED_ATTRIBUTES = frozenset(
    ("url.query", "db.statement", "db.query.text", "exception.message", "exception.stacktrace")
)
_QUERY = re.compile(r"\?\S*")
_SHARE_LINK = re.compile(r"/share/[^/\s?#\"]+")  # a share link's path carries its secret
_ENTITY_KEYS = re.compile(r"\(\w+=\S*")  # an OData key predicate, as in Table Storage URLs: table(Key='value',...)
QUIET_LOGGERS = ("azure", "azure.core.pipeline.policies.http_logging_policy")


def scrub(text: str) -> str:
    """`text` without URL query strings or Table Storage entity keys (both can hold patient data), and without
    share-link secrets (a link opens studies)."""
    return _SHARE_LINK.sub(f"/share/{REDACTED}", _ENTITY_KEYS.sub(f"({REDACTED})", _QUERY.sub("", text)))


def _scrubbed(attributes: Any) -> dict[str, Any]:
    clean = {}
    for key, value in (attributes or {}).items():
        if key in DROPPED_ATTRIBUTES or key.startswith("http.request.header."):
            continue
        if isinstance(value, str):
            value = scrub(value)
        elif isinstance(value, (tuple, list)):
            value = tuple(scrub(item) if isinstance(item, str) else item for item in value)
        clean[key] = value
    return clean


class PhiFreeSpans(SpanProcessor):
    """Rewrites each span as it ends, before the exporters that come after it see it: name and attribute values
    scrubbed, query and message attributes dropped, the status without its description (an exception message).

    Attributes are rewritten at the end because the Azure SDK sets `url.full` only then. ReadableSpan has no
    public setter, so its fields are replaced; tests/test_telemetry_privacy.py fails if the SDK stops honouring it.
    """

    def on_end(self, span: ReadableSpan) -> None:
        span._name = scrub(span.name)
        span._attributes = _scrubbed(span.attributes)
        span._events = [Event(scrub(e.name), _scrubbed(e.attributes), e.timestamp) for e in span.events]
        span._status = Status(span.status.status_code)


class _NoQueryInAccessLog(logging.Filter):
    """uvicorn's access log line ('client - "GET /path?query HTTP/1.1" status') without the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(scrub(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def protect_logs() -> None:
    """Keep URLs with keys and queries out of every log, whatever the destination (the Functions host forwards
    the worker's root logger to Application Insights)."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _NoQueryInAccessLog) for f in access.filters):
        access.addFilter(_NoQueryInAccessLog())


def azure_monitor_options() -> dict[str, Any]:
    """What configure_azure_monitor gets beyond the connection: the PHI guard before its exporter."""
    return {"logger_name": LOGGER, "span_processors": [PhiFreeSpans()]}


def configure_telemetry() -> bool:
    """Guard the logs; keep the audit trail where configured; send traces, the `dicomweb` logs and the audit
    events to Azure Monitor when a connection string is set (with local auth off, as the app's identity)."""
    protect_logs()
    if os.environ.get("DICOM_AUDIT_LOG"):
        audit.keep_in_file(os.environ["DICOM_AUDIT_LOG"])
    connection_string = os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING")
    if not connection_string:
        _warn_if_audit_is_dropped()
        return False
    from azure.monitor.opentelemetry import configure_azure_monitor

    credential = None
    if "Authorization=AAD" in os.environ.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", ""):
        from azure.identity import ManagedIdentityCredential

        credential = ManagedIdentityCredential(client_id=os.environ.get("AZURE_CLIENT_ID"))
    configure_azure_monitor(connection_string=connection_string, credential=credential, **azure_monitor_options())
    operational = logging.getLogger(LOGGER)
    operational.setLevel(logging.INFO)
    exporters = [h for h in operational.handlers if type(h).__name__ == "LoggingHandler"]
    for handler in exporters:  # the audit logger does not propagate: it gets the exporter itself
        if handler not in audit.audit_log.handlers:
            audit.audit_log.addHandler(handler)
    return True


def _warn_if_audit_is_dropped() -> None:
    if not audit.audit_log.handlers:
        logging.getLogger(LOGGER).warning(
            "audit events are not kept: set DICOM_AUDIT_LOG (a file) or APPLICATIONINSIGHTS_CONNECTION_STRING"
        )
