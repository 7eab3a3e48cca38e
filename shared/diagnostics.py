"""Wizard step 5: the connection test, a ladder of checks against the customer's storage.

Each check ends ``pass``, ``fail``, ``warn`` or ``skipped`` with a stable ``code``, a message and
the fix. A check is ``skipped`` when one it depends on failed (``dependsOn`` names it) or when it
does not apply (emulator mode). Results are listed in ladder order:

====================  ==================================================================
``storage_account``   an anonymous request reaches the account (missing: DNS / not served)
``identity``          the platform app gets a token in the tenant named by the account's
                      bearer challenge (Azure mode; each AADSTS code a customer can hit has
                      its own verdict: 700016/7000229 → ``az ad sp create``, 7000112 → the
                      service principal is disabled, 53003 → Conditional Access, ...)
``network_access``    the account's network rules let the platform in (403 AuthorizationFailure)
``list_blobs``        blobs under the prefix can be listed (ContainerNotFound;
                      AuthorizationPermissionMismatch → role missing or still propagating)
``role_scope``        where the role sits (account or container; see below)
``read_blob``         the first bytes of a listed blob can be read
``least_privilege``   another container's blobs are *not* readable (else: condition missing)
``cors``              a real preflight from the platform origin succeeds (videos only: warn)
====================  ==================================================================

**Propagation.** Azure takes up to five minutes to apply a role assignment or condition, so a
permission failure is ``retryable`` with ``retryAfterSeconds`` while it is younger than five
minutes; ``failingSince`` is carried over from the connection's previous test so a failure that
outlives the window stops being called retryable. Nothing else is retryable except an
unreachable service (network, throttling).

**Role scope.** The data plane cannot show role assignments, but Storage Blob Data Reader's
actions tell the cases apart: Get Container Properties needs ``containers/read`` (never limited
by the container condition), List Blobs and Get Blob need ``containers/blobs/read`` (limited by
it), List Containers needs the role on the account.

- listing refused, container properties refused → no role reaches the container yet (missing,
  still propagating, or on another container): ``list_blobs`` says so;
- listing refused, container properties readable → a role reaches the container but its
  condition names another container: ``role_scope`` fails with ``condition_wrong_container``;
- listing works, the account's containers listable → the role is on the account
  (``role_scope_ok``), and ``least_privilege`` tries another container (condition or not);
- listing works, the account's containers refused → the role is on the container itself
  (``role_on_container``): as narrow as the condition, so ``least_privilege`` passes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, NotRequired, TypedDict, TypeVar

from azure.core.exceptions import AzureError
from azure.storage.blob import BlobProperties
from azure.storage.blob.aio import BlobServiceClient, ContainerClient

from shared.customer_storage import (
    AccountProbe,
    CustomerStorage,
    RetryProfile,
    StorageFailure,
    StorageFault,
    TokenRequestError,
    classify_error,
)
from shared.errors import ConflictError
from shared.preview import MediaKind, kind_of
from shared.settings import Settings
from shared.setup_instructions import (
    SetupInstructions,
    build_setup_instructions,
    remedy_commands,
)
from shared.store._common import as_datetime, iso, utcnow
from shared.store.connections import (
    Connection,
    ConnectionRepository,
    ConnectionState,
    require_connection,
)
from shared.store.orgs import OrganizationRepository

__all__ = [
    "PROPAGATION_SECONDS",
    "CheckId",
    "CheckResult",
    "CheckStatus",
    "ConnectionTestReport",
    "run_checks",
    "run_connection_test",
]

_log = logging.getLogger(__name__)

#: Azure can take this long to apply a role assignment or condition change.
PROPAGATION_SECONDS = 300
_LIST_SAMPLE = 50
_READ_BYTES = 512

T = TypeVar("T")


async def _first_page(pages: AsyncIterator[AsyncIterator[T]]) -> list[T]:
    """The items of a pager's first page (its request is sent here); [] when it has none."""
    page = await anext(pages, None)
    return [item async for item in page] if page is not None else []


class CheckStatus(str, Enum):
    PASS = "pass"  # noqa: S105 - a check status
    FAIL = "fail"
    WARN = "warn"
    SKIPPED = "skipped"


class CheckId(str, Enum):
    STORAGE_ACCOUNT = "storage_account"
    IDENTITY = "identity"
    NETWORK_ACCESS = "network_access"
    LIST_BLOBS = "list_blobs"
    ROLE_SCOPE = "role_scope"
    READ_BLOB = "read_blob"
    LEAST_PRIVILEGE = "least_privilege"
    CORS = "cors"


