"""Setup instructions: the exact condition, and commands that survive a shell unchanged."""

from __future__ import annotations

import shlex

import pytest

from shared.setup_instructions import build_setup_instructions, container_condition

APP = "0a1b2c3d-1111-4222-8333-944455556666"

EXPECTED_CONDITION = """(
  (
    !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'})
  )
  OR
  (
    @Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals 'media-2024'
  )
)"""


def build(app_id: str = APP, origin: str = "https://vi.datature.com") -> dict[str, object]:
    return dict(
        build_setup_instructions(
            account="contosomedia",
            container="media-2024",
            app_id=app_id,
            app_name="Datature Vi",
            origin=origin,
        )
    )


def test_condition_names_the_container_exactly() -> None:
    assert container_condition("media-2024") == EXPECTED_CONDITION
    with pytest.raises(ValueError, match="container"):
        container_condition("x') OR (true")


def test_service_principal_step() -> None:
    sp = build()["servicePrincipal"]
    assert sp == {
        "appId": APP,
        "appName": "Datature Vi",
        "command": f"az ad sp create --id {APP}",
    }


def test_role_assignment_command_parses_back_to_the_intended_arguments() -> None:
    role = build()["roleAssignment"]
    assert isinstance(role, dict)
    args = shlex.split(role["command"])
    assert args[:4] == ["az", "role", "assignment", "create"]
    options = dict(zip(args[4::2], args[5::2], strict=True))
    assert options["--role"] == "Storage Blob Data Reader"
    assert options["--assignee"] == APP
    assert options["--scope"] == (
        "/subscriptions/<SUBSCRIPTION_ID>/resourceGroups/<RESOURCE_GROUP>"
        "/providers/Microsoft.Storage/storageAccounts/contosomedia"
    )
    assert options["--condition-version"] == "2.0"
    # The one-line condition is the portal's condition without layout.
    condition = options["--condition"]
    assert "\n" not in condition
    assert "".join(condition.split()) == "".join(EXPECTED_CONDITION.split())
    assert "StringEquals 'media-2024'" in condition
    assert role["condition"] == EXPECTED_CONDITION
    assert role["memberIdentifier"] == APP
    assert role["memberDisplayName"] == "Datature Vi"
    assert role["scopeLevel"] == "storage_account"


def test_cors_command() -> None:
    cors = build()["cors"]
    assert isinstance(cors, dict)
    assert shlex.split(cors["command"]) == [
        "az", "storage", "cors", "add", "--services", "b", "--methods", "GET",
        "--origins", "https://vi.datature.com", "--allowed-headers", "*",
        "--exposed-headers", "*", "--max-age", "3600", "--account-name", "contosomedia",
    ]  # fmt: skip
    assert cors["allowedOrigins"] == ["https://vi.datature.com"]
    assert cors["requiredFor"] == "videos"


def test_hostile_values_stay_single_arguments() -> None:
    hostile = "x; rm -rf ~ $(id) `id` 'q'"
    steps = build(app_id=hostile)
    sp = steps["servicePrincipal"]
    assert isinstance(sp, dict)
    assert shlex.split(sp["command"]) == ["az", "ad", "sp", "create", "--id", hostile]
    with pytest.raises(ValueError, match="storage account"):
        build_setup_instructions(
            account="Bad$Name", container="media", app_id=APP, app_name="x", origin="https://o"
        )
