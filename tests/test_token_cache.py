"""The command line's token cache (refresh tokens: a standing sign-in) is readable by its owner only, even when
the file existed before with wider permissions; a service principal's token is cached too, so a script calling
the command many times fetches one token, not one per call, until shortly before it expires.

msal's network access is answered by a stand-in for Entra ID (tests/entra.py FakeEntraHttp), the one fake: the
login service cannot run here. The tokens it hands out are signed by the local test key.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from dicomweb_cli import cli
from dicomweb_cli.tokens import TokenProvider
from tests.conftest import LocalHost
from tests.entra import CLIENT_ID, READER, TENANT, FakeEntraHttp, SigningKey


def device_sign_in(cache: Path, entra: FakeEntraHttp) -> str | None:
    provider = TokenProvider(
        "device", f"api://{CLIENT_ID}/.default", TENANT, CLIENT_ID, cache_path=cache, prompt=lambda _: None,
        http_client=entra,
    )  # fmt: skip
    return provider.token()


def test_a_cache_file_that_existed_readable_by_others_is_private_once_written(
    tmp_path: Path, signing_key: SigningKey
) -> None:
    cache = tmp_path / "msal.json"
    cache.write_text("{}")
    cache.chmod(0o644)
    assert device_sign_in(cache, FakeEntraHttp(signing_key, [READER]))
    assert cache.stat().st_mode & 0o777 == 0o600


def test_a_cache_readable_by_others_is_made_private_when_it_is_only_read(
    tmp_path: Path, signing_key: SigningKey
) -> None:
    cache = tmp_path / "msal.json"
    device_sign_in(cache, FakeEntraHttp(signing_key, [READER]))
    cache.chmod(0o644)  # e.g. copied, or written by an older version
    later = FakeEntraHttp(signing_key, [READER])
    assert device_sign_in(cache, later)
    assert later.device_flows == 0, "the cached sign-in was used, so nothing new was written"
    assert cache.stat().st_mode & 0o777 == 0o600


def test_the_cache_holds_the_sign_in_after_it_is_replaced(tmp_path: Path, signing_key: SigningKey) -> None:
    cache = tmp_path / "msal.json"
    cache.write_text("{}")
    device_sign_in(cache, FakeEntraHttp(signing_key, [READER]))
    assert "RefreshToken" in cache.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["msal.json"], "no temporary file is left behind"


def service_principal_runs(
    url: str, entra: FakeEntraHttp, monkeypatch: pytest.MonkeyPatch, cache: Path, runs: int = 2
) -> list[int]:
    """The command run `runs` times as a script would, each a new process's worth of state; the exit codes."""
    for name, value in (("AZURE_TENANT_ID", TENANT), ("AZURE_CLIENT_ID", CLIENT_ID),
                        ("AZURE_CLIENT_SECRET", "test-secret"), ("DICOMWEB_SCOPE", f"api://{CLIENT_ID}/.default"),
                        ("DICOMWEB_TOKEN_CACHE", str(cache))):  # fmt: skip
        monkeypatch.setenv(name, value)
    arguments = ["--url", url, "--auth", "client", "search", "studies", "-f", f"PatientID={uuid.uuid4().hex}"]
    return [cli.main(arguments, http_client=entra) for _ in range(runs)]


def test_a_service_principal_script_calling_twice_fetches_one_token(
    secured_service: LocalHost, signing_key: SigningKey, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    entra = FakeEntraHttp(signing_key, [READER])
    cache = tmp_path / "cache" / "msal.json"
    assert service_principal_runs(f"{secured_service.url}/v2", entra, monkeypatch, cache) == [0, 0]
    assert entra.grants == ["client_credentials"], "the second run used the cached token"
    assert cache.stat().st_mode & 0o777 == 0o600
    assert "test-secret" not in cache.read_text(), "the secret is never written"
