"""OpenTelemetry to Application Insights, wired only when APPLICATIONINSIGHTS_CONNECTION_STRING is set."""

from __future__ import annotations

import logging
import os

LOGGER = "dicomweb"


def configure_telemetry() -> bool:
    """Send traces and the `dicomweb` logs to Azure Monitor; with local auth off, sign in as the app's identity."""
    connection_string = os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING")
    if not connection_string:
        return False
    from azure.monitor.opentelemetry import configure_azure_monitor

    credential = None
    if "Authorization=AAD" in os.environ.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", ""):
        from azure.identity import ManagedIdentityCredential

        credential = ManagedIdentityCredential(client_id=os.environ.get("AZURE_CLIENT_ID"))
    configure_azure_monitor(connection_string=connection_string, credential=credential, logger_name=LOGGER)
    logging.getLogger(LOGGER).setLevel(logging.INFO)
    return True