_TITLES = {
    CheckId.STORAGE_ACCOUNT: "The storage account exists",
    CheckId.IDENTITY: "The platform app can sign in to your tenant",
    CheckId.NETWORK_ACCESS: "The storage firewall lets the platform in",
    CheckId.LIST_BLOBS: "Blobs under the prefix can be listed",
    CheckId.ROLE_SCOPE: "The role is assigned on the storage account",
    CheckId.READ_BLOB: "A blob's first bytes can be read",
    CheckId.LEAST_PRIVILEGE: "Access is limited to this container",
    CheckId.CORS: "CORS allows video previews",
}


class CheckResult(TypedDict):
    check: str
    title: str
    status: str
    code: str
    message: str
    fix: str | None
    retryable: bool
    retryAfterSeconds: NotRequired[int]
    #: When a permission failure was first seen (it stops being retryable after 5 minutes).
    failingSince: NotRequired[str]
    #: For ``skipped``: the failed check this one depends on.
    dependsOn: NotRequired[str]
    details: NotRequired[dict[str, str | int]]


class ConnectionTestReport(TypedDict):
    connectionId: str
    testedAt: str
    mode: str
    #: ``fail`` if any check failed, else ``warn`` if any warned, else ``pass``.
    outcome: str
    #: True when every failure may clear by itself (propagation, a busy service): retry later.
    retryable: bool
    retryAfterSeconds: int | None
    checks: list[CheckResult]


# -- the ladder ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    account: str
    container: str
    prefix: str
    setup: SetupInstructions


class _Ladder:
    """Collects results, remembers which checks failed, and applies the propagation window."""

    def __init__(self, previous: Mapping[str, Any] | None, now: datetime) -> None:
        self.results: dict[CheckId, CheckResult] = {}
        self._now = now
        self._since: dict[tuple[str, str], datetime] = {}
        for item in (previous or {}).get("checks", []) or []:
            if isinstance(item, dict) and item.get("failingSince"):
                key = (str(item.get("check")), str(item.get("code")))
                self._since[key] = as_datetime(item["failingSince"], now)

    def failed(self, check: CheckId) -> bool:
        result = self.results.get(check)
        return result is not None and result["status"] == CheckStatus.FAIL.value

    def blocker(self, *checks: CheckId) -> CheckId | None:
        return next((c for c in checks if self.failed(c)), None)

    def add(
        self,
        check: CheckId,
        status: CheckStatus,
        code: str,
        message: str,
        fix: str | None = None,
        *,
        retry_after: int | None = None,
        propagation: bool = False,
        details: dict[str, str | int] | None = None,
    ) -> None:
        result = CheckResult(
            check=check.value,
            title=_TITLES[check],
            status=status.value,
            code=code,
            message=message,
            fix=fix,
            retryable=retry_after is not None,
        )
        if propagation and status is CheckStatus.FAIL:
            since = self._since.get((check.value, code), self._now)
            left = PROPAGATION_SECONDS - (self._now - since).total_seconds()
            result["failingSince"] = iso(since)
            if left > 0:
                result["retryable"] = True
                result["retryAfterSeconds"] = int(max(15, min(60, left)))
            else:
                result["retryable"] = False
                result["message"] += (
                    " It has failed for more than five minutes, so it is not propagation delay."
                )
        elif retry_after is not None:
            result["retryAfterSeconds"] = retry_after
        if details:
            result["details"] = details
        self.results[check] = result

    def add_storage_failure(
        self,
        check: CheckId,
        failure: StorageFailure,
        action: str,
        *,
        details: dict[str, str | int] | None = None,
    ) -> None:
        """A failure no more specific rule explains: transient (retry soon) or unexpected."""
        if failure.retryable:
            self.add(
                check,
                CheckStatus.FAIL,
                "storage_unavailable",
                "The storage account is busy or could not be reached.",
                "Try again in a minute.",
                retry_after=30,
                details=details,
            )
            return
        self.add(
            check,
            CheckStatus.FAIL,
            "storage_error",
            f"{action} failed with HTTP {failure.status} {failure.error_code or ''}".strip() + ".",
            "Try again; if it persists, contact support with this code.",
            details=details,
        )

    def skip(self, check: CheckId, blocker: CheckId) -> None:
        self.add(
            check,
            CheckStatus.SKIPPED,
            "depends_on_failed_check",
            f"Not run: it needs '{blocker.value}' to pass first.",
        )
        self.results[check]["dependsOn"] = blocker.value

    def report(self, connection_id: str, mode: str) -> ConnectionTestReport:
        checks = [self.results[c] for c in CheckId if c in self.results]
        failures = [r for r in checks if r["status"] == CheckStatus.FAIL.value]
        if failures:
            outcome = CheckStatus.FAIL.value
        elif any(r["status"] == CheckStatus.WARN.value for r in checks):
            outcome = CheckStatus.WARN.value
        else:
            outcome = CheckStatus.PASS.value
        retryable = bool(failures) and all(r["retryable"] for r in failures)
        after = max((r.get("retryAfterSeconds", 0) for r in failures), default=0)
        return ConnectionTestReport(
            connectionId=connection_id,
            testedAt=iso(self._now),
            mode=mode,
            outcome=outcome,
            retryable=retryable,
            retryAfterSeconds=after if retryable else None,
            checks=checks,
        )


