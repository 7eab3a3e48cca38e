"""The connection test ladder: real Azurite where it can produce the case, injected Azure
answers (azure-core policies and transports) where it cannot."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from azure.data.tables import TableServiceClient
from azure.identity import ClientSecretCredential
from azure.storage.blob import BlobServiceClient, CorsRule

from devhost.azurite import EmulatorAccount, emulator_key
from shared import wiring
from shared.customer_storage import CustomerStorage
from tests.api.client import ApiClient
from tests.api.conftest import APP_ID, ORIGIN, MakeContainer
from tests.api.faults import (
    FaultPolicy,
    ScriptedTransport,
    azure_error,
    canned,
    container_properties_of,
    dns_failure,
    entra_id,
    list_blobs_in,
    read_blob_in,
)
from tests.support.ladder import ALL_PASS, JPEG, checks, run_test, verdicts

NewConnection = Callable[..., dict[str, Any]]
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def inject(policy: FaultPolicy) -> None:
    wiring.override_customer_storage(
        CustomerStorage(wiring.wiring().settings, per_call_policies=[policy])
    )


# -- what Azurite can produce -------------------------------------------------------------------


def test_readable_container(
    client: ApiClient, paid_org: str, make_container: MakeContainer, new_connection: NewConnection
) -> None:
    container = make_container(
        {"cats/a.jpg": JPEG, "cats/clip.mp4": b"\x00" * 64, "dogs/b.jpg": JPEG}
    )
    make_container({"other.jpg": JPEG})  # another container the account key can also read
    connection = new_connection(container, prefix="cats/")
    report, _ = run_test(client, paid_org, connection["id"])
    got = verdicts(report)
    assert got["storage_account"] == ("pass", "storage_account_found")
    assert got["identity"] == ("skipped", "identity_not_used")
    assert got["network_access"] == ("pass", "network_allowed")
    assert got["list_blobs"] == ("pass", "blobs_listed")
    assert got["read_blob"] == ("pass", "blob_readable")
    assert checks(report)["read_blob"]["details"]["blob"].startswith("cats/")
    assert got["least_privilege"] == ("warn", "condition_missing")
    assert report["mode"] == "emulator"
    assert report["outcome"] in ("warn", "pass")
    assert [c["check"] for c in report["checks"]] == [
        "storage_account", "identity", "network_access", "list_blobs",
        "role_scope", "read_blob", "least_privilege", "cors",
    ]  # fmt: skip
    # The manager shows the result and the state it leads to.
    view = client.get(f"/api/orgs/{paid_org}/connections/{connection['id']}").json
    assert view["state"] == "ready"
    assert view["lastTest"] == report


def test_empty_prefix_warns_and_skips_the_read(
    client: ApiClient, paid_org: str, make_container: MakeContainer, new_connection: NewConnection
) -> None:
    connection = new_connection(make_container({"a.jpg": JPEG}), prefix="nothing-here/")
    report, _ = run_test(client, paid_org, connection["id"])
    got = verdicts(report)
    assert got["list_blobs"] == ("warn", "prefix_empty")
    assert got["read_blob"] == ("skipped", "no_blob_to_read")
    assert "prefix" in checks(report)["list_blobs"]["fix"]


def test_missing_container(client: ApiClient, paid_org: str, new_connection: NewConnection) -> None:
    connection = new_connection("no-such-container")
    report, _ = run_test(client, paid_org, connection["id"])
    got = verdicts(report)
    assert got["storage_account"] == ("pass", "storage_account_found")
    assert got["list_blobs"] == ("fail", "container_not_found")
    for later in ("role_scope", "read_blob", "least_privilege"):
        assert checks(report)[later]["status"] == "skipped"
        assert checks(report)[later]["dependsOn"] == "list_blobs"
    assert report["outcome"] == "fail"
    assert report["retryable"] is False
    assert "container" in checks(report)["list_blobs"]["fix"]
    view = client.get(f"/api/orgs/{paid_org}/connections/{connection['id']}").json
    assert (view["state"], view["lastTest"]["outcome"]) == ("needs_attention", "fail")


def _assert_account_missing(report: dict[str, Any]) -> None:
    assert verdicts(report)["storage_account"] == ("fail", "storage_account_not_found")
    assert all(
        c["status"] == "skipped" and c["dependsOn"] == "storage_account"
        for c in report["checks"][1:]
    )
    assert report["outcome"] == "fail"
    assert report["retryable"] is False


def test_account_that_is_not_configured(
    client: ApiClient, paid_org: str, new_connection: NewConnection
) -> None:
    connection = new_connection("media", storageAccount="ghostaccount")
    report, _ = run_test(client, paid_org, connection["id"])
    _assert_account_missing(report)


def test_account_that_the_emulator_does_not_serve(
    client: ApiClient,
    api_env: pytest.MonkeyPatch,
    paid_org: str,
    customer_account: EmulatorAccount,
    other_customer_account: EmulatorAccount,
    new_connection: NewConnection,
) -> None:
    accounts = [customer_account, other_customer_account]
    configured = ";".join(f"{a.name}:{a.key}" for a in accounts)
    api_env.setenv("EMULATOR_ACCOUNTS", f"{configured};ghostserved:{emulator_key('ghostserved')}")
    wiring.reset()
    connection = new_connection("media", storageAccount="ghostserved")
    report, _ = run_test(client, paid_org, connection["id"])
    _assert_account_missing(report)


@pytest.fixture
def cors_rules(blob_service: BlobServiceClient) -> Iterator[Callable[[list[CorsRule]], None]]:
    """Set the customer account's Blob CORS rules (account-wide), restored afterwards."""
    saved = blob_service.get_service_properties()["cors"]

    def set_rules(rules: list[CorsRule]) -> None:
        blob_service.set_service_properties(cors=rules)

    yield set_rules
    blob_service.set_service_properties(cors=saved)


