"""Offline checks of the Bicep templates: they parse, and keep the security properties users rely on.

The Bicep compiler cannot be installed here; pycep-parser parses the files into JSON, which these tests
inspect, and tests/bicep.py evaluates the expressions that compute names and retention days. They catch a
regression (a key output, shared-key access, plain HTTP, a lost retention policy, an invalid name); they do
not prove that Azure accepts the API versions (Azure is mocked by not deploying at all).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pycep import BicepParser

from shared.settings import DEFAULT_MAX_REQUEST_BYTES
from tests.bicep import Template

REPO = Path(__file__).resolve().parent.parent
INFRA = REPO / "infra"
FILES = sorted(INFRA.rglob("*.bicep"))
SECRETS = re.compile(r"listKeys|listAccountSas|listServiceSas|accountKey|SharedAccessSignature", re.IGNORECASE)


def parsed(name: str) -> dict:
    return BicepParser().parse(file_path=INFRA / name)


def body(resource: dict) -> dict:
    """A resource's or module's own properties, without the `if (...)` or `[for ...]` that wraps them."""
    config = resource["config"]
    wrapped = "config" in config and set(config) <= {"condition", "loop_type", "config"}
    return config["config"] if wrapped else config


def resources_of_type(kind: str) -> list[dict]:
    """Resources the templates create (references to `existing` ones left out)."""
    found = []
    for path in FILES:
        for resource in BicepParser().parse(file_path=path)["resources"].values():
            if resource["type"] == kind and not resource["existing"]:
                found.append(body(resource))
    return found


def limits(parameter: str) -> dict[str, object]:
    """A main.bicep parameter's @minLength/@maxLength/@minValue/@maxValue, by pycep's names (min_length, ...)."""
    return {d["type"]: d["argument"] for d in parsed("main.bicep")["parameters"][parameter]["decorators"]}


def module_params(module: str) -> dict:
    return body(parsed("main.bicep")["modules"][module])["params"]


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
    data = module_params("dataStorage")
    assert data["protectBlobs"] is True
    assert data["containers"] == ["dicom"]
    assert data["tables"] == ["dicomstudies", "dicomlookup", "dicomjournal"]


def test_the_identity_gets_only_the_data_roles_it_needs() -> None:
    main = parsed("main.bicep")
    roles = main["variables"]["roles"]["value"]
    data_roles = module_params("dataStorage")["roleIds"]
    names = [json.dumps(role) for role in data_roles]
    assert len(names) == 3 and "blobDataContributor" in names[0] and "tableDataContributor" in names[1]
    assert "queueDataContributor" in names[2], "the operations queue (reindexing)"
    assert roles["blobDataContributor"] == "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
    assert roles["queueDataContributor"] == "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
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
    documented = {"namePrefix", "location", "corsAllowedOrigins", "apiClientId", "erasureDays", "maxRequestBytes"}
    documented |= {"auditRetentionDays", "vnetIntegration", "storagePrivateEndpoints", "vnetAddressPrefix"}
    assert documented <= parameters.keys()


# Point 15: any azd environment name deploys. Azure's naming rules for what main.bicep names:
NAME_RULES = {
    "data storage account": re.compile(r"[a-z0-9]{3,24}"),
    "host storage account": re.compile(r"[a-z0-9]{3,24}"),
    "function app": re.compile(r"[a-z0-9][a-z0-9-]{0,58}[a-z0-9]"),
    "managed identity": re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{2,127}"),
    "Log Analytics workspace": re.compile(r"log-[A-Za-z0-9-]{0,58}[A-Za-z0-9]"),
    "virtual network": re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}[A-Za-z0-9_]"),
    "static web app": re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,58}[A-Za-z0-9]"),
}
ENVIRONMENT_NAMES = ["dicomweb-prod", "DicomWeb_Prod.EU", "a", "---", "x" * 64, "Ünï-cödé 名前", "123-test"]


def resource_names(environment: str) -> dict[str, str]:
    main = Template(INFRA / "main.bicep", namePrefix=environment)
    name = {module: main.value(body(main["modules"][module])["params"]["name"]) for module in main["modules"]}
    return {
        "data storage account": name["dataStorage"],
        "host storage account": name["hostStorage"],
        "function app": name["functionApp"],
        "managed identity": main.value(main["resources"]["identity"]["config"]["name"]),
        "Log Analytics workspace": f"log-{name['monitoring']}",
        "virtual network": name["network"],
        "static web app": name["viewer"],
    }


def test_the_name_parameter_accepts_any_azd_environment_name() -> None:
    values = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert values["namePrefix"]["value"] == "${AZURE_ENV_NAME}"
    accepted = limits("namePrefix")
    assert accepted.get("min_length", 0) <= 1 and accepted.get("max_length", 64) >= 64  # azd allows 1-64 characters


@pytest.mark.parametrize("environment", ENVIRONMENT_NAMES)
def test_any_environment_name_gives_valid_resource_names(environment: str) -> None:
    names = resource_names(environment)
    invalid = {kind: name for kind, name in names.items() if not NAME_RULES[kind].fullmatch(name)}
    assert not invalid


def test_environments_whose_names_share_a_prefix_get_distinct_storage_accounts() -> None:
    accounts = {resource_names(name)["data storage account"] for name in ("dicomweb-prod", "dicomweb-production")}
    assert len(accounts) == 2


# Point 13: erasure within a stated time.
def test_a_lifecycle_policy_deletes_previous_versions_and_snapshots_of_dicom_blobs() -> None:
    storage = parsed("modules/storage.bicep")["resources"]["erasure"]
    assert storage["type"] == "Microsoft.Storage/storageAccounts/managementPolicies"
    assert storage["config"]["condition"] == "protectBlobs"
    (rule,) = body(storage)["properties"]["policy"]["rules"]
    assert rule["enabled"] is True and rule["definition"]["filters"]["blobTypes"] == ["blockBlob"]
    actions = rule["definition"]["actions"]
    assert actions.keys() == {"version", "snapshot"}, "the current version is never deleted by the policy"
    assert all(a["delete"]["daysAfterCreationGreaterThan"] == "previousVersionDays" for a in actions.values())


@pytest.mark.parametrize("erasure_days", [2, 3, 14, 365])
def test_previous_versions_and_soft_delete_together_last_the_erasure_days(erasure_days: int) -> None:
    main = Template(INFRA / "main.bicep", namePrefix="dicomweb", erasureDays=erasure_days)
    data = body(main["modules"]["dataStorage"])["params"]
    previous, soft_deleted = main.value(data["previousVersionDays"]), main.value(data["softDeleteDays"])
    assert previous + soft_deleted == erasure_days and previous >= 1 and soft_deleted >= 1


def test_erasure_days_are_a_bounded_parameter_and_an_output() -> None:
    bounds = limits("erasureDays")
    assert bounds["min_value"] == 2 and bounds["max_value"] == 365
    assert parsed("main.bicep")["outputs"]["DICOM_ERASURE_DAYS"]["value"] == "erasureDays"


# Point 4: one body limit for the Functions host and the service.
def test_the_host_and_the_service_get_the_same_body_limit_from_one_parameter() -> None:
    settings = app_settings()
    limit = {"function": {"type": "string", "parameters": {"value_to_convert": "maxRequestBytes"}}}
    assert settings["FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"] == limit
    assert settings["DICOM_MAX_REQUEST_BYTES"] == limit
    assert module_params("functionApp")["maxRequestBytes"] == "maxRequestBytes"


def test_the_default_body_limit_is_the_services_own_default_which_admits_a_2_gib_file() -> None:
    default = parsed("main.bicep")["parameters"]["maxRequestBytes"]["default"]
    assert default == DEFAULT_MAX_REQUEST_BYTES > 2 * 1024**3


# Point 15: telemetry once, through the app's own (redacting) pipeline.
def test_the_worker_sends_its_telemetry_itself_so_the_host_does_not_forward_it_again() -> None:
    settings = app_settings()
    assert settings["PYTHON_ENABLE_OPENTELEMETRY"] == "true"
    assert "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY" not in settings, "a second, unredacted pipeline"


# Point 12: audit events reach a Log Analytics table and stay there.
def test_audit_events_are_kept_in_the_workspace_for_the_audit_retention() -> None:
    (table,) = resources_of_type("Microsoft.OperationalInsights/workspaces/tables")
    assert table["name"] == "AppEvents" and table["parent"] == "workspace"  # shared/audit.py: custom events
    assert table["properties"]["totalRetentionInDays"] == "auditRetentionDays"
    assert module_params("monitoring")["auditRetentionDays"] == "auditRetentionDays"
    assert limits("auditRetentionDays")["min_value"] >= table["properties"]["retentionInDays"]


# Point 15: optional private networking.
def test_private_networking_is_off_unless_asked_for() -> None:
    main = parsed("main.bicep")
    assert main["parameters"]["vnetIntegration"]["default"] is False
    assert main["parameters"]["storagePrivateEndpoints"]["default"] is False
    assert main["modules"]["network"]["config"]["condition"] == "networked"
    for networked in (False, True):
        template = Template(INFRA / "main.bicep", namePrefix="x", vnetIntegration=networked)
        assert template.value("networked") is networked


def test_private_endpoints_turn_vnet_integration_on() -> None:
    template = Template(INFRA / "main.bicep", namePrefix="x", storagePrivateEndpoints=True)
    assert template.value("networked") is True


def test_the_function_app_integrates_through_a_subnet_delegated_to_flex_consumption() -> None:
    (network,) = resources_of_type("Microsoft.Network/virtualNetworks")
    subnets = {s["name"]: s["properties"] for s in network["properties"]["subnets"]}
    assert [d["properties"]["serviceName"] for d in subnets["app"]["delegations"]] == ["Microsoft.App/environments"]
    (site,) = resources_of_type("Microsoft.Web/sites")
    assert "subnetId" in json.dumps(site["properties"]["virtualNetworkSubnetId"])
    assert "appSubnetId" in json.dumps(module_params("functionApp")["subnetId"])


def test_private_storage_has_endpoints_for_blob_table_and_queue_and_no_public_access() -> None:
    assert module_params("dataStorage")["privateEndpointServices"] == ["blob", "table", "queue"]
    assert module_params("hostStorage")["privateEndpointServices"] == ["blob", "queue", "table"]
    storage = parsed("modules/storage.bicep")
    private = Template(INFRA / "modules/storage.bicep", privateEndpointSubnetId="/subnets/pe")
    public = Template(INFRA / "modules/storage.bicep", privateEndpointSubnetId="")
    account = body(storage["resources"]["account"])["properties"]
    assert private.value(account["publicNetworkAccess"]) == "Disabled"
    assert public.value(account["publicNetworkAccess"]) == "Enabled"
    endpoints = storage["resources"]["endpoints"]["config"]["loop_type"]["detail"]["array_name"]
    private.parameters["privateEndpointServices"] = ["blob", "queue", "table"]
    assert private.value(endpoints) == ["blob", "queue", "table"] and public.value(endpoints) == []
    groups = body(storage["resources"]["endpoints"])["properties"]["privateLinkServiceConnections"][0]
    assert groups["properties"]["groupIds"] == ["service"]


def test_private_dns_zones_exist_only_with_private_endpoints() -> None:
    network = parsed("modules/network.bicep")
    zones = network["resources"]["zones"]["config"]["loop_type"]["detail"]["array_name"]
    assert zones == "zoneServices"
    for wanted, services in ((True, ["blob", "table", "queue"]), (False, [])):
        template = Template(INFRA / "modules/network.bicep", privateDnsZones=wanted)
        assert template.value("zoneServices") == services
    assert module_params("network")["privateDnsZones"] == "storagePrivateEndpoints"


def test_the_host_exports_opentelemetry_so_worker_telemetry_is_not_forwarded_twice() -> None:
    assert json.loads((REPO / "host.json").read_text())["telemetryMode"] == "OpenTelemetry"


def test_the_index_key_is_a_required_secret_given_to_the_app() -> None:
    decorators = {d["type"]: d.get("argument") for d in parsed("main.bicep")["parameters"]["indexKey"]["decorators"]}
    assert "secure" in decorators and decorators["min_length"] == 32
    assert "indexKey" in json.dumps(app_settings()["DICOM_INDEX_KEY"])
    values = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert values["indexKey"]["value"] == "${DICOM_INDEX_KEY}"


def test_data_partitions_and_their_access_map_are_parameters_given_to_the_app() -> None:
    parameters = parsed("main.bicep")["parameters"]
    assert parameters["dataPartitionsEnabled"]["default"] is False
    assert parameters["partitionAccess"]["default"] == {}
    settings = json.dumps(app_settings())
    assert "dataPartitionsEnabled" in settings and "partitionAccess" in settings
    assert module_params("functionApp")["partitionAccess"] == "partitionAccess"


def test_the_operations_queue_exists_and_its_trigger_connects_with_the_identity() -> None:
    params = module_params("dataStorage")
    assert params["queues"] == ["dicom-operations"]
    assert "queueDataContributor" in json.dumps(params["roleIds"]) and "queue" in params["privateEndpointServices"]
    settings = app_settings()
    assert settings["DICOM_QUEUE__credential"] == "managedidentity"
    assert ".queue." in json.dumps(settings["DICOM_QUEUE__queueServiceUri"])
    assert settings["DICOM_OPERATIONS_QUEUE"] == "dicom-operations" == params["queues"][0]
    assert "DICOM_QUEUE" not in settings, "no connection string: identity only"


# Issue 19: the OHIF viewer as a Static Web App, allowed by the API's CORS, signing in with Entra ID.
VIEWER_URL = "https://dicomweb-viewer-x.westeurope.azurestaticapps.net"


def evaluated(name: str, scope: dict | None = None, **parameters: object) -> object:
    """A main.bicep variable or output, for these parameters; `viewer` stands for the deployed module's outputs."""
    main = Template(INFRA / "main.bicep", namePrefix="dicomweb", apiClientId="api-app-id", **parameters)
    node = main["variables"][name]["value"] if name in main["variables"] else main["outputs"][name]["value"]
    return main.value(node, {"viewer": {"outputs": {"url": VIEWER_URL}}, **(scope or {})})


