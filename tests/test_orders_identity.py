"""Orders assigned to Entra ID users and groups, through the `dicomweb` command signed in as a service
principal. Entra ID is the local stand-in (tests/entra.py: its tokens are validated for real by the service)."""

from __future__ import annotations

import json
import os
import uuid
from unittest import mock

import pytest

from dicomweb_cli import cli
from tests.conftest import LocalHost
from tests.entra import OWNER, FakeEntraHttp, SigningKey
from tests.test_cli import entra_env  # noqa: F401 - the client-credentials settings

ORDER = ["--institution", "General", "--patient-name", "Doe^Jane", "--patient-id", "ID-1", "--birth-date",
         "1980-06-15", "--modality", "CT"]  # fmt: skip


class Member:
    """Issues the stand-in's tokens for one principal (fixed oid) in the given groups."""

    def __init__(self, key: SigningKey, groups: list[str]) -> None:
        self.key, self.oid, self.groups = key, str(uuid.uuid4()), groups
        self.client_id = str(uuid.uuid4())  # each principal its own app: the command line caches tokens per app

    def token(self, roles: list[str] | None = None, **overrides: object) -> str:
        return self.key.token(roles, **{**overrides, "oid": self.oid, "groups": self.groups})


def dicomweb(url: str, member: Member, capsys: pytest.CaptureFixture, *arguments: str) -> str:
    capsys.readouterr()
    entra = FakeEntraHttp(member, [OWNER])  # type: ignore[arg-type]
    with mock.patch.dict(os.environ, {"AZURE_CLIENT_ID": member.client_id}):
        assert cli.main(["--url", url, "--auth", "client", "order", *arguments], http_client=entra) == 0
    return capsys.readouterr().out


@pytest.mark.usefixtures("entra_env")
def test_search_assigned_to_me_lists_the_orders_assigned_to_my_groups(
    secured_service: LocalHost, signing_key: SigningKey, capsys: pytest.CaptureFixture
) -> None:
    url, team = f"{secured_service.url}/v2", str(uuid.uuid4())
    clerk, reader = Member(signing_key, []), Member(signing_key, [str(uuid.uuid4()), team])
    ours = json.loads(dicomweb(url, clerk, capsys, "create", *ORDER, "--json"))["order"]
    theirs = json.loads(dicomweb(url, clerk, capsys, "create", *ORDER, "--json"))["order"]
    dicomweb(url, clerk, capsys, "assign", ours, "--group", team)
    dicomweb(url, clerk, capsys, "assign", theirs, "--group", str(uuid.uuid4()))
    found = json.loads(dicomweb(url, reader, capsys, "search", "--assigned-to-me", "--json"))
    assert [row["order"] for row in found] == [ours]
