"""Settings of the HTTP side, read from the environment (local.settings.json's Values in Functions)."""

from __future__ import annotations

import os


def public_base_url() -> str:
    """Where clients reach us. Never taken from the request's Host header, which clients can forge."""
    env = os.environ
    configured = env.get("DICOM_PUBLIC_BASE_URL")
    if configured:
        return configured.rstrip("/")
    if env.get("WEBSITE_HOSTNAME"):  # set by the Azure Functions platform
        return f"https://{env['WEBSITE_HOSTNAME']}"
    return f"http://127.0.0.1:{env.get('PORT', '7071')}"
