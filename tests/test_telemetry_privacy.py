"""No patient data in telemetry: spans (Azure SDK calls, requests) and log records carry no patient value.

The service runs in this process (the real app behind uvicorn, real Azurite) so its spans can be captured with
the OpenTelemetry SDK's in-memory exporter, behind the span processors production hands to Azure Monitor
(shared.telemetry.azure_monitor_options). Azure Monitor itself cannot run here; what its distro adds is
reproduced: Azure SDK tracing on, and the ASGI middleware its FastAPI instrumentation wraps the Functions
worker's app in. Every log record of every logger is captured at DEBUG.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus

import httpx
import pytest
import uvicorn
from azure.core.settings import settings as azure_settings
from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydicom.uid import generate_uid

from local.azurite import Azurite, free_port, wait_for_port
from shared.audit import audit_log
from shared.telemetry import azure_monitor_options, configure_telemetry, scrub
from tests.dicom_factory import make_instance
from tests.helpers import store
from tests.test_operations import REPO, TELEMETRY_PROBE

# Values no telemetry may hold, in any case or URL encoding.
PATIENT = {"PatientName": "Zyxwvut^Quorraine", "PatientID": "PID-QX7731", "PatientBirthDate": "19610203"}
PHI = ("zyxwvut", "quorraine", "pid-qx7731", "qx7731", "19610203")


class Captured(logging.Handler):
    """Every record of the service's process; the test's own HTTP client (httpx, httpcore) is not the service."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.partition(".")[0] not in ("httpx", "httpcore"):
            self.records.append(record)


@dataclass
class Telemetry:
    spans: list[ReadableSpan]
    logs: list[str]


def _provider() -> TracerProvider:
    """The process's SDK tracer provider (set once per process, so shared if another test set it first)."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    return provider


@pytest.fixture(scope="module")
def telemetry(azurite: Azurite) -> Iterator[Telemetry]:
    exporter, captured, root = InMemorySpanExporter(), Captured(), logging.getLogger()
    provider = _provider()
    for processor in azure_monitor_options()["span_processors"]:  # production's, in production's order
        provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    port, level = free_port(), root.level
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DICOM_STORAGE_CONNECTION_STRING", azurite.connection_string)
        patch.setenv("DICOM_AUTH_ENABLED", "false")
        patch.setenv("DICOM_PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
        # A user value of the setting, unset afterwards (monkeypatch would restore the descriptor itself as
        # the value, and every later Azure SDK call in this process would fail).
        azure_settings.tracing_implementation.set_value("opentelemetry")
        from local.host import create_app

        configure_telemetry()
        app = OpenTelemetryMiddleware(create_app(), tracer_provider=provider)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
        thread = threading.Thread(target=server.run, daemon=True)
        root.setLevel(logging.DEBUG)
        root.addHandler(captured)
        audit_log.addHandler(captured)
        try:
            thread.start()
            wait_for_port(port)
            _traffic(f"http://127.0.0.1:{port}/v2")
            server.should_exit = True
            thread.join()
        finally:
            azure_settings.tracing_implementation.unset_value()
            root.removeHandler(captured)
            audit_log.removeHandler(captured)
            root.setLevel(level)
    formatter = logging.Formatter("%(name)s %(message)s")
    yield Telemetry(list(exporter.get_finished_spans()), [formatter.format(r) for r in captured.records])
    exporter.shutdown()


def _traffic(api: str) -> None:
    """A store of the patient's instance, searches on each of its values, and a retrieve of its metadata."""
    study, series, sop = generate_uid(), generate_uid(), generate_uid()
    with httpx.Client(timeout=60) as client:
        assert store(client, f"{api}/studies", [make_instance(study, series, sop, **PATIENT)]).status_code == 200
        json = {"Accept": "application/dicom+json"}
        for query in ({"PatientName": PATIENT["PatientName"]}, {"PatientName": "Zyxw*"},
                      {"PatientName": "quorraine"}, {"PatientID": PATIENT["PatientID"]},
                      {"PatientBirthDate": PATIENT["PatientBirthDate"]}, {"PatientBirthDate": "19610101-19610301"},
                      {"PatientBirthDate": "Quorraine"}):  # fmt: skip
            assert client.get(f"{api}/studies", params=query, headers=json).status_code in (200, 204, 400)
        assert client.get(f"{api}/studies/{study}/metadata", headers=json).status_code == 200


def leaks(text: str) -> list[str]:
    seen = " ".join((text, unquote(text), unquote_plus(text))).lower()
    return [value for value in PHI if value in seen]


def described(span: ReadableSpan) -> str:
    events = [(event.name, dict(event.attributes or {})) for event in span.events]
    return f"{span.name} {dict(span.attributes or {})} {events} {span.status.description}"


def test_the_traffic_was_traced_through_the_azure_sdk_and_the_request_middleware(telemetry: Telemetry) -> None:
    urls = [str(span.attributes.get("url.full", "")) for span in telemetry.spans if span.attributes]
    assert any("/dicomlookup" in url for url in urls), "Table Storage calls are traced"
    assert any(span.name == "GET /v2/studies" for span in telemetry.spans), "requests are traced"