def _storage_account(ladder: _Ladder, target: _Target, probe: AccountProbe) -> None:
    account = target.account
    check = CheckId.STORAGE_ACCOUNT
    fault = probe.failure.fault if probe.failure else None
    if probe.exists is False:
        ladder.add(
            check,
            CheckStatus.FAIL,
            "storage_account_not_found",
            f"No storage account named '{account}' answers.",
            "Check the storage account name (Azure portal → Storage accounts); if it was "
            "mistyped, create a new connection with the right name.",
        )
    elif probe.exists is None:
        ladder.add(
            check,
            CheckStatus.FAIL,
            "storage_account_unreachable",
            f"The storage account '{account}' could not be reached (network error).",
            "Try again in a minute; if it persists, check the account name.",
            retry_after=30,
        )
    elif fault is StorageFault.ACCOUNT_DISABLED:
        ladder.add(
            check,
            CheckStatus.FAIL,
            "storage_account_disabled",
            f"The storage account '{account}' is disabled.",
            "Re-enable the storage account in the Azure portal, then test again.",
        )
    else:
        ladder.add(check, CheckStatus.PASS, "storage_account_found", f"'{account}' answers.")


def _remedy(target: _Target, name: str) -> str:
    """One of the fixes' commands, for bash (the setup instructions carry PowerShell too)."""
    app_id = target.setup["servicePrincipal"]["appId"]
    return remedy_commands(account=target.account, app_id=app_id)[name]["bash"]


def _network_blocked(ladder: _Ladder, target: _Target) -> None:
    account = target.account
    ladder.add(
        CheckId.NETWORK_ACCESS,
        CheckStatus.FAIL,
        "firewall_blocked",
        f"The network rules of '{account}' refuse the platform's requests "
        "(403 AuthorizationFailure): public network access is disabled, or enabled from "
        "selected networks only.",
        f"Open the storage account '{account}' > Networking > Firewalls and virtual networks "
        "and set Public network access to 'Enabled from all networks' (access still needs the "
        f"role assignment), or run `{_remedy(target, 'allowPublicNetworkAccess')}`; then test "
        "again. "
        "An IP rule for the platform's addresses is not a fix: IP rules do not apply to "
        "requests from the same Azure region, and the platform is not a trusted Azure service "
        "nor reachable through your private endpoint.",
    )


