"""What the customer does in Azure so the platform can read one container (wizard steps 2-4).

Pure: builds the service-principal registration, the role assignment (portal values and the
equivalent ``az`` commands), the ABAC condition and the CORS rule from validated names and the
platform's settings. Every command comes twice, for bash (Cloud Shell's default, zsh, Linux,
macOS) and for PowerShell (Cloud Shell's other shell, Windows), each quoted for its shell, and
pastes as is: nothing to fill in. The storage account's resource id and the service principal's
object id are looked up by the commands themselves (``az storage account show``, ``az ad sp
show``), in the subscription ``az account set`` selected.

The role is assigned with ``--assignee-object-id`` and ``--assignee-principal-type
ServicePrincipal``, which azure-cli recommends right after ``az ad sp create`` (no Microsoft
Graph lookup that may not have caught up yet). CORS uses ``az storage account
blob-service-properties cors-rule add`` (management plane), which works on accounts with
shared-key access disabled, unlike ``az storage cors add``.
"""

from __future__ import annotations

import re
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
    "ShellCommands",
    "build_setup_instructions",
    "container_condition",
    "powershell_quote",
    "remedy_commands",
]

ROLE_NAME = "Storage Blob Data Reader"
CONDITION_VERSION = "2.0"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
_BLOB_READ = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"
_CONTAINER_NAME_ATTRIBUTE = (
    "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name]"
)
_CORS_MAX_AGE = 3600


class ShellCommands(TypedDict):
    """The same commands for each shell; lines run in order."""

    bash: str
    powershell: str


class ServicePrincipalStep(TypedDict):
    appId: str
    appName: str
    #: Registers the platform's multi-tenant app in the customer's tenant (any shell).
    command: str
    commands: ShellCommands
    #: The one-click alternative: a Global/Privileged Role Administrator consents in a browser.
    adminConsentUrl: str
    verifyCommands: ShellCommands
    portalSteps: list[str]


class RoleAssignmentStep(TypedDict):
    role: str
    #: Where the role must be assigned: the storage account, never the container or a blob.
    scopeLevel: Literal["storage_account"]
    #: Prints the account's resource id (the scope); the commands run it themselves.
    scopeLookupCommand: str
    #: What to paste in the portal's Members tab ("Select members"), and the name it shows.
    memberIdentifier: str
    memberDisplayName: str
    condition: str
    conditionVersion: str
    #: The bash lines (``commands.bash``).
    command: str
    commands: ShellCommands
    verifyCommands: ShellCommands
    portalSteps: list[str]


class CorsStep(TypedDict):
    requiredFor: Literal["videos"]
    service: Literal["blob"]
    allowedOrigins: list[str]
    allowedMethods: list[str]
    allowedHeaders: list[str]
    exposedHeaders: list[str]
    maxAgeSeconds: int
    #: The bash line (``commands.bash``).
    command: str
    commands: ShellCommands
    verifyCommand: str
    verifyCommands: ShellCommands
    portalSteps: list[str]


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


# -- quoting -----------------------------------------------------------------------------------

#: Words PowerShell passes to a native command unchanged when bare: no sigils (``$ @ ` ' "``),
#: no grouping or operators (``( ) { } [ ] ; , | & < > #``), no wildcards (``* ?``).
_PS_BARE = re.compile(r"^[A-Za-z0-9_./:=+-]+$")


def powershell_quote(word: str) -> str:
    """``word`` as one PowerShell argument: bare when safe, else single-quoted (``'`` doubled;
    nothing inside single quotes is expanded)."""
    if _PS_BARE.match(word):
        return word
    return "'" + word.replace("'", "''") + "'"


class _Var:
    """A shell variable set by an earlier line: ``"$name"`` in bash, ``$name`` in PowerShell."""

    def __init__(self, name: str) -> None:
        self.name = name


_Word = str | _Var


def _bash(words: tuple[_Word, ...]) -> str:
    return " ".join(f'"${w.name}"' if isinstance(w, _Var) else shlex.quote(w) for w in words)


def _pwsh(words: tuple[_Word, ...]) -> str:
    return " ".join(f"${w.name}" if isinstance(w, _Var) else powershell_quote(w) for w in words)


def _script(*lines: tuple[str | None, tuple[_Word, ...]]) -> ShellCommands:
    """Lines of ``az`` commands, each optionally captured into a variable. Bash chains them
    with ``&&`` so a failed lookup stops the rest; PowerShell runs them in order."""
    bash: list[str] = []
    pwsh: list[str] = []
    for target, words in lines:
        if target is None:
            bash.append(_bash(words))
            pwsh.append(_pwsh(words))
        else:
            bash.append(f"{target}=$({_bash(words)})")
            pwsh.append(f"${target} = {_pwsh(words)}")
    return ShellCommands(bash=" &&\n".join(bash), powershell="\n".join(pwsh))


# -- the steps -----------------------------------------------------------------------------------


def _account_lookup(account: str) -> tuple[_Word, ...]:
    return ("az", "storage", "account", "show", "--name", account, "--query", "id",
            "--output", "tsv")  # fmt: skip


