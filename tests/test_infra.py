"""Offline checks of the Bicep templates: they parse, and keep the security properties users rely on.

The Bicep compiler cannot be installed here; pycep-parser parses the files into JSON, which these tests
inspect. They catch a regression (a key output, shared-key access, plain HTTP, a lost retention
policy); they do not prove that Azure accepts the API versions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pycep import BicepParser

INFRA = Path(__file__).resolve().parent.parent / "infra"
FILES = sorted(INFRA.rglob("*.bicep"))
SECRETS = re.compile(r"listKeys|listAccountSas|listServiceSas|accountKey|SharedAccessSignature", re.IGNORECASE)


def parsed(name: str) -> dict:
    return BicepParser().parse(file_path=INFRA / name)


def resources_of_type(kind: str) -> list[dict]:
    """Resources the templates create (references to `existing` ones left out)."""
    found = []
    for path in FILES:
        for resource in BicepParser().parse(file_path=path)["resources"].values():
            if resource["type"] == kind and not resource["existing"]:
                found.append(resource["config"])
    return found


def app_settings() -> dict[str, object]:
    (site,) = resources_of_type("Microsoft.Web/sites")
    return {item["name"]: item["value"] for item in site["properties"]["siteConfig"]["appSettings"]}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_bicep_file_parses(path: Path) -> None:
    assert BicepParser().parse(file_path=path)["resources"] or BicepParser().parse(file_path=path)["modules"]


def test_main_deploys_every_module() -> None:
    modules = {m["detail"]["path"] for m in parsed("main.bicep")["modules"].values()}
    assert modules == {f"modules/{p.name}" for p in (INFRA / "modules").glob("*.bicep")}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_output_carries_a_key_or_connection_string(path: Path) -> None:
    for name, output in BicepParser().parse(file_path=path)["outputs"].items():
        text = name + json.dumps(output)
        assert not re.search(r"key|secret|password|connectionstring", text, re.IGNORECASE), name


def test_no_template_reads_keys_or_builds_sas_tokens() -> None:
    for path in FILES:
        assert not SECRETS.search(path.read_text()), path.name


def test_storage_accounts_refuse_shared_keys_plain_http_and_old_tls() -> None:
    (account,) = resources_of_type("Microsoft.Storage/storageAccounts")
    properties = account["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["allowBlobPublicAccess"] is False
    assert properties["supportsHttpsTrafficOnly"] is True
    assert properties["minimumTlsVersion"] == "TLS1_2"


def test_dicom_blobs_are_versioned_and_soft_deleted() -> None:
    (blob_service,) = resources_of_type("Microsoft.Storage/storageAccounts/blobServices")
    assert blob_service["properties"]["isVersioningEnabled"] == "protectBlobs"
    assert blob_service["properties"]["deleteRetentionPolicy"]["enabled"] is True
    data = parsed("main.bicep")["modules"]["dataStorage"]["config"]["params"]
    assert data["protectBlobs"] is True
    assert data["containers"] == ["dicom"]
    assert data["tables"] == ["dicomstudies", "dicomlookup", "dicomjournal"]


def test_the_identity_gets_only_the_data_roles_it_needs() -> None:
    main = parsed("main.bicep")
    roles = main["variables"]["roles"]["value"]
    data_roles = main["modules"]["dataStorage"]["config"]["params"]["roleIds"]
    names = [json.dumps(role) for role in data_roles]
    assert len(names) == 2 and "blobDataContributor" in names[0] and "tableDataContributor" in names[1]
    assert roles["blobDataContributor"] == "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
    assert roles["tableDataContributor"] == "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"


def test_function_app_is_https_only_with_tls_12_and_no_basic_publishing() -> None:
    (site,) = resources_of_type("Microsoft.Web/sites")
    assert site["properties"]["httpsOnly"] is True
    assert site["properties"]["siteConfig"]["minTlsVersion"] == "1.2"
    assert site["properties"]["siteConfig"]["ftpsState"] == "Disabled"
    assert site["identity"]["type"] == "UserAssigned"
    policies = resources_of_type("Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert sorted(p["name"] for p in policies) == ["ftp", "scm"]
    assert all(p["properties"]["allow"] is False for p in policies)


def test_function_app_runs_python_on_flex_consumption() -> None:
    (plan,) = resources_of_type("Microsoft.Web/serverfarms")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    (site,) = resources_of_type("Microsoft.Web/sites")
    assert site["properties"]["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}
    assert (
        site["properties"]["functionAppConfig"]["deployment"]["storage"]["authentication"]["type"]
        == "UserAssignedIdentity"
    )


def test_app_settings_use_identity_based_connections_only() -> None:
    settings = app_settings()
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert "AzureWebJobsStorage" not in settings, "a connection string would carry a key"
    assert "DICOM_STORAGE_CONNECTION_STRING" not in settings
    assert "DICOM_STORAGE_ACCOUNT_NAME" in settings
    assert "Authorization=AAD" in json.dumps(settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"])


def test_authentication_is_on_with_tenant_and_audience() -> None:
    settings = app_settings()
    assert settings["DICOM_AUTH_ENABLED"] == "true"
    assert "DICOM_AUTH_TENANT_ID" in settings and "apiClientId" in json.dumps(settings["DICOM_AUTH_AUDIENCE"])


def test_application_insights_accepts_only_entra_authenticated_telemetry() -> None:
    (component,) = resources_of_type("Microsoft.Insights/components")
    assert component["properties"]["DisableLocalAuth"] is True
    assert component["properties"]["WorkspaceResourceId"]


def test_main_takes_the_documented_parameters() -> None:
    parameters = parsed("main.bicep")["parameters"]
    assert {"namePrefix", "location", "corsAllowedOrigins", "apiClientId"} <= parameters.keys()
