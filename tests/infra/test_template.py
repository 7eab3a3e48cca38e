"""The azd template: it parses, it writes exactly the settings the app and the host read, it
creates what the app expects, and no key or secret appears in it or in its outputs."""

from __future__ import annotations

import ast
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pycep import BicepParser

from shared.store.tables import ALL_TABLES, STAGING_CONTAINER

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

#: Read by the Functions host, the Durable extension or the platform, not by shared/settings.py.
HOST_READ = {
    "AzureWebJobsStorage__accountName": "host storage and the Durable task hub, identity-based",
    "AzureWebJobsStorage__credential": "same: 'managedidentity'",
    "AzureWebJobsStorage__clientId": "same: the user-assigned identity",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "the host's App Insights and shared/telemetry.py",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "identity-based ingestion (host and telemetry)",
    "MALLOC_ARENA_MAX": "glibc, when the worker starts",
}
#: Read by the app but deliberately not written by the template (local / Azurite / optional).
LOCAL_ONLY = {
    "AzureWebJobsStorage": "a connection string: Azurite only (Azure uses the __ forms)",
    "METADATA_STORAGE_CONNECTION": "a connection string: Azurite only",
    "EMULATOR_BLOB_ENDPOINT": "emulator mode",
    "EMULATOR_ACCOUNTS": "emulator mode (account keys)",
    "PLATFORM_APP_CERTIFICATE_PATH": "the certificate alternative to the Key Vault secret",
    "PLATFORM_APP_CERTIFICATE": "the same certificate alternative, as content",
    "PLATFORM_APP_CERTIFICATE_PASSWORD": "the certificate alternative's password",
    "PLATFORM_APP_MANAGED_IDENTITY": "the secretless alternative (README), set instead of the secret",
    "PLATFORM_APP_AUTHORITY_HOST": "Entra ID's public-cloud authority is the default; sovereign clouds set it",
    "STORAGE_BLOB_ENDPOINT": "built from STORAGE_ENDPOINT_SUFFIX by default; sovereign clouds set it",
    "TLS_CA_BUNDLE": "the local identity stack's test CA: never in Azure",
    "HTTPS_PROXY": "outbound proxy, only where one exists",
    "HTTP_PROXY": "same",
    "ALL_PROXY": "same",
    "https_proxy": "same",
    "http_proxy": "same",
    "all_proxy": "same",
}


