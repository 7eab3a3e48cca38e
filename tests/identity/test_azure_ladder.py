"""The connection test in azure mode, end to end: the app's own code (azure-identity, the Blob
SDK) against the local identity stack, one test per situation a customer can be in. Each test
asserts the verdict the customer sees and that its fix names the real cause."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Any

import pytest

from shared import wiring
from shared.diagnostics import run_checks
from shared.store._common import utcnow
from tests.api.client import ApiClient
from tests.api.conftest import APP_NAME, ORIGIN
from tests.conftest import CUSTOMER_ACCOUNT, OTHER_CUSTOMER_ACCOUNT
from tests.identity.conftest import Seed
from tests.identity_stack.stack import IdentityStack
from tests.support.ladder import ALL_PASS, JPEG, checks, run_test, verdicts

ORDER = [
    "storage_account", "identity", "network_access", "list_blobs",
    "role_scope", "read_blob", "least_privilege", "cors",
]  # fmt: skip

pytestmark = pytest.mark.usefixtures("azure_env")


_CONNECTIONS: dict[tuple[str, str], str] = {}


def test_connection(client: ApiClient, org: str, container: str) -> dict[str, Any]:
    """POST .../test for a connection to ``container`` (created on first use)."""
    if (org, container) not in _CONNECTIONS:
        created = client.post(
            f"/api/orgs/{org}/connections",
            json={"dataset": "ds1", "name": f"n-{container}",
                  "storageAccount": CUSTOMER_ACCOUNT, "container": container},
        )  # fmt: skip
        assert created.status == 201, created.json
        _CONNECTIONS[(org, container)] = created.json["connection"]["id"]
    connection_id = _CONNECTIONS[(org, container)]
    report, _ = run_test(client, org, connection_id)
    assert [c["check"] for c in report["checks"]] == ORDER
    assert report["mode"] == "azure"
    return report


test_connection.__test__ = False  # type: ignore[attr-defined]


def customer(stack: IdentityStack, *, register: bool = True) -> str:
    """A customer tenant owning both customer accounts, CORS set, the app registered."""
    tenant = stack.new_tenant()
    stack.add_account(CUSTOMER_ACCOUNT, tenant)
    stack.add_account(OTHER_CUSTOMER_ACCOUNT, tenant)
    stack.set_cors(CUSTOMER_ACCOUNT, ORIGIN)
    if register:
        stack.register_app(tenant)
    return tenant


def test_all_correct(client: ApiClient, paid_org: str, stack: IdentityStack, seed: Seed) -> None:
    tenant = customer(stack)
    container = seed({"cats/a.jpg": JPEG})
    seed({"private.jpg": JPEG})  # another container the condition must keep out
    stack.assign_reader(CUSTOMER_ACCOUNT, condition=container)
    report = test_connection(client, paid_org, container)
    assert verdicts(report) == ALL_PASS
    assert report["outcome"] == "pass"
    assert checks(report)["identity"]["details"]["tenantId"] == tenant
    # Tokens were requested in the tenant the account's challenge named, by the platform app.
    assert {(t[1], t[2]) for t in stack.token_requests()} == {(tenant, stack.app_id)}
    assert stack.secret not in json.dumps(report)
    # What the test costs the customer: list, one ranged read, list containers, one try of
    # another container (plus the anonymous probe and CORS preflight).
    assert len(stack.storage_events()) == 4


def test_app_not_registered_then_registered(
    client: ApiClient, paid_org: str, stack: IdentityStack, seed: Seed
) -> None:
    tenant = customer(stack, register=False)
    container = seed({"a.jpg": JPEG})
    report = test_connection(client, paid_org, container)
    identity = checks(report)["identity"]
    assert (identity["status"], identity["code"]) == ("fail", "app_not_registered")
    assert "AADSTS7000229" in identity["message"] and tenant in identity["message"]
    assert f"az ad sp create --id {stack.app_id}" in identity["fix"]
    assert f"adminconsent?client_id={stack.app_id}" in identity["fix"]
    assert identity["retryable"] is False and report["retryable"] is False
    for later in ("network_access", "list_blobs", "role_scope", "read_blob", "least_privilege"):
        assert checks(report)[later]["dependsOn"] == "identity"
    # The customer follows the fix and tests again right away: MSAL would replay the cached
    # refusal for 60 s from the same credential, the app starts a fresh one.
    stack.register_app(tenant)
    stack.assign_reader(CUSTOMER_ACCOUNT, condition=container)
    again = test_connection(client, paid_org, container)
    assert verdicts(again)["identity"] == ("pass", "token_issued")
    assert verdicts(again)["list_blobs"] == ("pass", "blobs_listed")


def test_service_principal_disabled(
    client: ApiClient, paid_org: str, stack: IdentityStack, seed: Seed
) -> None:
    tenant = customer(stack, register=False)
    stack.register_app(tenant, enabled=False)
    report = test_connection(client, paid_org, seed({"a.jpg": JPEG}))
    identity = checks(report)["identity"]
    assert (identity["status"], identity["code"]) == ("fail", "app_disabled")
    assert "AADSTS7000112" in identity["message"]
    assert "disabled" in identity["message"]
    assert f"az ad sp update --id {stack.app_id} --set accountEnabled=true" in identity["fix"]
    assert APP_NAME in identity["fix"]
    assert report["retryable"] is False


def test_conditional_access_blocks_the_app(
    client: ApiClient, paid_org: str, stack: IdentityStack, seed: Seed
) -> None:
    tenant = customer(stack)
    stack.fail_tokens(tenant, 53003, "Access has been blocked by Conditional Access policies.")
    report = test_connection(client, paid_org, seed({"a.jpg": JPEG}))
    identity = checks(report)["identity"]
    assert (identity["status"], identity["code"]) == ("fail", "conditional_access_blocked")
    assert "Conditional Access" in identity["fix"] and APP_NAME in identity["fix"]
    assert report["retryable"] is False


def test_an_unlisted_aadsts_code_names_the_code_and_is_not_retryable(
    client: ApiClient, paid_org: str, stack: IdentityStack, seed: Seed
) -> None:
    tenant = customer(stack)
    stack.fail_tokens(tenant, 50097, "Device authentication is required.")
    identity = checks(test_connection(client, paid_org, seed({"a.jpg": JPEG})))["identity"]
    assert (identity["code"], identity["retryable"]) == ("token_refused", False)
    assert "AADSTS50097" in identity["message"]
    assert "error?code=50097" in identity["fix"]


def test_no_role_is_retryable_only_while_it_could_be_propagating(
    client: ApiClient, paid_org: str, stack: IdentityStack, seed: Seed
) -> None:
    customer(stack)
    container = seed({"a.jpg": JPEG})
    report = test_connection(client, paid_org, container)
    listing = checks(report)["list_blobs"]
    assert (listing["status"], listing["code"]) == ("fail", "role_missing_or_propagating")
    assert listing["retryable"] is True and 15 <= listing["retryAfterSeconds"] <= 60
    assert "Storage Blob Data Reader" in listing["fix"]
    assert "--assignee-object-id" in listing["fix"] and f"StringEquals '{container}'" in (
        listing["fix"].replace("'\"'\"'", "'")
    )
    assert verdicts(report)["role_scope"] == ("skipped", "depends_on_failed_check")
    # Six minutes on, the same refusal is no longer called propagation.
    later = asyncio.run(
        run_checks(
            connection_id=report["connectionId"],
            account=CUSTOMER_ACCOUNT,
            container=container,
            prefix="",
            storage=wiring.wiring().storage,
            settings=wiring.wiring().settings,
            previous=report,
            now=utcnow() + timedelta(minutes=6),
        )
    )
    listing = checks(dict(later))["list_blobs"]
    assert listing["code"] == "role_missing_or_propagating"
    assert listing["retryable"] is False and "more than five minutes" in listing["message"]


def test_role_still_propagating_then_passes(
    client: ApiClient, paid_org: str, stack: IdentityStack, seed: Seed
) -> None:
    customer(stack)
    container = seed({"a.jpg": JPEG})
    stack.directory.propagation_seconds = 3.0
    grant = stack.assign_reader(CUSTOMER_ACCOUNT, condition=container)
    report = test_connection(client, paid_org, container)
    assert verdicts(report)["list_blobs"] == ("fail", "role_missing_or_propagating")
    assert (report["retryable"], report["outcome"]) == (True, "fail")
    assert report["retryAfterSeconds"] >= 15
    time.sleep(max(0.0, grant.effective_at - time.monotonic()) + 0.2)
    again = test_connection(client, paid_org, container)
    assert verdicts(again)["list_blobs"] == ("pass", "blobs_listed")
    assert again["outcome"] == "pass"


def test_role_on_the_container_without_condition(
    client: ApiClient, paid_org: str, stack: IdentityStack, seed: Seed
) -> None:
    customer(stack)
    container = seed({"a.jpg": JPEG})
    seed({"private.jpg": JPEG})
    stack.assign_reader(CUSTOMER_ACCOUNT, container=container)
    report = test_connection(client, paid_org, container)
    got = verdicts(report)
    assert got["list_blobs"] == ("pass", "blobs_listed")
    assert got["read_blob"] == ("pass", "blob_readable")
    assert got["role_scope"] == ("pass", "role_on_container")
    assert f"on the container '{container}' itself" in checks(report)["role_scope"]["message"]
    assert got["least_privilege"] == ("pass", "scope_is_container")
    assert report["outcome"] == "pass"


def test_condition_naming_another_container(
    client: ApiClient, paid_org: str, stack: IdentityStack, seed: Seed
) -> None:
    customer(stack)
    container = seed({"a.jpg": JPEG})
    stack.assign_reader(CUSTOMER_ACCOUNT, condition="media-2023")
    report = test_connection(client, paid_org, container)
    scope = checks(report)["role_scope"]
    assert (scope["status"], scope["code"]) == ("fail", "condition_wrong_container")
    assert "condition names another container" in scope["message"]
    assert f"StringEquals '{container}'" in scope["fix"]
    listing = checks(report)["list_blobs"]
    assert (listing["status"], listing["code"]) == ("fail", "listing_denied_by_condition")
    assert listing["retryable"] is True  # a condition edited a minute ago may still propagate


def test_no_condition_warns_about_least_privilege(
    client: ApiClient, paid_org: str, stack: IdentityStack, seed: Seed
) -> None:
    customer(stack)
    container = seed({"a.jpg": JPEG})
    other = seed({"private.jpg": JPEG})
    stack.assign_reader(CUSTOMER_ACCOUNT)
    report = test_connection(client, paid_org, container)
    least = checks(report)["least_privilege"]
    assert (least["status"], least["code"]) == ("warn", "condition_missing")
    assert least["details"]["otherContainer"] == other
    assert "--condition" in least["fix"] and f"limiting it to '{container}'" in least["message"]
    assert report["outcome"] == "warn"


def test_network_rules_block_the_platform(
    client: ApiClient, paid_org: str, stack: IdentityStack, seed: Seed
) -> None:
    customer(stack)
    container = seed({"a.jpg": JPEG})
    stack.assign_reader(CUSTOMER_ACCOUNT, condition=container)
    stack.block_network(CUSTOMER_ACCOUNT)
    report = test_connection(client, paid_org, container)
    network = checks(report)["network_access"]
    assert (network["status"], network["code"]) == ("fail", "firewall_blocked")
    assert "AuthorizationFailure" in network["message"]
    assert "Enabled from all networks" in network["fix"]
    assert "outbound IP" not in network["fix"]
    assert checks(report)["identity"]["dependsOn"] == "network_access"
    assert report["retryable"] is False


def test_cors_missing(client: ApiClient, paid_org: str, stack: IdentityStack, seed: Seed) -> None:
    customer(stack)
    stack.set_cors(CUSTOMER_ACCOUNT)  # no rule
    container = seed({"v/clip.mp4": b"\x00" * 64})
    stack.assign_reader(CUSTOMER_ACCOUNT, condition=container)
    report = test_connection(client, paid_org, container)
    cors = checks(report)["cors"]
    assert (cors["status"], cors["code"]) == ("warn", "cors_missing")
    assert "Video previews will not play" in cors["message"]
    assert "az storage account blob-service-properties cors-rule add" in cors["fix"]
    assert f"--origins {ORIGIN}" in cors["fix"]
    assert report["outcome"] == "warn"


def test_storage_account_that_does_not_exist(
    client: ApiClient, paid_org: str, stack: IdentityStack
) -> None:
    customer(stack)
    created = client.post(
        f"/api/orgs/{paid_org}/connections",
        json={"dataset": "ds1", "name": "ghost", "storageAccount": "ghostaccount",
              "container": "media"},
    )  # fmt: skip
    report = client.post(
        f"/api/orgs/{paid_org}/connections/{created.json['connection']['id']}/test"
    ).json
    account = checks(report)["storage_account"]
    assert (account["status"], account["code"]) == ("fail", "storage_account_not_found")
    assert "Check the storage account name" in account["fix"]
    assert all(c["dependsOn"] == "storage_account" for c in report["checks"][1:])
    assert not stack.token_requests()  # nothing to sign in to


def test_a_tenant_entra_id_does_not_know(
    client: ApiClient, paid_org: str, stack: IdentityStack, seed: Seed
) -> None:
    """The account's challenge names a tenant that no longer exists (AADSTS90002 from the
    tenant's discovery document)."""
    stack.add_account(CUSTOMER_ACCOUNT, "3c5f8a1e-0000-4000-8000-00000000dead")
    identity = checks(test_connection(client, paid_org, seed({"a.jpg": JPEG})))["identity"]
    assert identity["status"] == "fail"
    assert identity["code"] == "tenant_not_found", identity
    assert identity["retryable"] is False
    assert CUSTOMER_ACCOUNT in identity["fix"]


def test_entra_id_unreachable_is_retryable(
    azure_env: pytest.MonkeyPatch, client: ApiClient, paid_org: str, stack: IdentityStack,
    seed: Seed,
) -> None:  # fmt: skip
    from devhost.azurite import free_port

    customer(stack)
    azure_env.setenv("PLATFORM_APP_AUTHORITY_HOST", f"https://127.0.0.1:{free_port()}")
    wiring.reset()
    report = test_connection(client, paid_org, seed({"a.jpg": JPEG}))
    identity = checks(report)["identity"]
    assert (identity["code"], identity["retryable"]) == ("token_failed", True)
    assert report["retryable"] is True and report["retryAfterSeconds"] == 30
