"""`dicomweb --auth cli`: signing in with an existing `az login`, through azure-identity's AzureCliCredential.

The Azure CLI and its sign-in cannot run here: a stand-in `az` on PATH answers `az account get-access-token` with a
token signed by the test's key (tests/entra.py), which the real secured service validates; everything else is real.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from pydicom.uid import generate_uid

from tests.conftest import LocalHost
from tests.entra import CLIENT_ID, READER, SigningKey
from tests.test_cli import run


def fake_az(folder: Path, answer: dict | None) -> dict[str, str]:
    """Settings that put a stand-in `az` first on PATH: it prints `answer` as JSON, or fails as when not signed in;
    it notes its arguments in folder/az-calls."""
    folder.mkdir(exist_ok=True)
    script = folder / "az"
    if answer is None:
        body = "import sys\nsys.stderr.write(\"ERROR: Please run 'az login' to setup account.\\n\")\nsys.exit(1)\n"
    else:
        body = f"import json\nprint(json.dumps({answer!r}))\n"
    log = f"import sys\nopen({str(folder / 'az-calls')!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
    script.write_text(f"#!{sys.executable}\n{log}{body}")
    script.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}", "DICOMWEB_SCOPE": f"api://{CLIENT_ID}/.default"}


def test_an_existing_az_login_is_used_to_sign_in(
    secured_service: LocalHost, signing_key: SigningKey, tmp_path: Path
) -> None:
    answer = {"accessToken": signing_key.token(roles=[READER]), "expires_on": int(time.time()) + 3600,
              "tokenType": "Bearer"}  # fmt: skip
    settings = fake_az(tmp_path / "bin", answer)
    url = f"{secured_service.url}/v2"
    result = run(url, "--auth", "cli", "search", "studies", "-f", f"StudyInstanceUID={generate_uid()}", "--json",
                 **settings)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    (call,) = (tmp_path / "bin" / "az-calls").read_text().splitlines()
    assert call.startswith("account get-access-token") and f"api://{CLIENT_ID}" in call


def test_without_an_az_login_the_command_exits_3_saying_to_run_az_login(
    secured_service: LocalHost, tmp_path: Path
) -> None:
    settings = fake_az(tmp_path / "bin", None)
    result = run(f"{secured_service.url}/v2", "--auth", "cli", "search", "studies", **settings)
    assert result.returncode == 3
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: sign-in failed:") and "az login" in line


def test_az_sign_in_needs_the_apis_scope(secured_service: LocalHost, tmp_path: Path) -> None:
    result = run(f"{secured_service.url}/v2", "--auth", "cli", "search", "studies", DICOMWEB_SCOPE="")
    assert result.returncode == 3
    assert "DICOMWEB_SCOPE" in result.stderr


def test_help_lists_the_azure_identity_sign_ins() -> None:
    assert "{none,client,device,cli,managed-identity,default}" in run("http://unused", "--help").stdout