def _service_principal(app_id: str, app_name: str, authority: str) -> ServicePrincipalStep:
    create: tuple[_Word, ...] = ("az", "ad", "sp", "create", "--id", app_id)
    show: tuple[_Word, ...] = (
        "az", "ad", "sp", "show", "--id", app_id,
        "--query", "{name:displayName, objectId:id, enabled:accountEnabled}",
    )  # fmt: skip
    return ServicePrincipalStep(
        appId=app_id,
        appName=app_name,
        command=_bash(create),
        commands=_script((None, create)),
        adminConsentUrl=f"{authority.rstrip('/')}/organizations/adminconsent?client_id={app_id}",
        verifyCommands=_script((None, show)),
        portalSteps=[
            "Sign in to the Azure portal as an administrator of the tenant that owns the "
            "storage account (Cloud Shell: bash or PowerShell).",
            f"Run the command, or open the admin consent link and accept: either registers "
            f"'{app_name}' (application id {app_id}) as an enterprise application in your "
            "tenant. It asks for no API permissions.",
            f"Check: Microsoft Entra ID > Enterprise applications > search '{app_id}' shows "
            f"'{app_name}' with 'Enabled for users to sign-in?' set to Yes.",
        ],
    )


def _role_assignment(
    account: str, container: str, app_id: str, app_name: str
) -> RoleAssignmentStep:
    condition = container_condition(container)
    scope, assignee = _Var("scope"), _Var("assignee")
    create: tuple[_Word, ...] = (
        "az", "role", "assignment", "create",
        "--role", ROLE_NAME,
        "--assignee-object-id", assignee,
        "--assignee-principal-type", "ServicePrincipal",
        "--scope", scope,
        "--condition", _one_line(condition),
        "--condition-version", CONDITION_VERSION,
    )  # fmt: skip
    lookup_sp: tuple[_Word, ...] = ("az", "ad", "sp", "show", "--id", app_id,
                                    "--query", "id", "--output", "tsv")  # fmt: skip
    commands = _script(
        ("scope", _account_lookup(account)),
        ("assignee", lookup_sp),
        (None, create),
    )
    verify: tuple[_Word, ...] = (
        "az", "role", "assignment", "list",
        "--assignee-object-id", assignee,
        "--scope", scope,
        "--query", "[].{role:roleDefinitionName, scope:scope, condition:condition}",
    )  # fmt: skip
    return RoleAssignmentStep(
        role=ROLE_NAME,
        scopeLevel="storage_account",
        scopeLookupCommand=_bash(_account_lookup(account)),
        memberIdentifier=app_id,
        memberDisplayName=app_name,
        condition=condition,
        conditionVersion=CONDITION_VERSION,
        command=commands["bash"],
        commands=commands,
        verifyCommands=_script(
            ("scope", _account_lookup(account)), ("assignee", lookup_sp), (None, verify)
        ),
        portalSteps=[
            f"Open the storage account '{account}' (not the container) > Access control (IAM) "
            "> Add > Add role assignment.",
            f"Role: '{ROLE_NAME}'. Members: User, group, or service principal > Select members "
            f"> paste {app_id} and pick '{app_name}'.",
            "Conditions > Add condition > Open code editor (Editor type: Code), paste the "
            f"condition, Save. It lets the role read blobs in '{container}' only.",
            "Review + assign. The assignment takes up to five minutes to apply.",
        ],
    )


def _cors(account: str, origin: str) -> CorsStep:
    add: tuple[_Word, ...] = (
        "az", "storage", "account", "blob-service-properties", "cors-rule", "add",
        "--account-name", account,
        "--origins", origin,
        "--methods", "GET", "HEAD",
        "--allowed-headers", "*",
        "--exposed-headers", "*",
        "--max-age", str(_CORS_MAX_AGE),
    )  # fmt: skip
    show: tuple[_Word, ...] = (
        "az", "storage", "account", "blob-service-properties", "show",
        "--account-name", account, "--query", "cors",
    )  # fmt: skip
    commands = _script((None, add))
    verify = _script((None, show))
    return CorsStep(
        requiredFor="videos",
        service="blob",
        allowedOrigins=[origin],
        allowedMethods=["GET", "HEAD"],
        allowedHeaders=["*"],
        exposedHeaders=["*"],
        maxAgeSeconds=_CORS_MAX_AGE,
        command=commands["bash"],
        commands=commands,
        verifyCommand=verify["bash"],
        verifyCommands=verify,
        portalSteps=[
            f"Open the storage account '{account}' > Settings > Resource sharing (CORS) > "
            "Blob service.",
            f"Add a row: Allowed origins {origin}, Allowed methods GET and HEAD, Allowed "
            f"headers *, Exposed headers *, Max age {_CORS_MAX_AGE}. Save.",
            "Only video previews need it; image previews work without it.",
        ],
    )


def remedy_commands(*, account: str, app_id: str) -> dict[str, ShellCommands]:
    """Commands the connection test's fixes quote, beyond the setup steps."""
    if not is_storage_account(account):
        raise ValueError("storage account name is not valid")
    enable: tuple[_Word, ...] = (
        "az", "ad", "sp", "update", "--id", app_id, "--set", "accountEnabled=true",
    )  # fmt: skip
    open_network: tuple[_Word, ...] = (
        "az", "storage", "account", "update", "--name", account,
        "--public-network-access", "Enabled", "--default-action", "Allow",
    )  # fmt: skip
    return {
        "enableServicePrincipal": _script((None, enable)),
        "allowPublicNetworkAccess": _script((None, open_network)),
    }


def build_setup_instructions(
    *,
    account: str,
    container: str,
    app_id: str,
    app_name: str,
    origin: str,
    authority: str = DEFAULT_AUTHORITY,
) -> SetupInstructions:
    if not is_storage_account(account):
        raise ValueError("storage account name is not valid")
    return SetupInstructions(
        storageAccount=account,
        container=container,
        servicePrincipal=_service_principal(app_id, app_name, authority),
        roleAssignment=_role_assignment(account, container, app_id, app_name),
        cors=_cors(account, origin),
        propagationMinutes=5,
    )
