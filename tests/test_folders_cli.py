"""The command line's folder and share commands, end to end against the real local host on Azurite (auth off):
create a folder, find it, add a study to folders, share the folder and the study with links, open a link as a
recipient would, list the shares and revoke one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from dicomweb_cli import cli
from tests.dicom_factory import make_instance
from tests.helpers import store
from tests.test_shares_common import store_study


def dicomweb(capsys: pytest.CaptureFixture[str], url: str, *arguments: str) -> str:
    assert cli.main(["--url", url, *arguments]) == 0
    return capsys.readouterr().out


def test_folders_and_share_links_from_the_command_line(
    base_url: str, client: httpx.Client, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    study = store_study(client, base_url, {}, series=1, instances=2)
    (parent,) = json.loads(dicomweb(capsys, base_url, "folder", "create", "Referrals CLI", "--json"))
    (child,) = json.loads(dicomweb(capsys, base_url, "folder", "create", "Dr. Lee", "--parent", parent["id"],
                                   "--description", "second opinions", "--json"))  # fmt: skip
    dicomweb(capsys, base_url, "folder", "add", study.study, parent["id"], child["id"])
    found = json.loads(dicomweb(capsys, base_url, "folder", "search", "--name", "referrals cl", "--with-studies",
                                "--json"))  # fmt: skip
    assert [(f["id"], f["studies"]) for f in found] == [(parent["id"], [study.study])]
    inside = json.loads(dicomweb(capsys, base_url, "folder", "search", "--parent", parent["id"], "--json"))
    assert [f["name"] for f in inside] == ["Dr. Lee"]

    monkeypatch.setattr("getpass.getpass", lambda prompt: "s3cret-link")
    folder_link = dicomweb(capsys, base_url, "share", "folder", child["id"], "--ask-password", "--title", "For Lee")
    expires = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
    study_link = json.loads(dicomweb(capsys, base_url, "share", "studies", study.study, "--expires", expires,
                                     "--downloadable", "--json"))  # fmt: skip
    url = folder_link.strip()
    assert client.get(url + "/studies").status_code == 401
    assert (
        client.post(url, data={"password": "s3cret-link"}, follow_redirects=True).status_code == 200
    )  # the page, after the redirect
    assert [s["study"] for s in client.get(url + "/studies").json()["studies"]] == [study.study]
    assert client.get(f"{study_link['url']}/studies/{study.study}/zip").status_code == 200

    listed = json.loads(dicomweb(capsys, base_url, "share", "list", "--json"))
    assert study_link["id"] in [share["id"] for share in listed]
    dicomweb(capsys, base_url, "share", "revoke", study_link["id"])
    assert client.get(study_link["url"]).status_code == 404


def test_an_orders_study_is_added_to_folders_and_shared_by_the_order_uid(
    base_url: str, client: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    created = json.loads(dicomweb(capsys, base_url, "order", "create", "--institution", "General", "--patient-name",
                                  "Doe^Jane", "--patient-id", "ORD-CLI-1", "--birth-date", "1980-06-15",
                                  "--modality", "CT", "--json"))  # fmt: skip
    study = created["study_instance_uid"]
    assert store(client, f"{base_url}/studies", [make_instance(study)]).status_code == 200
    (folder,) = json.loads(dicomweb(capsys, base_url, "folder", "create", "Orders CLI", "--json"))
    dicomweb(capsys, base_url, "folder", "add-order", created["order"], folder["id"])
    assert client.get(f"{base_url}/folders/{folder['id']}").json()["studies"] == [study]
    expires = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    link = dicomweb(capsys, base_url, "share", "studies", "--order", created["order"], "--expires", expires).strip()
    assert [s["study"] for s in client.get(link + "/studies").json()["studies"]] == [study]


def test_an_unknown_order_is_refused_with_404_and_nothing_shared(base_url: str, client: httpx.Client) -> None:
    body = {"orders": ["1.2.3.999.1"], "expires": (datetime.now(UTC) + timedelta(days=1)).date().isoformat()}
    response = client.post(f"{base_url}/shares", json=body)
    assert response.status_code == 404 and "order" in response.json()["detail"]