#: AADSTS codes a customer's tenant can answer for the platform app, with the verdict code, the
#: cause and the fix (``{command}``: the az ad sp create command; ``{app}``: the app id).
_AAD_VERDICTS: dict[str, tuple[str, str, str]] = {
    "700016": (
        "app_not_registered",
        "The platform app is not registered in tenant {tenant} (AADSTS700016).",
        "Run `{command}` in a shell signed in (az login) to the tenant that owns "
        "'{account}', or open {consent} as an administrator of that tenant; then test again.",
    ),
    "7000229": (
        "app_not_registered",
        "The platform app has no service principal in tenant {tenant} (AADSTS7000229): "
        "`az ad sp create` was not run there.",
        "Run `{command}` in a shell signed in (az login) to the tenant that owns "
        "'{account}', or open {consent} as an administrator of that tenant; then test again.",
    ),
    "7000112": (
        "app_disabled",
        "The platform app's service principal is disabled in tenant {tenant} (AADSTS7000112).",
        "Re-enable it: Microsoft Entra ID > Enterprise applications > '{name}' > Properties > "
        "'Enabled for users to sign-in?' = Yes, or run `{enable}`; then test again.",
    ),
    "53003": (
        "conditional_access_blocked",
        "A Conditional Access policy in tenant {tenant} blocked the platform app's sign-in "
        "(AADSTS53003).",
        "In Microsoft Entra ID > Protection > Conditional Access, find the policy that targets "
        "workload identities (the sign-in logs' 'Service principal sign-ins' name it) and "
        "exclude '{name}' ({app}), or allow its location; then test again.",
    ),
    "90002": (
        "tenant_not_found",
        "Tenant {tenant}, named by the storage account, was not found (AADSTS90002).",
        "Check that '{account}' is the right storage account and that its tenant is active.",
    ),
    "90072": (
        "app_not_registered",
        "The platform app cannot sign in to tenant {tenant} (AADSTS90072).",
        "Run `{command}` in the tenant that owns '{account}', then test again.",
    ),
}
#: Failures of the platform's own credential: nothing the customer can change.
_PLATFORM_SIDE = {"7000215", "7000222", "700027", "700024", "70021", "700025", "7000274"}


def _token_refused(ladder: _Ladder, target: _Target, tenant: str, exc: TokenRequestError) -> None:
    check = CheckId.IDENTITY
    sp = target.setup["servicePrincipal"]
    code = exc.aad_code
    values = {
        "tenant": tenant,
        "account": target.account,
        "command": sp["command"],
        "consent": sp["adminConsentUrl"],
        "name": sp["appName"],
        "app": sp["appId"],
        "enable": _remedy(target, "enableServicePrincipal"),
    }
    details: dict[str, str | int] = {"tenantId": tenant}
    if code:
        details["aadCode"] = f"AADSTS{code}"
    if code in _AAD_VERDICTS:
        verdict, message, fix = _AAD_VERDICTS[code]
        ladder.add(
            check,
            CheckStatus.FAIL,
            verdict,
            message.format(**values),
            fix.format(**values),
            details=details,
        )
    elif code in _PLATFORM_SIDE:
        ladder.add(
            check,
            CheckStatus.FAIL,
            "platform_credential_invalid",
            f"Microsoft Entra ID refused the platform's own credential (AADSTS{code}).",
            "Nothing to change on your side: contact support with this code.",
            details=details,
        )
    elif code:
        ladder.add(
            check,
            CheckStatus.FAIL,
            "token_refused",
            f"Microsoft Entra ID refused a token for the platform app in tenant {tenant} "
            f"(AADSTS{code}).",
            f"Look the code up at https://login.microsoftonline.com/error?code={code}; most "
            f"often `{sp['command']}` has not been run in that tenant. Then test again.",
            details=details,
        )
    else:
        ladder.add(
            check,
            CheckStatus.FAIL,
            "token_failed",
            "Microsoft Entra ID could not be reached to get a token.",
            "Try again in a minute.",
            retry_after=30,
            details=details,
        )


async def _identity(
    ladder: _Ladder, target: _Target, probe: AccountProbe, storage: CustomerStorage
) -> None:
    check = CheckId.IDENTITY
    if storage.emulator:
        ladder.add(
            check,
            CheckStatus.SKIPPED,
            "identity_not_used",
            "Emulator mode signs requests with the account key; no token is needed.",
        )
        return
    tenant = probe.tenant_id
    if tenant is None:
        if probe.failure and probe.failure.fault is StorageFault.NETWORK_RULES:
            _network_blocked(ladder, target)
            ladder.skip(check, CheckId.NETWORK_ACCESS)
            return
        ladder.add(
            check,
            CheckStatus.FAIL,
            "tenant_not_discovered",
            f"'{target.account}' did not say which Microsoft Entra tenant owns it.",
            "Check that the name is an Azure Storage account with Microsoft Entra "
            "authorization enabled, then test again.",
        )
        return
    try:
        await storage.request_token(tenant)
    except TokenRequestError as exc:
        _token_refused(ladder, target, tenant, exc)
        return
    except AzureError as exc:
        failure = classify_error(exc)
        ladder.add(
            check,
            CheckStatus.FAIL,
            "token_failed",
            f"Microsoft Entra ID could not be reached ({failure.fault.value}).",
            "Try again in a minute.",
            retry_after=30,
        )
        return
    ladder.add(
        check,
        CheckStatus.PASS,
        "token_issued",
        f"The platform app got a storage token in tenant {tenant}.",
        details={"tenantId": tenant},
    )