def test_the_viewer_is_a_static_web_app_that_azd_deploys_as_the_viewer_service() -> None:
    (site,) = resources_of_type("Microsoft.Web/staticSites")
    assert site["sku"] == {"name": "sku", "tier": "sku"} and site["properties"]["provider"] == "Custom"
    viewer = parsed("main.bicep")["modules"]["viewer"]
    assert (
        viewer["config"]["condition"] == "viewerEnabled"
        and parsed("main.bicep")["parameters"]["viewerEnabled"]["default"] is True
    )
    assert evaluated("viewerUrl") == VIEWER_URL and evaluated("VIEWER_URL") == VIEWER_URL
    main = Template(INFRA / "main.bicep", namePrefix="dicomweb")
    assert main.value(module_params("viewer")["tags"])["'azd-service-name'"] == "viewer"
    service = re.search(r"^  viewer:\n((?:    .*\n|\s*\n)+)", (REPO / "azure.yaml").read_text(), re.MULTILINE)
    assert service and re.search(r"^    host: staticwebapp$", service[1], re.MULTILINE)
    assert "python -m local.viewer stage node_modules/@ohif/app/dist" in service[1]
    assert re.search(r"^    project: node_modules/@ohif/app/dist$", service[1], re.MULTILINE)
    assert re.search(r"^    dist: \.$", service[1], re.MULTILINE)


