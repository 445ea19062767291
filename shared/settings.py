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


# A 2 GiB file (the largest the README promises) plus room for multipart heads; the Bicep gives the
# Functions host (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT) the same figure.
DEFAULT_MAX_REQUEST_BYTES = 2 * 1024**3 + 64 * 1024**2
# A CT or MR series in one request rarely has more than a few thousand instances.
DEFAULT_MAX_PARTS = 10_000


def max_request_bytes() -> int:
    return int(os.environ.get("DICOM_MAX_REQUEST_BYTES") or DEFAULT_MAX_REQUEST_BYTES)


def max_parts() -> int:
    return int(os.environ.get("DICOM_MAX_PARTS") or DEFAULT_MAX_PARTS)


# How far the hosts' clocks (which stamp when a study was created) may be from the storage service's (which
# stamps when a lookup pointer was written); a broad study search reads that much further (api/qido/paging.py).
DEFAULT_CLOCK_SKEW_SECONDS = 10.0


def clock_skew_seconds() -> float:
    return float(os.environ.get("DICOM_CLOCK_SKEW_SECONDS") or DEFAULT_CLOCK_SKEW_SECONDS)