def _role_fix(target: _Target) -> str:
    role = target.setup["roleAssignment"]
    return (
        f"Assign '{role['role']}' to the platform app ({role['memberDisplayName']}, "
        f"{role['memberIdentifier']}) on the storage account '{target.account}' — not on the "
        f"container or a blob — with the condition for container '{target.container}'. In "
        f"Cloud Shell (bash):\n{role['command']}\nRole assignments take up to five minutes "
        "to apply."
    )


async def _list_failure(
    ladder: _Ladder,
    target: _Target,
    failure: StorageFailure,
    client: ContainerClient,
) -> None:
    check = CheckId.LIST_BLOBS
    fault = failure.fault
    where = f"'{target.container}'" + (f" under '{target.prefix}'" if target.prefix else "")
    if fault is StorageFault.NETWORK_RULES:
        _network_blocked(ladder, target)
        ladder.skip(check, CheckId.NETWORK_ACCESS)
        return
    ladder.add(
        CheckId.NETWORK_ACCESS,
        CheckStatus.PASS,
        "network_allowed",
        "The storage account answered the platform's signed request.",
    )
    if fault is StorageFault.CONTAINER_NOT_FOUND:
        ladder.add(
            check,
            CheckStatus.FAIL,
            "container_not_found",
            f"The container '{target.container}' does not exist in '{target.account}'.",
            "Check the container name (it is case-sensitive and lowercase), or create the "
            "container, then test again.",
        )
    elif fault is StorageFault.PERMISSION_DENIED:
        if await _role_scope_after_denial(ladder, target, client):
            ladder.add(
                check,
                CheckStatus.FAIL,
                "listing_denied_by_condition",
                f"Listing blobs in {where} was refused (AuthorizationPermissionMismatch) by "
                "the role assignment's condition (see the role scope check).",
                ladder.results[CheckId.ROLE_SCOPE]["fix"],
                propagation=True,
            )
            return
        ladder.add(
            check,
            CheckStatus.FAIL,
            "role_missing_or_propagating",
            f"Listing blobs in {where} was refused (AuthorizationPermissionMismatch): no role "
            "assignment gives the platform app read access to this container yet. A role "
            "assigned in the last five minutes may still be propagating.",
            _role_fix(target),
            propagation=True,
        )
        return
    elif fault is StorageFault.AUTHENTICATION_FAILED:
        ladder.add(
            check,
            CheckStatus.FAIL,
            "authentication_failed",
            f"The storage account rejected the platform's credentials ({failure.error_code}).",
            "Check the account name; if it is right, contact support.",
        )
    elif fault is StorageFault.ACCOUNT_NOT_FOUND:
        ladder.add(
            check,
            CheckStatus.FAIL,
            "storage_account_not_found",
            f"No storage account named '{target.account}' answers.",
            "Check the storage account name.",
        )
    else:
        ladder.add_storage_failure(check, failure, "Listing")


async def _role_scope_after_denial(
    ladder: _Ladder, target: _Target, client: ContainerClient
) -> bool:
    """Listing was refused. Container properties need ``containers/read``, which the role grants
    whatever its condition says; listing needs ``blobs/read``, which the condition limits. So
    readable properties with listing refused means a role reaches the container but its
    condition names another container. (A role on the container itself, without condition,
    lists it fine.)"""
    try:
        await client.get_container_properties()
    except AzureError:
        return False  # no role reaches the container at all
    role = target.setup["roleAssignment"]
    ladder.add(
        CheckId.ROLE_SCOPE,
        CheckStatus.FAIL,
        "condition_wrong_container",
        f"A role reaches the container '{target.container}' but its condition does not allow "
        "reading blobs in it: the condition names another container (or a mistyped name).",
        f"Edit the role assignment on '{target.account}' (Access control (IAM) > Role "
        "assignments > Storage Blob Data Reader > Condition > Edit) so it reads "
        f"StringEquals '{target.container}', or delete it and run:\n{role['command']}",
        propagation=True,
    )
    return True


def _pick_blob(blobs: list[BlobProperties]) -> BlobProperties | None:
    readable = [b for b in blobs if (b.size or 0) > 0]
    media = [b for b in readable if kind_of(b.name) is not MediaKind.OTHER]
    candidates = media or readable
    return candidates[0] if candidates else None