def test_cors_rule_present(
    client: ApiClient,
    paid_org: str,
    make_container: MakeContainer,
    new_connection: NewConnection,
    cors_rules: Callable[[list[CorsRule]], None],
) -> None:
    cors_rules(
        [
            CorsRule(
                [ORIGIN],
                ["GET"],
                allowed_headers=["*"],
                exposed_headers=["*"],
                max_age_in_seconds=3600,
            )
        ]
    )
    connection = new_connection(make_container({"v/clip.mp4": b"\x00" * 32}))
    report, _ = run_test(client, paid_org, connection["id"])
    assert verdicts(report)["cors"] == ("pass", "cors_ok")


def test_cors_rule_absent_or_for_another_origin(
    client: ApiClient,
    paid_org: str,
    make_container: MakeContainer,
    new_connection: NewConnection,
    cors_rules: Callable[[list[CorsRule]], None],
) -> None:
    connection = new_connection(make_container({"v/clip.mp4": b"\x00" * 32}))
    for rules in ([], [CorsRule(["https://elsewhere.example"], ["GET"])]):
        cors_rules(rules)
        report, _ = run_test(client, paid_org, connection["id"])
        cors = checks(report)["cors"]
        assert (cors["status"], cors["code"]) == ("warn", "cors_missing")
        assert "Video previews will not play" in cors["message"]
        assert "az storage account blob-service-properties cors-rule add" in cors["fix"]
        assert f"--origins {ORIGIN} --methods GET HEAD" in cors["fix"]
        assert report["outcome"] != "fail"  # CORS is a warning, never a failure


# -- what Azurite cannot produce: injected Azure answers ----------------------------------------