@cache
def parsed(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = BicepParser().parse(file_path=path)
    return result


def _literal_strings(node: ast.AST, constants: dict[str, str]) -> list[str]:
    """String values of a constant, a module constant name, or an f-string made of those."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name) and node.id in constants:
        return [constants[node.id]]
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                inner = _literal_strings(value.value, constants)
                if len(inner) != 1:
                    return []
                parts.append(inner[0])
            else:
                parts.extend(_literal_strings(value, constants))
        return ["".join(parts)]
    return []


def settings_read_by_app() -> set[str]:
    """Environment names shared/settings.py reads: ``env.get(NAME)``, ``env[NAME]``,
    ``_int(env, NAME, ...)`` and the names of tuples it iterates over ``env.get``."""
    settings = getattr(__import__("shared.settings").settings, "ENV_NAMES", None)
    if settings is not None:  # an explicit list, when settings exports one
        return set(settings)
    tree = ast.parse((ROOT / "shared" / "settings.py").read_text(encoding="utf-8"))
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "get" and node.args:
                names.update(_literal_strings(node.args[0], constants))
            elif isinstance(func, ast.Name) and func.id == "_int" and len(node.args) > 1:
                names.update(_literal_strings(node.args[1], constants))
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            if node.value.id == "env":
                names.update(_literal_strings(node.slice, constants))
        elif isinstance(node, ast.Tuple):
            values = [_literal_strings(e, constants) for e in node.elts]
            if values and all(
                v and re.fullmatch(r"[A-Za-z_]+_PROXY|[a-z]+_proxy", v[0]) for v in values
            ):
                names.update(v[0] for v in values)
    return {n for n in names if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", n)}


def settings_read_by_host_json() -> set[str]:
    return set(re.findall(r'"%([A-Za-z0-9_]+)%"', (ROOT / "host.json").read_text()))


def template_app_settings() -> dict[str, Any]:
    """The function app's settings: the module's appSettings argument plus syncSettings."""
    main = parsed(INFRA / "main.bicep")
    resources = parsed(INFRA / "resources.bicep")
    call = resources["modules"]["function"]["config"]["params"]["appSettings"]["function"]
    assert call["type"] == "union"
    sync = main["parameters"]["syncSettings"]["default"]
    assert call["parameters"]["arg_1"] == "syncSettings"
    return {**sync, **call["parameters"]["arg_2"]}


def test_every_bicep_file_parses() -> None:
    assert {p.relative_to(INFRA).as_posix() for p in BICEP_FILES} >= {
        "main.bicep",
        "resources.bicep",
        "modules/function.bicep",
        "modules/storage.bicep",
        "modules/monitoring.bicep",
        "modules/keyvault.bicep",
        "modules/workbook.bicep",
    }
    for path in BICEP_FILES:
        assert parsed(path)["resources"] or parsed(path)["modules"], path


def test_azure_yaml_deploys_this_folder_as_a_python_function_app() -> None:
    spec = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert spec["services"]["api"] == {"project": ".", "language": "python", "host": "function"}
    assert spec["infra"]["provider"] == "bicep"
    assert (ROOT / spec["infra"]["path"] / f"{spec['infra']['module']}.bicep").is_file()
    params = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    declared = parsed(INFRA / "main.bicep")["parameters"]
    assert set(params) <= set(declared)
    required = {n for n, p in declared.items() if "default" not in p}
    assert required <= set(params), "azd must be able to fill every required parameter"


def test_the_package_leaves_infra_and_azd_files_out() -> None:
    ignored = (ROOT / ".funcignore").read_text().split()
    for entry in ("infra", "azure.yaml", ".azure", "tests"):
        assert entry in ignored


def test_template_writes_exactly_the_settings_the_app_and_host_read() -> None:
    written = set(template_app_settings())
    read = settings_read_by_app() | settings_read_by_host_json() | set(HOST_READ)
    missing = read - written - set(LOCAL_ONLY)
    stale = written - read
    assert (missing, stale) == (set(), set()), (
        "(read but not written, written but not read): write a new setting in infra/main.bicep "
        "(syncSettings) or infra/resources.bicep (appSettings), or list it in LOCAL_ONLY above "
        "with the reason the deployment leaves it unset; drop a setting nothing reads"
    )


def test_exemption_lists_name_settings_that_exist() -> None:
    read = settings_read_by_app()
    assert set(LOCAL_ONLY) - {"AzureWebJobsStorage"} <= read, "a stale LOCAL_ONLY entry"
    telemetry = (ROOT / "shared" / "telemetry.py").read_text()
    for name in (
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    ):
        assert f'"{name}"' in telemetry
    written = template_app_settings()
    assert not set(LOCAL_ONLY) & set(written), "the template writes a local-only setting"


def test_sync_defaults_match_the_settings_code() -> None:
    from shared.settings import Settings

    defaults = Settings.from_env(
        {
            "CUSTOMER_STORAGE_MODE": "emulator",
            "EMULATOR_ACCOUNTS": "devstoreaccount1:a2V5",
            "METADATA_STORAGE_CONNECTION": "UseDevelopmentStorage=true",
        }
    )
    sync = parsed(INFRA / "main.bicep")["parameters"]["syncSettings"]["default"]
    assert int(sync["SYNC_PAGE_SIZE"]) == defaults.sync_page_size
    assert int(sync["SYNC_BATCH_SIZE"]) == defaults.sync_batch_size
    assert int(sync["SYNC_READ_CONCURRENCY"]) == defaults.sync_read_concurrency
    assert int(sync["SYNC_PAGES_PER_EXECUTION"]) == defaults.sync_pages_per_execution
    assert int(sync["SYNC_BATCHES_IN_FLIGHT"]) == defaults.sync_batches_in_flight
    assert int(sync["DEFAULT_MONTHLY_QUOTA"]) == defaults.default_monthly_quota
    assert int(sync["PREVIEW_MAX_BLOBS"]) == defaults.preview_max_blobs
    assert int(sync["PREVIEW_TIME_BUDGET_SECONDS"]) == defaults.preview_time_budget_seconds


def test_identity_based_connections_and_azure_mode() -> None:
    settings = template_app_settings()
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["METADATA_STORAGE__credential"] == "managedidentity"
    assert settings["CUSTOMER_STORAGE_MODE"] == "azure"
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"].endswith(";Authorization=AAD")
    assert settings["PLATFORM_APP_CLIENT_SECRET"].startswith("@Microsoft.KeyVault(")
    # Flex Consumption rejects these as app settings (they live in functionAppConfig).
    for name in (
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_EXTENSION_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE",
    ):
        assert name not in settings


def _resources(path: Path) -> dict[str, Any]:
    return parsed(path)["resources"]


def test_flex_consumption_python_311_with_documented_scale_settings() -> None:
    site = _resources(INFRA / "modules" / "function.bicep")["site"]["config"]
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["scaleAndConcurrency"] == {
        "maximumInstanceCount": "maximumInstanceCount",
        "instanceMemoryMB": "instanceMemoryMB",
    }
    assert config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    plan = _resources(INFRA / "modules" / "function.bicep")["plan"]["config"]
    assert plan["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    main = parsed(INFRA / "main.bicep")["parameters"]
    memory = next(d for d in main["instanceMemoryMB"]["decorators"] if d["type"] == "allowed")
    assert memory["argument"] == [512, 2048, 4096]
    assert main["maximumInstanceCount"]["default"] == 100


def test_storage_accounts_refuse_shared_keys_and_ingestion_needs_entra() -> None:
    account = _resources(INFRA / "modules" / "storage.bicep")["account"]["config"]["properties"]
    assert account["allowSharedKeyAccess"] is False
    assert account["allowBlobPublicAccess"] is False
    insights = _resources(INFRA / "modules" / "monitoring.bicep")["appInsights"]["config"]
    assert insights["properties"]["DisableLocalAuth"] is True


def test_metadata_store_has_the_app_tables_staging_container_and_roles() -> None:
    resources = parsed(INFRA / "resources.bicep")
    assert resources["variables"]["metadataTables"]["value"] == list(ALL_TABLES)
    assert resources["variables"]["stagingContainer"]["value"] == STAGING_CONTAINER
    roles = resources["variables"]["roles"]["value"]
    text = (INFRA / "resources.bicep").read_text()
    # The task hub needs blob, queue and table data roles on the runtime account.
    runtime = text.split("module runtimeStorage", 1)[1].split("\nmodule ", 1)[0]
    for role in (
        "storageBlobDataOwner",
        "storageQueueDataContributor",
        "storageTableDataContributor",
    ):
        assert f"roles.{role}" in runtime and role in roles
    app_meta = json.dumps(resources["variables"]["appMetadataRoles"]["value"])
    granted = set(re.findall(r'"operand_2": "(storage\w+)"', app_meta))
    assert granted == {"storageTableDataContributor", "storageBlobDataContributor"}


_SECRET_PATTERNS = [
    r"listKeys\s*\(",
    r"listAccountSas|listServiceSas|listSecrets|listCredentials",
    r"AccountKey=",
    r"SharedAccessSignature|[?&]sig=",
    r"InstrumentationKey=[0-9a-f-]{36}",
    r"-----BEGIN",
    r"(?<![\w/+])[A-Za-z0-9+/]{86}==",  # a storage account key
    r"[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}",  # a Microsoft Entra client secret
]


def test_no_key_or_secret_in_the_template_or_its_outputs() -> None:
    for path in [*BICEP_FILES, INFRA / "main.parameters.json", ROOT / "azure.yaml"]:
        text = path.read_text()
        for pattern in _SECRET_PATTERNS:
            assert not re.search(pattern, text), f"{path.name}: {pattern}"
    outputs = parsed(INFRA / "main.bicep")["outputs"]
    assert {"API_BASE_URL", "CONSOLE_URL"} <= set(outputs)
    assert outputs["CONSOLE_URL"]["value"] == "${app.outputs.apiBaseUrl}/console/"
    for name, output in outputs.items():
        bare = name.replace("KEY_VAULT", "VAULT")
        assert not re.search(r"key|secret|password|token|connection", bare, re.I), name
        assert not re.search(r"list\w*\(|ConnectionString|InstrumentationKey", json.dumps(output))
    # The one secure parameter goes only into the Key Vault.
    resources_text = (INFRA / "resources.bicep").read_text()
    uses = re.findall(r"^\s*(\w+):\s*platformAppClientSecret\s*$", resources_text, re.M)
    assert uses == ["secretValue"]
    secure = [
        name
        for name, p in parsed(INFRA / "main.bicep")["parameters"].items()
        if any(d["type"] == "secure" for d in p["decorators"])
    ]
    assert secure == ["platformAppClientSecret"]


def test_workbook_is_deployed_and_its_queries_are_documented() -> None:
    workbook = json.loads((INFRA / "workbook.json").read_text())
    assert workbook["version"] == "Notebook/1.0"
    queries = [i["content"]["query"] for i in workbook["items"] if i["type"] == 3]
    titles = " ".join(i["content"]["title"].lower() for i in workbook["items"] if i["type"] == 3)
    for topic in ("status", "throughput", "skip", "fail", "slowest"):
        assert topic in titles
    readme = " ".join((ROOT / "README.md").read_text().split())
    for query in queries:
        assert " ".join(query.split()) in readme, query.splitlines()[0]
    workbook_bicep = (INFRA / "modules" / "workbook.bicep").read_text()
    assert (
        "loadTextContent('../workbook.json'), '__APP_INSIGHTS_ID__', appInsightsId"
        in workbook_bicep
    )
    assert workbook["fallbackResourceIds"] == ["__APP_INSIGHTS_ID__"]


def test_workbook_queries_name_only_telemetry_the_app_emits() -> None:
    workbook = json.loads((INFRA / "workbook.json").read_text())
    text = " ".join(i["content"]["query"] for i in workbook["items"] if i["type"] == 3)
    telemetry = (ROOT / "shared" / "telemetry.py").read_text()
    names = set(re.findall(r'"((?:blobsync|sync)\.[a-z_.]+)"', text))
    assert {"blobsync.runs", "blobsync.blobs.skipped", "sync.finish_run", "sync.start"} <= names
    for name in names:
        assert f'"{name}"' in telemetry, name