async def _read_blob(
    ladder: _Ladder, target: _Target, client: ContainerClient, blobs: list[BlobProperties]
) -> None:
    check = CheckId.READ_BLOB
    blob = _pick_blob(blobs)
    if blob is None:
        ladder.add(
            check,
            CheckStatus.SKIPPED,
            "no_blob_to_read",
            "There is no non-empty blob under the prefix to read yet.",
        )
        return
    try:
        stream = await client.download_blob(blob.name, offset=0, length=_READ_BYTES)
        data = await stream.readall()
    except AzureError as exc:
        failure = classify_error(exc)
        if failure.fault is StorageFault.PERMISSION_DENIED:
            ladder.add(
                check,
                CheckStatus.FAIL,
                "read_denied",
                f"Listing works but reading '{blob.name}' was refused: the role's condition "
                f"does not allow reading blobs in '{target.container}' (it names another "
                "container, or limits reads further).",
                "Edit the role assignment's condition so it names container "
                f"'{target.container}' exactly:\n{target.setup['roleAssignment']['condition']}",
                propagation=True,
                details={"blob": blob.name},
            )
        else:
            ladder.add_storage_failure(
                check, failure, f"Reading '{blob.name}'", details={"blob": blob.name}
            )
        return
    ladder.add(
        check,
        CheckStatus.PASS,
        "blob_readable",
        f"Read the first {len(data)} bytes of '{blob.name}'.",
        details={"blob": blob.name, "bytes": len(data)},
    )


async def _role_scope(
    ladder: _Ladder, target: _Target, storage: CustomerStorage
) -> list[str] | None:
    """Listing works; where is the role? Listing the account's containers needs the role on
    the account. Returns the account's first containers, or None when they cannot be listed."""
    check = CheckId.ROLE_SCOPE
    async with storage.service_client(target.account, profile=RetryProfile.INTERACTIVE) as service:
        try:
            names = await _container_names(service)
        except AzureError as exc:
            if classify_error(exc).fault is StorageFault.PERMISSION_DENIED:
                ladder.add(
                    check,
                    CheckStatus.PASS,
                    "role_on_container",
                    f"The role is assigned on the container '{target.container}' itself, not "
                    f"on the storage account '{target.account}': the platform can read this "
                    "container only, as narrow as the recommended assignment.",
                )
            else:
                ladder.add(
                    check,
                    CheckStatus.PASS,
                    "role_scope_ok",
                    "Listing works, so the role's scope covers the container.",
                )
            return None
    ladder.add(
        check,
        CheckStatus.PASS,
        "role_scope_ok",
        f"The role is assigned on the storage account '{target.account}'.",
    )
    return names


async def _container_names(service: BlobServiceClient) -> list[str]:
    """The names on the first page (20) of the account's containers."""
    pages = service.list_containers(results_per_page=20).by_page()
    return [c.name for c in await _first_page(pages)]


async def _least_privilege(
    ladder: _Ladder,
    target: _Target,
    storage: CustomerStorage,
    emulator: bool,
    names: list[str] | None = None,
) -> None:
    check = CheckId.LEAST_PRIVILEGE
    scope = ladder.results.get(CheckId.ROLE_SCOPE)
    if scope is not None and scope["code"] == "role_on_container":
        ladder.add(
            check,
            CheckStatus.PASS,
            "scope_is_container",
            f"The role covers the container '{target.container}' only.",
        )
        return
    async with storage.service_client(target.account, profile=RetryProfile.INTERACTIVE) as service:
        if names is None:
            try:
                names = await _container_names(service)
            except AzureError:
                ladder.add(
                    check,
                    CheckStatus.SKIPPED,
                    "containers_not_listable",
                    "Could not list the account's containers to look for wider access.",
                )
                return
        others = [n for n in names if n != target.container][:3]
        if not others:
            ladder.add(
                check,
                CheckStatus.SKIPPED,
                "no_other_container",
                f"'{target.account}' has no other container to try.",
            )
            return
        for other in others:
            verdict = await _other_container_readable(service.get_container_client(other))
            if verdict is None:
                continue
            if verdict:
                note = (
                    " (Emulator mode uses the account key, which reads every container.)"
                    if emulator
                    else ""
                )
                ladder.add(
                    check,
                    CheckStatus.WARN,
                    "condition_missing",
                    f"The platform can also read container '{other}': the role has no "
                    f"condition limiting it to '{target.container}'.{note}",
                    "Add the container condition to the role assignment (Conditions tab), or "
                    f"re-create it with `{target.setup['roleAssignment']['command']}`.",
                    details={"otherContainer": other},
                )
            else:
                ladder.add(
                    check,
                    CheckStatus.PASS,
                    "condition_enforced",
                    f"Reading container '{other}' is refused, as it should be.",
                    details={"otherContainer": other},
                )
            return
    ladder.add(
        check,
        CheckStatus.SKIPPED,
        "other_containers_unavailable",
        "The other containers could not be checked.",
    )