def test_permission_mismatch_is_retryable_while_the_role_propagates(
    client: ApiClient,
    paid_org: str,
    make_container: MakeContainer,
    new_connection: NewConnection,
    platform_account: EmulatorAccount,
) -> None:
    container = make_container({"a.jpg": JPEG})
    policy = FaultPolicy()
    policy.on(list_blobs_in(container), azure_error(403, "AuthorizationPermissionMismatch"))
    policy.on(
        container_properties_of(container), azure_error(403, "AuthorizationPermissionMismatch")
    )
    inject(policy)
    connection = new_connection(container)
    report, headers = run_test(client, paid_org, connection["id"])
    listing = checks(report)["list_blobs"]
    assert (listing["status"], listing["code"]) == ("fail", "role_missing_or_propagating")
    assert listing["retryable"] is True
    assert 15 <= listing["retryAfterSeconds"] <= 60
    assert listing["failingSince"] == report["testedAt"]
    assert "Storage Blob Data Reader" in listing["fix"] and "storage account" in listing["fix"]
    assert verdicts(report)["role_scope"] == ("skipped", "depends_on_failed_check")
    assert (report["outcome"], report["retryable"]) == ("fail", True)
    assert headers["retry-after"] == str(report["retryAfterSeconds"])

    # Ten minutes later it still fails: no longer called propagation.
    tables = TableServiceClient.from_connection_string(platform_account.connection_string)
    row = tables.get_table_client("Connections").get_entity(paid_org, connection["id"])
    stored = json.loads(row["lastTest"])
    earlier = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for item in stored["checks"]:
        if "failingSince" in item:
            item["failingSince"] = earlier
    tables.get_table_client("Connections").update_entity(
        {"PartitionKey": paid_org, "RowKey": connection["id"], "lastTest": json.dumps(stored)}
    )
    later, headers = run_test(client, paid_org, connection["id"])
    listing = checks(later)["list_blobs"]
    assert listing["retryable"] is False
    assert listing["failingSince"] == earlier
    assert "more than five minutes" in listing["message"]
    assert later["retryable"] is False and "retry-after" not in headers


def test_properties_readable_but_listing_refused_means_a_condition_on_another_container(
    client: ApiClient, paid_org: str, make_container: MakeContainer, new_connection: NewConnection
) -> None:
    container = make_container({"a.jpg": JPEG})
    policy = FaultPolicy().on(
        list_blobs_in(container), azure_error(403, "AuthorizationPermissionMismatch")
    )  # container properties stay readable: a role reaches the container
    inject(policy)
    report, _ = run_test(client, paid_org, new_connection(container)["id"])
    scope = checks(report)["role_scope"]
    assert (scope["status"], scope["code"]) == ("fail", "condition_wrong_container")
    assert "condition names another container" in scope["message"]
    assert f"StringEquals '{container}'" in scope["fix"]
    assert verdicts(report)["list_blobs"] == ("fail", "listing_denied_by_condition")


def test_firewall_refusal(
    client: ApiClient, paid_org: str, make_container: MakeContainer, new_connection: NewConnection
) -> None:
    container = make_container({"a.jpg": JPEG})
    inject(FaultPolicy().on(list_blobs_in(container), azure_error(403, "AuthorizationFailure")))
    report, _ = run_test(client, paid_org, new_connection(container)["id"])
    network = checks(report)["network_access"]
    assert (network["status"], network["code"]) == ("fail", "firewall_blocked")
    assert "Networking" in network["fix"]
    assert checks(report)["list_blobs"]["dependsOn"] == "network_access"
    assert report["retryable"] is False


def test_container_not_found_answer(
    client: ApiClient, paid_org: str, make_container: MakeContainer, new_connection: NewConnection
) -> None:
    container = make_container({"a.jpg": JPEG})
    inject(FaultPolicy().on(list_blobs_in(container), azure_error(404, "ContainerNotFound")))
    report, _ = run_test(client, paid_org, new_connection(container)["id"])
    listing = checks(report)["list_blobs"]
    assert (listing["status"], listing["code"]) == ("fail", "container_not_found")
    assert "create the container" in listing["fix"]
    assert listing["retryable"] is False


def test_read_refused_while_listing_works(
    client: ApiClient, paid_org: str, make_container: MakeContainer, new_connection: NewConnection
) -> None:
    container = make_container({"a.jpg": JPEG})
    inject(
        FaultPolicy().on(
            read_blob_in(container), azure_error(403, "AuthorizationPermissionMismatch")
        )
    )
    report, _ = run_test(client, paid_org, new_connection(container)["id"])
    read = checks(report)["read_blob"]
    assert verdicts(report)["list_blobs"] == ("pass", "blobs_listed")
    assert (read["status"], read["code"]) == ("fail", "read_denied")
    assert "names another container" in read["message"]
    assert f"StringEquals '{container}'" in read["fix"]
    assert read["retryable"] is True  # a just-edited condition may still be propagating


