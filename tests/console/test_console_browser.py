"""The web console in headless Chromium against the real app under the dev host and Azurite.

What a user sees: the wizard on a seeded container (field errors at the field, the setup
commands, the check ladder, the preview), a sync whose progress bar moves, the Explorer with
thumbnails and the skip report as CSV (the API's rows), the Connection Manager renaming and
deleting, a failing check shown where the user looks, the free plan's refusal. Every screen is
scanned with axe-core and photographed at 390 px and 1280 px; the tab must log no console error
and see no failed request other than the refusals a test provokes on purpose.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from azure.storage.blob import ContainerClient
from playwright.sync_api import Browser, expect

import mediagen
from devhost.azurite import Azurite, EmulatorAccount
from tests.console.conftest import (
    APP_ID,
    Console,
    PermissionFaultProxy,
    Service,
    console_tab,
    corpus,
    running_service,
    upload,
)

#: Records every value the sync progress bar takes (installed over the DevTools protocol, so
#: the page's CSP is not loosened for it).
WATCH_PROGRESS = """() => {
  window.__progressValues = [];
  const seen = (bar) => {
    const value = bar.getAttribute('value');
    const list = window.__progressValues;
    if (list[list.length - 1] !== value) list.push(value);
  };
  new MutationObserver(() => {
    const bar = document.getElementById('sync-progress');
    if (bar) seen(bar);
  }).observe(document.body, {subtree: true, childList: true, attributes: true,
                             attributeFilter: ['value']});
}"""


def _skipped_rows(service: Service, org: str, conn: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    token = ""
    while True:
        params = {"status": "skipped", "pageSize": "1000"}
        if token:
            params["continuationToken"] = token
        response = service.api("GET", f"orgs/{org}/connections/{conn}/assets", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        rows += page["items"]
        token = page["continuationToken"] or ""
        if not token:
            return rows


def test_walk_the_wizard_sync_and_read_the_skip_report(
    console: Console, service: Service, container: ContainerClient, unique_name: str
) -> None:
    files = corpus(90, seed=11)
    upload(container, files)
    org = f"org-{unique_name}"
    service.create_org(org)
    page = console.page

    console.sign_in(org)
    console.heading("Connections")
    expect(page.get_by_text("No connections yet.")).to_be_visible()
    console.screen("connections-empty")

    # -- step 1: details; the rule is checked as you type, the API's error shows at the field
    page.get_by_role("navigation").get_by_role("link", name="Connect a container").click()
    console.heading("Connect a container")
    account = page.get_by_label("Storage account")
    account.fill("Bad_Account")
    account_error = page.locator('[data-error-for="storageAccount"]')
    expect(account_error).to_have_text("3-24 lowercase letters and digits")
    expect(account).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Connection name").fill("Field media")
    page.get_by_label("Dataset id").fill("ds1")
    page.get_by_label("Container", exact=True).fill(container.container_name)
    console.expect_refusal(400, r"/connections$")
    page.get_by_role("button", name="Create connection").click()
    expect(account).to_be_focused()
    expect(account_error).to_have_text("3-24 lowercase letters and digits")
    assert any(r.method == "POST" and r.url.endswith("/connections") for r in console.requests)
    console.screen("wizard-details-error")

    account.fill(service.customer.name)
    expect(account_error).to_have_text("")
    page.get_by_role("button", name="Create connection").click()

    # -- steps 2-4: service principal, role with the container condition, CORS
    console.heading("Give the service read access")
    expect(page.get_by_text("created.")).to_be_visible()
    conn = re.search(r"#/c/([a-z0-9]{16})/setup", page.url)
    assert conn, page.url
    conn_id = conn[1]
    expect(page.get_by_label("Service principal command")).to_have_text(
        f"az ad sp create --id {APP_ID}"
    )
    expect(page.get_by_label("Condition")).to_contain_text(
        f"StringEquals '{container.container_name}'"
    )
    expect(page.get_by_label("Role assignment command")).to_contain_text("--condition-version 2.0")
    expect(page.get_by_label("CORS command")).to_contain_text(service.customer.name)
    console.screen("wizard-access")

    # -- test connection: every check's verdict, and the way on
    page.get_by_role("link", name="Next: test the connection").click()
    console.heading("Test the connection")
    page.get_by_role("button", name="Test connection").click()
    checks = page.locator("[data-check]")
    expect(page.locator('[data-check="list_blobs"] .badge')).to_have_text("pass")
    assert checks.count() >= 4
    expect(page.locator(".check-fail")).to_have_count(0)
    console.screen("wizard-test-passed")

    # -- preview: counts by kind against the API's own answer, data rows vs the quota
    page.get_by_role("link", name="Next: preview").click()
    console.heading("Preview")
    expect(page.get_by_role("button", name="Sync now")).to_be_visible()
    images = sum(1 for name, _ in files if re.search(r"\.(jpe?g|png|webp|tiff?|bmp|gif)$", name))
    stats = page.locator(".stat")
    expect(stats.filter(has_text="Images").locator("dd")).to_have_text(str(images))
    expect(stats.filter(has_text="Data rows left this month")).to_contain_text("100,000")
    expect(page.locator(".sample li").first).to_be_visible()
    console.screen("wizard-preview")

    # -- sync now: the bar moves through at least three values, then the summary
    page.evaluate(WATCH_PROGRESS)
    page.get_by_role("button", name="Sync now").click()
    console.heading("Field media")
    expect(page.get_by_text("you can close this tab")).to_be_visible()
    expect(page.locator(".progress-text")).to_contain_text("completed", timeout=180_000)
    values: list[str] = page.evaluate("() => window.__progressValues")
    distinct = list(dict.fromkeys(values))
    assert len(distinct) >= 3, values
    assert distinct[-1] == "100", values
    assert [int(v) for v in distinct] == sorted(int(v) for v in distinct), values
    progress = service.api("GET", f"orgs/{org}/connections/{conn_id}/syncs").json()["items"][0]
    counts = progress["counts"]
    expect(page.locator(".stat").filter(has_text="Skipped").locator("dd")).to_have_text(
        str(counts["skipped"])
    )
    expect(page.get_by_role("table", name="Run history")).to_contain_text("completed")
    expect(page.get_by_role("button", name="Cancel sync")).to_be_hidden()
    console.screen("bucket-completed")

    # -- Explorer: the count in the header, thumbnails, the skip report filtered by reason
    page.get_by_role("link", name="Explorer and skip report").click()
    console.heading("Explorer: Field media")
    expect(page.locator("#asset-count")).to_contain_text(
        f"{counts['synced']} assets synced · {counts['skipped']} skipped"
    )
    thumb = page.locator(".asset-synced .thumb img").first
    expect(thumb).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.thumb img')].some(i => i.complete && i.naturalWidth > 0)"
    )
    cards = page.locator("article.asset")
    expect(cards).to_have_count(24)
    console.screen("explorer")
    page.get_by_role("button", name="Load more").click()
    expect(cards).to_have_count(48)
    page.get_by_label("Skip reason").select_option("exif_orientation")
    rotated = page.locator('[data-name="planted/rotated phone photo.jpg"]')
    rotated.get_by_text("How to fix").click()
    expect(rotated.locator("details.fix p")).to_be_visible()
    expect(rotated).to_contain_text("mogrify -auto-orient")
    expect(page.get_by_label("Status")).to_have_value("skipped")
    expect(page.locator(".asset-synced")).to_have_count(0)
    console.screen("explorer-skipped")

    with page.expect_download() as info:
        page.get_by_role("button", name="Download skip report (CSV)").click()
    download = info.value
    assert download.suggested_filename == f"skip-report-{conn_id}.csv"
    text = Path(download.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    api_rows = _skipped_rows(service, org, conn_id)
    assert len(rows) == len(api_rows) == counts["skipped"]
    by_name = {r["name"]: r for r in rows}
    for item in api_rows:
        row = by_name[str(item["name"])]
        assert row["reason"] == item["reason"]
        assert row["fix"] == (item["fix"] or "")
        assert row["size"] == str(item["size"])
        assert row["reason_title"] == (item["reasonTitle"] or "")
    assert by_name["planted/empty.jpg"]["reason"] == "empty"
    assert by_name["planted/gopro.mp4"]["reason"] == "mp4_major_brand"

    # -- Connection Manager: rename, then delete

    # A preview after a sync shows thumbnails of the sampled images already checked.
    page.goto(f"{service.console_url}#/c/{conn_id}/preview")
    console.heading("Preview")
    expect(page.locator(".sample li").first).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.sample img')]"
        ".some(i => i.complete && i.naturalWidth > 0)"
    )
    # Only formats a browser draws get a thumbnail (no broken image for a TIFF: see screen()).
    console.screen("preview-resync")
    page.get_by_role("navigation").get_by_role("link", name="Connections").click()
    console.heading("Connections")
    row = page.locator(f'[data-connection="{conn_id}"]')
    expect(row).to_contain_text("Field media")
    expect(row).to_contain_text(str(counts["synced"]))
    console.screen("connections")
    row.get_by_role("button", name="Rename or re-scope").click()
    page.get_by_label("Connection name").fill("Field media (2026)")
    page.get_by_label("Folder prefix").fill("site-a/")
    console.screen("connections-edit")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved “Field media (2026)”.")).to_be_visible()
    expect(row).to_contain_text("Field media (2026)")
    expect(row).to_contain_text("site-a/")
    stored = service.api("GET", f"orgs/{org}/connections/{conn_id}").json()
    assert (stored["name"], stored["prefix"]) == ("Field media (2026)", "site-a/")

    # Re-sync from the manager: the re-scoped run marks the files outside the prefix removed.
    row.get_by_role("button", name="Re-sync").click()
    console.heading("Field media (2026)")
    expect(page.locator(".progress-text")).to_contain_text("completed", timeout=180_000)
    expect(page.get_by_role("table", name="Run history").locator("tbody tr")).to_have_count(2)
    outside = sum(1 for name, _ in files if not name.startswith("site-a/"))
    removed = page.locator(".stat").filter(has_text="Removed").locator("dd")
    expect(removed).not_to_have_text("0")
    assert int(removed.inner_text().replace(",", "")) <= outside
    page.get_by_role("navigation").get_by_role("link", name="Connections").click()
    console.heading("Connections")
    row.get_by_role("button", name="Delete").click()
    console.screen("connections-confirm-delete")
    page.get_by_role("button", name="Delete “Field media (2026)”").click()
    expect(page.get_by_text("Connection “Field media (2026)” deleted.")).to_be_visible()
    expect(row).to_have_count(0)
    assert service.api("GET", f"orgs/{org}/connections/{conn_id}").status_code == 404
    # The key never travelled in a URL, nor was it kept anywhere the browser persists.
    assert all(service.function_key not in r.url for r in console.requests)
    kept = page.evaluate(
        "() => [localStorage.length, sessionStorage.length, document.cookie, location.href]"
    )
    assert kept[:3] == [0, 0, ""] and service.function_key not in kept[3]
    assert all(
        r.headers.get("x-functions-key") == service.function_key
        for r in console.requests
        if "/api/orgs/" in r.url
    )


def test_a_failing_check_is_shown_with_its_fix(
    console: Console, service: Service, unique_name: str
) -> None:
    org = f"org-{unique_name}"
    service.create_org(org)
    created = service.api(
        "POST",
        f"orgs/{org}/connections",
        json={
            "dataset": "ds1",
            "name": "Missing container",
            "storageAccount": service.customer.name,
            "container": "no-such-container",
        },
    )
    assert created.status_code == 201, created.text
    conn_id = created.json()["connection"]["id"]
    page = console.page
    console.sign_in(org)
    console.heading("Connections")
    page.goto(f"{service.console_url}#/c/{conn_id}/test")
    console.heading("Test the connection")
    page.get_by_role("button", name="Test connection").click()

    summary = page.locator(".test-results .alert-error")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("1 check failed: ")
    failed = page.locator('[data-check="list_blobs"]')
    expect(failed).to_have_class(re.compile(r"\bcheck-fail\b"))
    expect(failed.locator(".badge")).to_have_text("fail")
    expect(failed).to_contain_text("no-such-container")
    expect(failed.locator(".check-fix")).to_contain_text("Fix: ")
    expect(page.get_by_role("link", name="Next: preview")).to_have_count(0)
    console.screen("wizard-test-failed")


def test_a_wrong_key_and_the_free_plan_are_explained(
    console: Console, service: Service, unique_name: str
) -> None:
    org = f"free-{unique_name}"
    service.create_org(org, plan="free", quota=1000)
    page = console.page

    console.expect_refusal(401, r"/usage$")
    console.sign_in(org, key="not-the-key")
    expect(page.get_by_role("alert")).to_contain_text("The service refused the key")
    expect(page.get_by_label("Function key")).to_have_value("")
    console.screen("sign-in-refused")

    # Keyboard only: the organisation field has focus, Tab reaches the key, Enter signs in.
    page.goto(service.console_url)
    expect(page.get_by_label("Organisation")).to_be_focused()
    page.keyboard.type(org)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Function key")).to_be_focused()
    page.keyboard.type(service.function_key)
    page.keyboard.press("Enter")
    console.heading("Connections")
    page.get_by_role("navigation").get_by_role("link", name="Usage").click()
    console.heading("Usage")
    expect(page.get_by_text("The free plan cannot sync external storage")).to_be_visible()
    expect(page.locator(".stat").filter(has_text="Monthly limit")).to_contain_text("1,000")
    console.screen("usage-free-plan")

    page.get_by_role("navigation").get_by_role("link", name="Connect a container").click()
    # Focus order follows the form.
    page.get_by_label("Connection name").focus()
    for label in ("Dataset id", "Storage account", "Container", "Folder prefix"):
        page.keyboard.press("Tab")
        expect(page.get_by_label(label, exact=label == "Container")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Create connection")).to_be_focused()
    page.get_by_label("Connection name").fill("Main bucket")
    page.get_by_label("Dataset id").fill("ds1")
    page.get_by_label("Storage account").fill(service.customer.name)
    page.get_by_label("Container", exact=True).fill("cameras")
    console.expect_refusal(403, r"/connections$")
    page.get_by_role("button", name="Create connection").click()
    refusal = page.get_by_role("alert")
    expect(refusal).to_contain_text("A paid plan is required")
    expect(refusal).to_contain_text("plan_required")

    # Signing out forgets the key: the next screen is the sign-in, with empty fields.
    page.get_by_role("button", name="Sign out").click()
    console.heading("Sign in")
    expect(page.get_by_role("navigation")).to_be_hidden()
    expect(page.get_by_label("Function key")).to_have_value("")


def test_delete_is_refused_while_a_sync_runs_and_cancel_stops_it(
    console: Console, service: Service, container: ContainerClient, unique_name: str
) -> None:
    # Enough small photos that the run is still going while the user clicks around.
    upload(container, [(f"cam/{i:04}.jpg", mediagen.jpeg(48, 36, seed=i)) for i in range(400)])
    org = f"org-{unique_name}"
    service.create_org(org)
    created = service.api(
        "POST",
        f"orgs/{org}/connections",
        json={
            "dataset": "ds1",
            "name": "Busy bucket",
            "storageAccount": service.customer.name,
            "container": container.container_name,
        },
    )
    assert created.status_code == 201, created.text
    conn_id = created.json()["connection"]["id"]
    started = service.api("POST", f"orgs/{org}/connections/{conn_id}/syncs")
    assert started.status_code == 202, started.text
    run_id = started.json()["runId"]

    page = console.page
    console.sign_in(org)
    console.heading("Connections")
    row = page.locator(f'[data-connection="{conn_id}"]')
    expect(row.locator(".badge")).to_have_text("syncing")
    console.expect_refusal(409, rf"/connections/{conn_id}$")
    row.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Delete “Busy bucket”").click()
    refusal = row.get_by_role("alert")
    expect(refusal).to_be_focused()
    expect(refusal).to_contain_text("Not deleted: a sync is running")
    expect(refusal).to_contain_text(f"sync run {run_id} of this connection is running")
    console.screen("connections-delete-refused")

    row.get_by_role("link", name="Busy bucket").click()
    console.heading("Busy bucket")
    cancel = page.get_by_role("button", name="Cancel sync")
    cancel.click()
    try:
        expect(page.locator(".progress-text")).to_contain_text("cancelled", timeout=60_000)
    except AssertionError:
        shown = page.locator("#main").inner_text()
        run = service.api("GET", f"orgs/{org}/connections/{conn_id}/syncs/{run_id}").text
        raise AssertionError(f"not cancelled; the page shows:\n{shown}\nthe API: {run}") from None
    expect(cancel).to_be_hidden()
    expect(page.get_by_role("table", name="Run history")).to_contain_text("cancelled")
    console.screen("bucket-cancelled")
    view = service.api("GET", f"orgs/{org}/connections/{conn_id}/syncs/{run_id}").json()
    assert view["status"] == "cancelled"


def test_a_retryable_check_counts_down_and_retries_by_itself(
    browser: Browser,
    azurite: Azurite,
    platform_account: EmulatorAccount,
    customer_account: EmulatorAccount,
    container: ContainerClient,
    unique_name: str,
    tmp_path: Path,
) -> None:
    """While the role assignment propagates, listing is refused; the console says so, counts
    down the seconds the API gives and tests again without a click, then shows the pass."""
    upload(container, [("a.jpg", mediagen.jpeg(48, 36, seed=1))])
    proxy = PermissionFaultProxy(azurite.blob_port, container.container_name)
    try:
        with running_service(
            azurite,
            platform_account,
            customer_account,
            blob_endpoint=proxy.endpoint,
            workspace=tmp_path / "devhost",
        ) as service:
            org = f"org-{unique_name}"
            service.create_org(org)
            created = service.api(
                "POST",
                f"orgs/{org}/connections",
                json={
                    "dataset": "ds1",
                    "name": "New role",
                    "storageAccount": customer_account.name,
                    "container": container.container_name,
                },
            )
            assert created.status_code == 201, created.text
            conn_id = created.json()["connection"]["id"]
            with console_tab(browser, service) as console:
                page = console.page
                # The browser's clock runs as usual, and can be moved on to skip the wait.
                page.clock.install()
                console.sign_in(org)
                console.heading("Connections")
                page.goto(f"{service.console_url}#/c/{conn_id}/test")
                console.heading("Test the connection")
                page.get_by_role("button", name="Test connection").click()
                listing = page.locator('[data-check="list_blobs"]')
                expect(listing.locator(".badge")).to_have_text("fail")
                countdown = page.locator(".countdown")
                expect(countdown).to_contain_text(re.compile(r"Retrying in \d+ s"))
                first = int(re.findall(r"\d+", countdown.inner_text())[0])
                expect(countdown).not_to_contain_text(f"Retrying in {first} s")
                assert proxy.refused > 0
                console.screen("wizard-test-retrying")
                proxy.refusing = False
                page.clock.run_for(first * 1000)
                expect(listing.locator(".badge")).to_have_text("pass")
                expect(page.get_by_role("link", name="Next: preview")).to_be_visible()
                expect(countdown).to_have_count(1)
                expect(countdown).to_have_text("")
    finally:
        proxy.close()