async def _other_container_readable(client: ContainerClient) -> bool | None:
    """True: its blobs can be listed (and read); False: refused; None: could not tell."""
    try:
        page: list[BlobProperties] = await _first_page(
            client.list_blobs(results_per_page=1).by_page()
        )
        if page and (page[0].size or 0) > 0:
            await (await client.download_blob(page[0].name, offset=0, length=1)).readall()
    except AzureError as exc:
        if classify_error(exc).fault is StorageFault.PERMISSION_DENIED:
            return False
        return None
    return True


async def _cors(
    ladder: _Ladder,
    target: _Target,
    storage: CustomerStorage,
    origin: str,
    blobs: list[BlobProperties] | None,
) -> None:
    check = CheckId.CORS
    names = [b.name for b in blobs or []]
    videos = [n for n in names if kind_of(n) is MediaKind.VIDEO]
    path = (videos or names or [""])[0]
    result = await storage.preflight(target.account, target.container, path, origin=origin)
    if result.allowed:
        ladder.add(
            check,
            CheckStatus.PASS,
            "cors_ok",
            f"A browser on {origin} may read blobs (preflight answered {result.status}).",
        )
        return
    if result.status is not None:
        seen = f"the preflight answered {result.status} {result.error_code or ''}".strip()
    elif result.failure is not None:
        seen = f"the preflight could not be sent ({result.failure.fault.value})"
    else:
        seen = "the preflight failed"
    if videos or blobs is None:
        scope = "Video previews will not play"
    else:
        scope = (
            "Only video previews need it; none of the files listed so far are videos, but "
            "previews of videos added later will not play"
        )
    ladder.add(
        check,
        CheckStatus.WARN,
        "cors_missing",
        f"No Blob-service CORS rule allows GET from {origin} ({seen}). {scope}.",
        f"Add the rule: `{target.setup['cors']['command']}` (or Storage account → Resource "
        "sharing (CORS) → Blob service). Image previews work without it.",
        details={"status": result.status or 0},
    )


