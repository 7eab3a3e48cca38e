"""What the customer does in Azure so the platform can read one container (wizard steps 2-4).

Pure: builds the service-principal command, the role assignment (portal values and the
equivalent ``az`` command), the ABAC condition and the CORS rule from validated names and the
platform's settings. Every value placed in a command goes through ``shlex.quote``; commands are
written for a POSIX shell (bash, zsh, Cloud Shell).
"""

from __future__ import annotations

import shlex
from typing import Literal, TypedDict

from shared.naming import is_container, is_storage_account

__all__ = [
    "CONDITION_VERSION",
    "ROLE_NAME",
    "CorsStep",
    "RoleAssignmentStep",
    "ServicePrincipalStep",
    "SetupInstructions",
    "build_setup_instructions",
    "container_condition",
]

ROLE_NAME = "Storage Blob Data Reader"
CONDITION_VERSION = "2.0"
_BLOB_READ = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"
_CONTAINER_NAME_ATTRIBUTE = (
    "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name]"
)
#: Placeholders the customer fills in; they know their subscription and resource group, we do not.
SUBSCRIPTION_PLACEHOLDER = "<SUBSCRIPTION_ID>"
RESOURCE_GROUP_PLACEHOLDER = "<RESOURCE_GROUP>"


class ServicePrincipalStep(TypedDict):
    appId: str
    appName: str
    #: Registers the platform's multi-tenant app in the customer's tenant.
    command: str


class RoleAssignmentStep(TypedDict):
    role: str
    #: Where the role must be assigned: the storage account, never the container or a blob.
    scopeLevel: Literal["storage_account"]
    scope: str
    #: Finds the account's resource id without filling in the placeholders by hand.
    scopeLookupCommand: str
    #: What to paste in the portal's Members tab ("Select members"), and the name it shows.
    memberIdentifier: str
    memberDisplayName: str
    condition: str
    conditionVersion: str
    command: str


class CorsStep(TypedDict):
    requiredFor: Literal["videos"]
    service: Literal["blob"]
    allowedOrigins: list[str]
    allowedMethods: list[str]
    allowedHeaders: list[str]
    exposedHeaders: list[str]
    maxAgeSeconds: int
    command: str
    verifyCommand: str


class SetupInstructions(TypedDict):
    storageAccount: str
    container: str
    servicePrincipal: ServicePrincipalStep
    roleAssignment: RoleAssignmentStep
    cors: CorsStep
    #: Role assignments can take this long to apply; a failed test before then is retryable.
    propagationMinutes: int


def container_condition(container: str) -> str:
    """The ABAC condition (version 2.0) that limits blob reads to one container."""
    if not is_container(container):
        raise ValueError("container name is not valid")
    return (
        "(\n"
        "  (\n"
        f"    !(ActionMatches{{'{_BLOB_READ}'}})\n"
        "  )\n"
        "  OR\n"
        "  (\n"
        f"    {_CONTAINER_NAME_ATTRIBUTE} StringEquals '{container}'\n"
        "  )\n"
        ")"
    )


def _one_line(condition: str) -> str:
    """The same condition on one line, for a command argument."""
    parts = [line.strip() for line in condition.splitlines()]
    text = " ".join(p for p in parts if p)
    return text.replace("( ", "(").replace(" )", ")")


def _command(*words: str) -> str:
    return " ".join(shlex.quote(w) for w in words)


def build_setup_instructions(
    *,
    account: str,
    container: str,
    app_id: str,
    app_name: str,
    origin: str,
) -> SetupInstructions:
    if not is_storage_account(account):
        raise ValueError("storage account name is not valid")
    condition = container_condition(container)
    scope = (
        f"/subscriptions/{SUBSCRIPTION_PLACEHOLDER}/resourceGroups/{RESOURCE_GROUP_PLACEHOLDER}"
        f"/providers/Microsoft.Storage/storageAccounts/{account}"
    )
    role_command = _command(
        "az", "role", "assignment", "create",
        "--role", ROLE_NAME,
        "--assignee", app_id,
        "--scope", scope,
        "--condition", _one_line(condition),
        "--condition-version", CONDITION_VERSION,
    )  # fmt: skip
    cors_command = _command(
        "az", "storage", "cors", "add",
        "--services", "b",
        "--methods", "GET",
        "--origins", origin,
        "--allowed-headers", "*",
        "--exposed-headers", "*",
        "--max-age", "3600",
        "--account-name", account,
    )  # fmt: skip
    lookup_command = _command(
        "az", "storage", "account", "show", "--name", account, "--query", "id", "--output", "tsv"
    )
    return SetupInstructions(
        storageAccount=account,
        container=container,
        servicePrincipal=ServicePrincipalStep(
            appId=app_id,
            appName=app_name,
            command=_command("az", "ad", "sp", "create", "--id", app_id),
        ),
        roleAssignment=RoleAssignmentStep(
            role=ROLE_NAME,
            scopeLevel="storage_account",
            scope=scope,
            scopeLookupCommand=lookup_command,
            memberIdentifier=app_id,
            memberDisplayName=app_name,
            condition=condition,
            conditionVersion=CONDITION_VERSION,
            command=role_command,
        ),
        cors=CorsStep(
            requiredFor="videos",
            service="blob",
            allowedOrigins=[origin],
            allowedMethods=["GET"],
            allowedHeaders=["*"],
            exposedHeaders=["*"],
            maxAgeSeconds=3600,
            command=cors_command,
            verifyCommand=_command(
                "az", "storage", "cors", "list", "--services", "b", "--account-name", account
            ),
        ),
        propagationMinutes=5,
    )