def test_condition_enforced_when_other_containers_are_refused(
    client: ApiClient, paid_org: str, make_container: MakeContainer, new_connection: NewConnection
) -> None:
    container = make_container({"a.jpg": JPEG})
    make_container({"secret.jpg": JPEG})

    def elsewhere(request: Any) -> bool:
        return (
            "comp=list" in request.url
            and "restype=container" in request.url
            and (urlsplit(request.url).path.rstrip("/").rsplit("/", 1)[-1] != container)
        )

    inject(FaultPolicy().on(elsewhere, azure_error(403, "AuthorizationPermissionMismatch")))
    report, _ = run_test(client, paid_org, new_connection(container)["id"])
    assert verdicts(report)["least_privilege"] == ("pass", "condition_enforced")


def test_dns_failure_means_no_such_account(
    client: ApiClient, paid_org: str, new_connection: NewConnection
) -> None:
    policy = FaultPolicy().on(lambda request: True, dns_failure)
    inject(policy)
    report, _ = run_test(client, paid_org, new_connection("media")["id"])
    _assert_account_missing(report)
    assert "Check the storage account name" in checks(report)["storage_account"]["fix"]
    # The probe fails once and nothing else is tried (no retries of a name that does not exist).
    assert len([s for s in policy.seen if s[0] == "GET"]) == 1


# -- Azure mode: tenant discovery and tokens ----------------------------------------------------


def _list_xml(container: str, names: list[str]) -> bytes:
    blobs = "".join(
        f"<Blob><Name>{n}</Name><Properties><Last-Modified>Mon, 01 Jan 2024 00:00:00 GMT"
        "</Last-Modified><Etag>0x8DC</Etag><Content-Length>2048</Content-Length>"
        "<Content-Type>image/jpeg</Content-Type><BlobType>BlockBlob</BlobType></Properties></Blob>"
        for n in names
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint='
        f'"https://contosomedia.blob.core.windows.net/" ContainerName="{container}">'
        f"<Blobs>{blobs}</Blobs><NextMarker /></EnumerationResults>"
    ).encode()


def _containers_xml(names: list[str]) -> bytes:
    items = "".join(
        f"<Container><Name>{n}</Name><Properties><Last-Modified>Mon, 01 Jan 2024 00:00:00 GMT"
        "</Last-Modified><Etag>0x1</Etag></Properties></Container>"
        for n in names
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint='
        f'"https://contosomedia.blob.core.windows.net/"><Containers>{items}</Containers>'
        "<NextMarker /></EnumerationResults>"
    ).encode()


def scripted_azure(container: str, *, token_error: str | None = None) -> ScriptedTransport:
    """Azure Blob Storage for account contosomedia in tenant TENANT, plus Entra ID."""
    transport = ScriptedTransport()
    entra_id(transport, token_error=token_error)
    storage_host = "contosomedia.blob.core.windows.net"

    def on_storage(request: Any) -> bool:
        return urlsplit(request.url).hostname == storage_host

    def anonymous(request: Any) -> bool:
        return (
            on_storage(request)
            and request.method == "GET"
            and "Authorization" not in request.headers
        )

    challenge = (
        f"Bearer authorization_uri=https://login.microsoftonline.com/{TENANT}/oauth2/authorize "
        "resource_id=https://storage.azure.com"
    )
    transport.on(
        anonymous,
        lambda r: canned(
            r,
            401,
            b"",
            {"WWW-Authenticate": challenge, "x-ms-error-code": "NoAuthenticationInformation"},
        ),
    )
    transport.on(
        lambda r: on_storage(r) and r.method == "OPTIONS",
        lambda r: canned(
            r,
            200,
            b"",
            {"Access-Control-Allow-Origin": ORIGIN, "Access-Control-Allow-Methods": "GET"},
        ),
    )
    transport.on(
        list_blobs_in(container),
        lambda r: canned(
            r, 200, _list_xml(container, ["cats/a.jpg"]), {"Content-Type": "application/xml"}
        ),
    )
    transport.on(
        read_blob_in(container),
        lambda r: canned(
            r,
            206,
            JPEG[:512],
            {
                "Content-Range": "bytes 0-511/2048",
                "Content-Type": "image/jpeg",
                "x-ms-blob-type": "BlockBlob",
                "ETag": '"0x8DC"',
                "Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT",
            },
        ),
    )
    transport.on(
        lambda r: on_storage(r) and "comp=list" in r.url and "restype" not in r.url,
        lambda r: canned(
            r,
            200,
            _containers_xml([container, "private-data"]),
            {"Content-Type": "application/xml"},
        ),
    )
    transport.on(list_blobs_in("private-data"), azure_error(403, "AuthorizationPermissionMismatch"))
    return transport