def test_no_span_name_attribute_or_event_holds_a_patient_value(telemetry: Telemetry) -> None:
    leaking = {described(span)[:300]: leaks(described(span)) for span in telemetry.spans if leaks(described(span))}
    assert leaking == {}


def test_request_spans_keep_the_path_without_the_query(telemetry: Telemetry) -> None:
    searches = [s for s in telemetry.spans if s.name == "GET /v2/studies" and s.attributes.get("http.url")]
    assert len(searches) >= 7 and all(str(s.attributes["http.url"]).endswith("/v2/studies") for s in searches)


def test_table_storage_spans_keep_the_table_but_not_the_entity_keys(telemetry: Telemetry) -> None:
    urls = {str(s.attributes.get("url.full", "")) for s in telemetry.spans if s.attributes}
    lookups = {url.rsplit("/", 1)[-1] for url in urls if "/dicomlookup" in url}
    assert lookups <= {"dicomlookup()", "dicomlookup(REDACTED)"} and "dicomlookup(REDACTED)" in lookups


def test_no_log_record_holds_a_patient_value(telemetry: Telemetry) -> None:
    assert telemetry.logs, "records were captured"
    assert [line[:300] for line in telemetry.logs if leaks(line)] == []


# After the operations test's probe (a local stand-in for the Application Insights ingestion endpoint, then
# configure_telemetry() with the real Azure Monitor distro): a span as the Azure SDK and the request middleware
# write them, and an audit event; then what reached the endpoint.
EXPORT_PROBE = TELEMETRY_PROBE + textwrap.dedent(
    """
    from opentelemetry import trace
    from shared import audit
    tracer = trace.get_tracer("probe")
    with tracer.start_as_current_span("GET /v2/studies?PatientName=Zyxwvut", kind=trace.SpanKind.SERVER) as span:
        span.set_attribute("http.url", "http://127.0.0.1/v2/studies?PatientName=Zyxwvut")
        span.set_attribute("url.full", "http://127.0.0.1/dicomlookup(PartitionKey='PatientName%7Czyxwvut')")
        span.record_exception(ValueError("no such patient: Zyxwvut"))
    trace.get_tracer_provider().force_flush()
    event = {"request_id": "probe-audit", "operation": "retrieve", "study_uid": "1.2.3", "client_ip": "203.0.113.9"}
    audit.record(event, {"oid": "oid-1", "app_id": "app-1"}, 200, 10, 1.0)
    flush()
    print("envelopes", json.dumps([envelope for body in received for envelope in json.loads(body)]))
    """
)


@pytest.fixture(scope="module")
def exported() -> list[dict]:
    """What the real Azure Monitor distro sent to the (stand-in) ingestion endpoint."""
    env = {"PATH": "/usr/bin:/bin", "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true", "HOME": str(REPO),
           "WITH_CONNECTION_STRING": "1", "OTEL_TRACES_SAMPLER": "always_on"}  # fmt: skip
    result = subprocess.run([sys.executable, "-c", EXPORT_PROBE], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    lines = [line for line in result.stdout.splitlines() if line.startswith("envelopes ")]
    assert lines, result.stderr[-2000:]
    return json.loads(lines[0].removeprefix("envelopes "))


def test_spans_reach_azure_monitor_without_patient_values(exported: list[dict]) -> None:
    requests = [e for e in exported if e["data"]["baseType"] == "RequestData"]
    assert requests, "the probe's request span was exported"
    assert leaks(json.dumps(exported)) == []


def test_audit_events_reach_azure_monitor_as_custom_events_named_dicomweb_audit(exported: list[dict]) -> None:
    (event,) = [e["data"]["baseData"] for e in exported if e["data"]["baseType"] == "EventData"]
    assert event["name"] == "dicomweb.audit"
    fields = {"request_id": "probe-audit", "operation": "retrieve", "study_uid": "1.2.3", "oid": "oid-1",
              "app_id": "app-1", "client_ip": "203.0.113.9", "status": "200", "outcome": "success"}  # fmt: skip
    assert fields.items() <= event["properties"].items()


def test_audit_events_are_not_sent_as_operational_trace_messages(exported: list[dict]) -> None:
    messages = [e["data"]["baseData"].get("message", "") for e in exported if e["data"]["baseType"] == "MessageData"]
    assert any("operation=probe" in m for m in messages) and not any("probe-audit" in m for m in messages)


def test_share_link_secrets_are_cut_from_telemetry_and_access_logs() -> None:
    line = '127.0.0.1:5 - "GET /v2/share/7f3a.Zm9vYmFyc2VjcmV0/studies/1.2/zip HTTP/1.1" 200'
    scrubbed = scrub(line)
    assert "Zm9vYmFyc2VjcmV0" not in scrubbed and "7f3a" not in scrubbed
    assert scrubbed.startswith('127.0.0.1:5 - "GET /v2/share/') and "/studies/1.2/zip" in scrubbed