def test_the_apis_cors_allows_the_viewers_origin_besides_the_listed_ones() -> None:
    assert module_params("functionApp")["corsAllowedOrigins"] == "allowedOrigins"
    assert evaluated("allowedOrigins") == [VIEWER_URL]
    assert evaluated("allowedOrigins", corsAllowedOrigins=["https://pacs.example.org"]) == [
        "https://pacs.example.org",
        VIEWER_URL,
    ]
    assert evaluated("allowedOrigins", viewerEnabled=False, corsAllowedOrigins=["https://a.example"]) == [
        "https://a.example"
    ]
    assert evaluated("viewerUrl", viewerEnabled=False) == ""


def test_the_viewer_signs_in_with_the_apis_app_registration_for_the_apis_scope_unless_told_otherwise() -> None:
    assert evaluated("DICOM_VIEWER_CLIENT_ID") == "api-app-id"
    assert evaluated("DICOM_VIEWER_CLIENT_ID", viewerClientId="spa-app-id") == "spa-app-id"
    assert evaluated("DICOM_VIEWER_SCOPE") == "api://api-app-id/.default"
    assert "AZURE_TENANT_ID" in parsed("main.bicep")["outputs"] and "DICOMWEB_URL" in parsed("main.bicep")["outputs"]


def test_the_viewer_is_placed_in_a_region_that_offers_static_web_apps_on_a_plan_that_holds_it() -> None:
    parameters = parsed("main.bicep")["parameters"]
    allowed = {d["type"]: d.get("argument") for d in parameters["viewerLocation"]["decorators"]}["allowed"]
    assert set(allowed) == {"westus2", "centralus", "eastus2", "westeurope", "eastasia"}
    assert parameters["viewerLocation"]["default"] in allowed
    assert parameters["viewerSku"]["default"] == "Free"  # 250 MB of content: the staged viewer is about 205 MB
    assert module_params("viewer")["location"] == "viewerLocation" and module_params("viewer")["sku"] == "viewerSku"