@pytest.fixture
def azure_mode(api_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    api_env.setenv("CUSTOMER_STORAGE_MODE", "azure")
    api_env.setenv("PLATFORM_APP_CLIENT_SECRET", "not-a-real-secret")
    api_env.setenv("PLATFORM_APP_TENANT_ID", "f0e1d2c3-0000-4000-8000-00000000a11e")
    wiring.reset()
    return api_env


def use_azure(transport: ScriptedTransport) -> None:
    credential = ClientSecretCredential(
        "organizations", APP_ID, "not-a-real-secret",
        additionally_allowed_tenants=["*"], transport=transport,
    )  # fmt: skip
    wiring.override_customer_storage(
        CustomerStorage(wiring.wiring().settings, transport=transport.aio, credential=credential)
    )


def test_azure_mode_discovers_the_tenant_and_passes(
    azure_mode: pytest.MonkeyPatch, client: ApiClient, paid_org: str, new_connection: NewConnection
) -> None:
    transport = scripted_azure("media")
    use_azure(transport)
    report, _ = run_test(client, paid_org, new_connection("media")["id"])
    assert report["mode"] == "azure"
    assert verdicts(report) == ALL_PASS
    assert report["outcome"] == "pass"
    # Tokens were requested in the tenant named by the storage challenge, and only the
    # account's own endpoint and Entra ID were ever called.
    token_calls = [url for method, url, _ in transport.seen if url.endswith("/token")]
    assert token_calls and all(f"/{TENANT}/" in url for url in token_calls)
    hosts = {urlsplit(url).hostname for _, url, _ in transport.seen}
    assert hosts == {"contosomedia.blob.core.windows.net", "login.microsoftonline.com"}
    signed = [h for m, u, h in transport.seen if "blob.core" in u and "Authorization" in h]
    assert signed and all(h["Authorization"] == "Bearer fake-access-token" for h in signed)
    assert "not-a-real-secret" not in json.dumps(report)


def test_azure_mode_app_not_registered_in_the_tenant(
    azure_mode: pytest.MonkeyPatch, client: ApiClient, paid_org: str, new_connection: NewConnection
) -> None:
    transport = scripted_azure(
        "media",
        token_error=f"AADSTS700016: Application with identifier '{APP_ID}' was not found in "
        f"the directory '{TENANT}'.",
    )
    use_azure(transport)
    report, _ = run_test(client, paid_org, new_connection("media")["id"])
    identity = checks(report)["identity"]
    assert (identity["status"], identity["code"]) == ("fail", "app_not_registered")
    assert f"az ad sp create --id {APP_ID}" in identity["fix"]
    assert identity["retryable"] is False
    for later in ("network_access", "list_blobs", "role_scope", "read_blob", "least_privilege"):
        assert checks(report)[later]["dependsOn"] == "identity"
    assert verdicts(report)["cors"] == ("pass", "cors_ok")  # anonymous: independent of the role
    assert not [u for m, u, h in transport.seen if "blob.core" in u and "Authorization" in h]