async def run_checks(
    *,
    connection_id: str,
    account: str,
    container: str,
    prefix: str,
    storage: CustomerStorage,
    settings: Settings,
    previous: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> ConnectionTestReport:
    """Run the ladder against the customer's storage and return the report (never raises
    for what the customer's storage answers)."""
    now = now or utcnow()
    ladder = _Ladder(previous, now)
    target = _Target(
        account,
        container,
        prefix,
        build_setup_instructions(
            account=account,
            container=container,
            app_id=settings.platform_app_id,
            app_name=settings.platform_app_name,
            origin=settings.platform_origin,
            authority=settings.platform_app_authority_host,
        ),
    )
    mode = settings.storage_mode.value
    probe = await storage.probe_account(account)
    _storage_account(ladder, target, probe)
    later = (
        CheckId.IDENTITY,
        CheckId.NETWORK_ACCESS,
        CheckId.LIST_BLOBS,
        CheckId.ROLE_SCOPE,
        CheckId.READ_BLOB,
        CheckId.LEAST_PRIVILEGE,
        CheckId.CORS,
    )
    if ladder.failed(CheckId.STORAGE_ACCOUNT):
        for check in later:
            ladder.skip(check, CheckId.STORAGE_ACCOUNT)
        return ladder.report(connection_id, mode)

    await _identity(ladder, target, probe, storage)
    blobs: list[BlobProperties] | None = None
    blocker = ladder.blocker(CheckId.NETWORK_ACCESS, CheckId.IDENTITY)
    if blocker is not None:
        for check in later[1:-1]:
            if check not in ladder.results:
                ladder.skip(check, blocker)
    else:
        blobs = await _listing_checks(ladder, target, storage)
        if blobs is not None:
            names = None if storage.emulator else await _role_scope(ladder, target, storage)
            await _least_privilege(ladder, target, storage, storage.emulator, names)
        else:
            blocker = ladder.blocker(CheckId.NETWORK_ACCESS, CheckId.LIST_BLOBS)
            for check in (CheckId.ROLE_SCOPE, CheckId.READ_BLOB, CheckId.LEAST_PRIVILEGE):
                if check not in ladder.results:
                    ladder.skip(check, blocker or CheckId.LIST_BLOBS)
    await _cors(ladder, target, storage, settings.platform_origin, blobs)
    return ladder.report(connection_id, mode)


async def _listing_checks(
    ladder: _Ladder, target: _Target, storage: CustomerStorage
) -> list[BlobProperties] | None:
    """network_access, list_blobs, role_scope and read_blob; the listed sample, or None when
    listing failed."""
    async with storage.container_client(
        target.account, target.container, profile=RetryProfile.INTERACTIVE
    ) as client:
        try:
            pages = client.list_blobs(
                name_starts_with=target.prefix or None, results_per_page=_LIST_SAMPLE
            ).by_page()
            blobs: list[BlobProperties] = await _first_page(pages)
        except AzureError as exc:
            failure = classify_error(exc, emulator=storage.emulator)
            await _list_failure(ladder, target, failure, client)
            return None
        ladder.add(
            CheckId.NETWORK_ACCESS,
            CheckStatus.PASS,
            "network_allowed",
            "The storage account answered the platform's signed request.",
        )
        where = f"'{target.container}'" + (f" under '{target.prefix}'" if target.prefix else "")
        if blobs:
            more = "at least " if len(blobs) >= _LIST_SAMPLE else ""
            ladder.add(
                CheckId.LIST_BLOBS,
                CheckStatus.PASS,
                "blobs_listed",
                f"Listed {more}{len(blobs)} blob(s) in {where}.",
                details={"listed": len(blobs)},
            )
        else:
            ladder.add(
                CheckId.LIST_BLOBS,
                CheckStatus.WARN,
                "prefix_empty",
                f"Listing works, but there are no blobs in {where}.",
                "Check the folder prefix (it is case-sensitive), or upload files; a sync of an "
                "empty prefix finds nothing.",
                details={"listed": 0},
            )
        if storage.emulator:
            ladder.add(
                CheckId.ROLE_SCOPE,
                CheckStatus.SKIPPED,
                "role_not_used",
                "Emulator mode uses the account key; there is no role assignment to check.",
            )
        await _read_blob(ladder, target, client, blobs)
        return blobs


async def run_connection_test(
    org_id: str,
    connection_id: str,
    *,
    orgs: OrganizationRepository,
    connections: ConnectionRepository,
    storage: CustomerStorage,
    settings: Settings,
    now: Callable[[], datetime] = utcnow,
) -> ConnectionTestReport:
    """``POST .../test``: run the ladder, store the report on the connection, return it.

    The table repositories block, so they run in a worker thread; the ladder runs on the
    event loop."""
    connection = await asyncio.to_thread(_connection, org_id, connection_id, orgs, connections)
    report = await run_checks(
        connection_id=connection.connection_id,
        account=connection.account,
        container=connection.container,
        prefix=connection.prefix,
        storage=storage,
        settings=settings,
        previous=connection.last_test,
        now=now(),
    )
    await asyncio.to_thread(_store, connections, connection, report)
    return report


def _connection(
    org_id: str,
    connection_id: str,
    orgs: OrganizationRepository,
    connections: ConnectionRepository,
) -> Connection:
    """The connection to test (not one being removed)."""
    connection = require_connection(org_id, connection_id, orgs=orgs, connections=connections)
    if connection.state is ConnectionState.DELETING:
        raise ConflictError("this connection is being removed", code="connection_deleting")
    return connection


def _store(
    connections: ConnectionRepository, connection: Connection, report: ConnectionTestReport
) -> None:
    state = (
        ConnectionState.NEEDS_ATTENTION
        if report["outcome"] == CheckStatus.FAIL.value
        else ConnectionState.READY
    )
    current = connection
    for _ in range(5):
        if current.state is ConnectionState.DELETING:
            return
        try:
            connections.record_test(current, report, state)
            return
        except ConflictError as exc:
            if exc.code != "connection_changed":
                raise
            current = connections.get(connection.org_id, connection.connection_id)
    _log.warning("could not store the test result of connection %s", connection.connection_id)
