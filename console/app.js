// The web console: sign-in, the connect wizard, the connected bucket with live progress, the
// Explorer (skip report + CSV) and the Connection Manager. Plain ES modules, no build step; every
// call goes to the public HTTP API through api.js.

import { api, setKey, ApiError } from "./api.js";
import {
  h,
  replace,
  uid,
  announce,
  alertBox,
  problemBox,
  number,
  bytes,
  when,
  codeBlock,
  badge,
  focusHeading,
} from "./ui.js";

const main = document.getElementById("main");
const state = { org: "", cleanup: [], notice: null, generation: 0 };

const ACTIVE = new Set(["queued", "listing", "inspecting", "finalizing"]);
const POLL_MS = 700;
// Image formats a browser draws (TIFF is synced but not drawn: its tile keeps the placeholder).
const BROWSER_IMAGES = new Set(["jpeg", "png", "webp", "gif", "bmp"]);
const REASONS = [
  "exif_orientation",
  "mp4_major_brand",
  "video_pixel_format",
  "corrupt",
  "empty",
  "unsupported_format",
  "quota_exceeded",
  "read_failed",
];

// Field rules, as the API states them (shared/naming.py); the API stays the authority.
const RULES = {
  dataset: [/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, "1-64 letters, digits, hyphens and underscores, starting with a letter or digit"],
  name: [/^[^\u0000-\u001f\u007f-\u009f]{1,100}$/, "1-100 characters, no control characters"],
  storageAccount: [/^[a-z0-9]{3,24}$/, "3-24 lowercase letters and digits"],
  container: [/^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/, "3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit"],
  prefix: [/^[^\u0000-\u001f\u007f-\u009f]{0,1024}$/, "at most 1024 characters, no control characters"],
  org: [/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, "3-63 lowercase letters, digits and hyphens, starting and ending with a letter or digit"],
};

// ------------------------------------------------------------------------------ routing
function onLeave(fn) {
  state.cleanup.push(fn);
}

function leave() {
  for (const fn of state.cleanup.splice(0)) fn();
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

class Stale extends Error {}

async function route() {
  leave();
  state.generation += 1;
  const gen = state.generation;
  const hash = location.hash.replace(/^#/, "") || "/connections";
  const parts = hash.split("/").filter(Boolean).map(decodeURIComponent);
  if (!state.org) return screenSignIn();
  const [first, id, sub] = parts;
  setNav(first === "c" ? "connections" : first);
  try {
    if (first === "new") return await screenDetails();
    if (first === "usage") return await screenUsage();
    if (first === "c" && id) {
      if (sub === "setup") return await screenSetup(id);
      if (sub === "test") return await screenTest(id);
      if (sub === "preview") return await screenPreview(id);
      if (sub === "assets") return await screenExplorer(id);
      return await screenBucket(id);
    }
    return await screenConnections();
  } catch (err) {
    if (err instanceof Stale || gen !== state.generation) return undefined;
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 401) {
      signOut("The service refused the key. Sign in again.");
      return undefined;
    }
    render(gen, "Something went wrong", problemBox(err), h("p", {}, h("a", { href: "#/connections" }, "Back to connections")));
    return undefined;
  }
}

function setNav(current) {
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function render(gen, title, ...children) {
  if (gen !== state.generation) throw new Stale();
  document.title = `${title} · Blob sync console`;
  replace(main, h("h1", {}, title), children);
  if (state.notice) {
    const notice = state.notice;
    state.notice = null;
    main.querySelector("h1").after(alertBox("success", notice));
  }
  focusHeading(main);
  announce(title);
}

function signOut(message) {
  leave();
  state.generation += 1;
  setKey("");
  state.org = "";
  document.getElementById("nav").hidden = true;
  document.getElementById("who").hidden = true;
  screenSignIn(message);
}

// ------------------------------------------------------------------------------ forms
function field(name, label, options = {}) {
  const id = uid(name);
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const input = h("input", {
    id,
    name,
    type: options.type || "text",
    value: options.value ?? "",
    required: options.required,
    autocomplete: options.autocomplete || "off",
    spellcheck: "false",
    "aria-describedby": `${options.hint ? hintId + " " : ""}${errorId}`,
  });
  const error = h("p", { id: errorId, class: "field-error", "data-error-for": name });
  const wrap = h(
    "div",
    { class: "field", "data-field": name },
    h("label", { for: id }, label, options.required ? "" : h("span", { class: "muted" }, " (optional)")),
    options.hint ? h("p", { id: hintId, class: "hint" }, options.hint) : null,
    input,
    error,
  );
  const rule = RULES[options.rule || name];
  if (rule && !options.noLiveCheck) {
    input.addEventListener("input", () => {
      const value = input.value;
      if (value === "" && !options.required) return setFieldError(wrap, "");
      setFieldError(wrap, value === "" ? "" : rule[0].test(value) ? "" : rule[1]);
    });
  }
  return wrap;
}

function setFieldError(wrap, message) {
  const input = wrap.querySelector("input, select");
  const error = wrap.querySelector(".field-error");
  error.textContent = message;
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

function showFieldErrors(form, err) {
  let first = null;
  for (const item of err.errors) {
    const wrap = form.querySelector(`[data-field="${CSS.escape(item.field)}"]`);
    if (!wrap) continue;
    setFieldError(wrap, item.message);
    first = first || wrap.querySelector("input");
  }
  return first;
}

function clearErrors(form) {
  for (const wrap of form.querySelectorAll("[data-field]")) setFieldError(wrap, "");
  for (const box of form.querySelectorAll(".alert")) box.remove();
}

function busy(button, on, text) {
  button.disabled = on;
  if (on) {
    button.dataset.label = button.textContent;
    button.textContent = text || "Working…";
  } else if (button.dataset.label) {
    button.textContent = button.dataset.label;
  }
}

// ------------------------------------------------------------------------------ sign in
function screenSignIn(message) {
  document.title = "Sign in · Blob sync console";
  const form = h(
    "form",
    { class: "card narrow", novalidate: true },
    message ? alertBox("error", message) : null,
    field("org", "Organisation", { required: true, hint: "Your organisation id, e.g. acme." }),
    field("key", "Function key", {
      type: "password",
      autocomplete: "off",
      noLiveCheck: true,
      hint: "Leave empty when the app signs you in (App Service Authentication) or runs locally. The key stays in this tab's memory only.",
    }),
    h("button", { type: "submit" }, "Open console"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const org = form.elements.org.value.trim();
    const button = form.querySelector("button[type=submit]");
    if (!RULES.org[0].test(org)) {
      setFieldError(form.querySelector('[data-field="org"]'), RULES.org[1]);
      form.elements.org.focus();
      return;
    }
    setKey(form.elements.key.value.trim());
    form.elements.key.value = "";
    busy(button, true, "Signing in…");
    try {
      await api.usage(org);
    } catch (err) {
      busy(button, false);
      setKey("");
      const box = err.status === 404
        ? alertBox("error", "No such organisation", h("p", {}, err.message))
        : problemBox(err, "Could not sign in");
      form.prepend(box);
      box.focus();
      return;
    }
    state.org = org;
    document.getElementById("nav").hidden = false;
    const who = document.getElementById("who");
    who.hidden = false;
    replace(who, "Organisation ", h("strong", {}, org), " ", h("button", { type: "button", class: "link", onclick: () => signOut() }, "Sign out"));
    go(location.hash && location.hash !== "#/" ? location.hash : "#/connections");
  });
  replace(
    main,
    h("h1", {}, "Sign in"),
    h("p", { class: "lead" }, "Connect a dataset to your Azure Blob Storage container, watch its syncs and read the skip report."),
    form,
  );
  form.elements.org.focus();
}

// ------------------------------------------------------------------------------ wizard
const STEPS = [
  ["details", "Blob details"],
  ["setup", "Access"],
  ["test", "Test connection"],
  ["preview", "Preview"],
  ["sync", "Sync"],
];

function stepper(current) {
  const index = STEPS.findIndex(([key]) => key === current);
  return h(
    "ol",
    { class: "steps", "aria-label": "Wizard steps" },
    STEPS.map(([key, label], i) =>
      h(
        "li",
        { class: i < index ? "done" : i === index ? "current" : "", "aria-current": i === index ? "step" : null },
        h("span", { class: "step-number" }, String(i + 1)),
        " ",
        label,
      ),
    ),
  );
}

async function screenDetails() {
  const gen = state.generation;
  const form = h(
    "form",
    { class: "card", novalidate: true },
    field("name", "Connection name", { required: true, hint: "Shown in the Connection Manager, e.g. Main bucket." }),
    field("dataset", "Dataset id", { required: true, hint: "The dataset the files sync into." }),
    field("storageAccount", "Storage account", { required: true, hint: "3-24 lowercase letters and digits, e.g. acmemedia." }),
    field("container", "Container", { required: true, hint: "The blob container holding the files." }),
    field("prefix", "Folder prefix", { hint: "Only blobs under this folder, e.g. 2026/. Empty for the whole container." }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create connection")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const button = form.querySelector("button[type=submit]");
    const body = {};
    for (const name of ["name", "dataset", "storageAccount", "container", "prefix"]) {
      const value = form.elements[name].value.trim();
      if (value || name !== "prefix") body[name] = value;
    }
    busy(button, true, "Creating…");
    try {
      const created = await api.createConnection(state.org, body);
      state.setup = { id: created.connection.id, setup: created.setup };
      state.notice = `Connection “${created.connection.name}” created.`;
      go(`#/c/${created.connection.id}/setup`);
    } catch (err) {
      busy(button, false);
      if (!(err instanceof ApiError)) throw err;
      const first = showFieldErrors(form, err);
      if (first) {
        first.focus();
        announce(`Check the fields: ${err.message}`);
      } else {
        const box = problemBox(err, err.code === "plan_required" ? "A paid plan is required" : "The connection was not created");
        form.prepend(box);
        box.focus();
      }
    }
  });
  render(gen, "Connect a container", stepper("details"), h("p", { class: "lead" }, "Tell us where your files are. Nothing is copied: the service reads your container read-only."), form);
}

async function screenSetup(id) {
  const gen = state.generation;
  const setup = state.setup && state.setup.id === id ? state.setup.setup : await api.setup(state.org, id);
  const sp = setup.servicePrincipal;
  const role = setup.roleAssignment;
  const cors = setup.cors;
  render(
    gen,
    "Give the service read access",
    stepper("setup"),
    h(
      "section",
      { class: "card", "aria-labelledby": "sp-title" },
      h("h2", { id: "sp-title" }, "1. Register the service in your tenant"),
      h("p", {}, `Create a service principal for the app “${sp.appName}” (application id `, h("code", {}, sp.appId), ") in your Microsoft Entra tenant. Run in Azure Cloud Shell or with the Azure CLI:"),
      codeBlock(sp.command, "Service principal command"),
      h("p", { class: "muted" }, "An administrator can also grant consent to the app from the Enterprise applications page of the Entra admin center."),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "role-title" },
      h("h2", { id: "role-title" }, "2. Assign the read role on the storage account"),
      h(
        "ol",
        { class: "portal-steps" },
        h("li", {}, "In the Azure portal, open the storage account ", h("strong", {}, setup.storageAccount), " → Access control (IAM) → Add role assignment."),
        h("li", {}, "Role: ", h("strong", {}, role.role), "."),
        h("li", {}, "Members: select ", h("strong", {}, role.memberDisplayName), " (", h("code", {}, role.memberIdentifier), ")."),
        h("li", {}, "Conditions: add the condition below so only the container ", h("strong", {}, setup.container), " is readable (version ", role.conditionVersion, ")."),
        h("li", {}, `Role assignments can take up to ${setup.propagationMinutes} minutes to apply.`),
      ),
      codeBlock(role.condition, "Condition"),
      h("p", {}, "Or with the Azure CLI:"),
      codeBlock(role.command, "Role assignment command"),
    ),
    h(
      "section",
      { class: "card", "aria-labelledby": "cors-title" },
      h("h2", { id: "cors-title" }, "3. Allow video previews (videos only)"),
      h("p", {}, `Browsers need a CORS rule on the blob service to play videos from ${cors.allowedOrigins.join(", ")}. Images work without it.`),
      codeBlock(cors.command, "CORS command"),
      h("p", {}, "Check it with:"),
      codeBlock(cors.verifyCommand, "CORS check command"),
    ),
    h("div", { class: "actions" }, h("a", { class: "button", href: `#/c/${encodeURIComponent(id)}/test` }, "Next: test the connection")),
  );
}

function checkRow(check) {
  return h(
    "li",
    { class: `check check-${check.status}`, "data-check": check.check },
    h("div", { class: "check-head" }, badge(check.status, "check"), " ", h("strong", {}, check.title)),
    h("p", { class: "check-message" }, check.message),
    check.fix ? h("p", { class: "check-fix" }, h("span", { class: "label" }, "Fix: "), check.fix) : null,
    check.retryable && check.retryAfterSeconds ? h("p", { class: "muted" }, `Retry after ${check.retryAfterSeconds} s.`) : null,
  );
}

async function screenTest(id) {
  const gen = state.generation;
  const results = h("div", { class: "test-results" });
  const runButton = h("button", { type: "button" }, "Test connection");
  let timer = null;
  let attempts = 0;
  let alive = true;
  onLeave(() => {
    alive = false;
    window.clearInterval(timer);
  });

  async function run() {
    window.clearInterval(timer);
    busy(runButton, true, "Testing…");
    replace(results, h("p", { role: "status" }, "Running the checks…"));
    let report;
    try {
      report = await api.test(state.org, id);
    } catch (err) {
      busy(runButton, false);
      replace(results, problemBox(err, "The test could not run"));
      results.firstChild.focus();
      return;
    }
    if (!alive) return;
    busy(runButton, false);
    attempts += 1;
    const failed = report.checks.filter((c) => c.status === "fail");
    const warned = report.checks.filter((c) => c.status === "warn");
    let summary;
    if (report.outcome === "fail") {
      summary = alertBox(
        "error",
        `${failed.length} check${failed.length === 1 ? "" : "s"} failed: ${failed.map((c) => c.title).join(", ")}`,
        failed.map((c) => h("p", {}, c.message)),
        h("p", {}, "The fix for each failed check is shown with it below."),
      );
    } else {
      summary = alertBox(
        "success",
        report.outcome === "warn" ? `Connected, with ${warned.length} warning${warned.length === 1 ? "" : "s"}` : "All checks passed",
      );
    }
    const countdown = h("p", { class: "countdown", role: "status" });
    replace(
      results,
      summary,
      countdown,
      h("ol", { class: "checks", "aria-label": "Checks" }, report.checks.map(checkRow)),
      report.outcome === "fail"
        ? null
        : h("div", { class: "actions" }, h("a", { class: "button", href: `#/c/${encodeURIComponent(id)}/preview` }, "Next: preview")),
    );
    if (report.outcome === "fail" && report.retryable && report.retryAfterSeconds && attempts < 10) {
      let left = report.retryAfterSeconds;
      countdown.textContent = `This can be a permission that is still propagating. Retrying in ${left} s…`;
      timer = window.setInterval(() => {
        left -= 1;
        if (left <= 0) {
          window.clearInterval(timer);
          run();
        } else {
          countdown.textContent = `This can be a permission that is still propagating. Retrying in ${left} s…`;
        }
      }, 1000);
    }
    summary.focus();
  }
  runButton.addEventListener("click", run);
  render(
    gen,
    "Test the connection",
    stepper("test"),
    h("p", { class: "lead" }, "The service checks, in order, that it can reach your account, get a token, list and read the container, and that it cannot read more than it should."),
    h("div", { class: "actions" }, runButton, h("a", { class: "button secondary", href: `#/c/${encodeURIComponent(id)}/setup` }, "Back to access steps")),
    results,
  );
}

async function screenPreview(id) {
  const gen = state.generation;
  const body = h("div", {}, h("p", { role: "status" }, "Counting the files…"));
  render(gen, "Preview", stepper("preview"), body);
  let report;
  try {
    report = await api.preview(state.org, id);
  } catch (err) {
    replace(body, problemBox(err, "The preview failed"), h("p", {}, h("a", { href: `#/c/${encodeURIComponent(id)}/test` }, "Test the connection")));
    return;
  }
  const q = report.quota;
  const rows = report.dataRows;
  const atLeast = report.complete ? "" : "at least ";
  const later = h("a", { class: "button secondary", href: `#/c/${encodeURIComponent(id)}` }, "Sync later");
  const now = h("button", { type: "button" }, "Sync now");
  const outcome = h("div");
  now.addEventListener("click", () => startSync(id, now, outcome));
  const cards = report.sample.map((item) => {
    const thumb = h("span", { class: `thumb small thumb-${item.kind}`, "aria-hidden": "true" });
    const node = h("li", { "data-name": item.name }, thumb, h("span", { class: `kind kind-${item.kind}` }, item.kind), " ", h("span", { class: "path" }, item.name), " ", h("span", { class: "muted" }, bytes(item.size)));
    return { node, thumb, item };
  });
  const sampleRows = cards.map((c) => c.node);
  replace(
    body,
    h("p", { class: "lead" }, report.summary),
    h(
      "dl",
      { class: "stats" },
      stat("Images", atLeast + number(report.counts.image)),
      stat("Videos", atLeast + number(report.counts.video)),
      stat("Other files (ignored)", atLeast + number(report.counts.other)),
      stat("Data rows needed", atLeast + number(rows.estimated)),
      stat("Data rows left this month", `${number(q.remaining)} of ${number(q.limit)}`),
    ),
    q.sufficient === false
      ? alertBox("warning", "Not enough data rows left this month", h("p", {}, "The sync will stop adding files when the quota runs out; the rest are skipped as quota_exceeded and picked up by a later sync."))
      : null,
    h("p", { class: "muted" }, report.note),
    h("h2", {}, "Sample of the files"),
    h(
      "ul",
      { class: "sample" },
      sampleRows,
    ),
    h("p", { class: "muted" }, "Thumbnails show for files an earlier sync already checked; the others appear in the Explorer once synced."),
    h("div", { class: "actions" }, now, later),
    outcome,
  );
  await sampleThumbnails(id, cards);
}

// Thumbnails for the sampled images an earlier sync already checked (short-lived read URLs).
async function sampleThumbnails(id, cards) {
  const images = cards.filter((c) => c.item.kind === "image");
  if (!images.length) return;
  let page;
  try {
    page = await api.assets(state.org, id, { status: "synced", pageSize: "1000" });
  } catch {
    return; // The list stays without thumbnails.
  }
  const byName = new Map(page.items.map((a) => [a.name, a]));
  const found = images
    .filter((c) => byName.has(c.item.name))
    .map((c) => ({ thumb: c.thumb, asset: byName.get(c.item.name) }));
  await thumbnails(id, found);
}

function stat(label, value) {
  return h("div", { class: "stat" }, h("dt", {}, label), h("dd", {}, value));
}

async function startSync(id, button, outcome) {
  busy(button, true, "Starting…");
  try {
    await api.startSync(state.org, id);
  } catch (err) {
    busy(button, false);
    const box = problemBox(err, err.code === "plan_required" ? "A paid plan is required" : err.code === "sync_already_running" ? "A sync is already running" : "The sync did not start");
    replace(outcome, box);
    box.focus();
    return;
  }
  state.notice = "Sync started. It runs in the background: you can close this tab and come back later.";
  go(`#/c/${encodeURIComponent(id)}`);
}

// ------------------------------------------------------------------------------ connected bucket
async function screenBucket(id) {
  const gen = state.generation;
  const connection = await api.getConnection(state.org, id);
  const progress = h("progress", { max: "100", value: "0", id: "sync-progress", "aria-labelledby": "progress-label" });
  const progressLabel = h("p", { id: "progress-label", class: "progress-label" }, "Sync progress");
  const progressText = h("p", { class: "progress-text", role: "status" });
  const countsBox = h("dl", { class: "stats" });
  const cancel = h("button", { type: "button", class: "danger", hidden: true }, "Cancel sync");
  const syncButton = h("button", { type: "button" }, "Sync now");
  const outcome = h("div");
  const history = h("div");
  const header = h("dl", { class: "facts" });
  let timer = null;
  let alive = true;
  let activeRun = connection.activeRunId;
  onLeave(() => {
    alive = false;
    window.clearTimeout(timer);
  });

  function facts(c, assetCount) {
    replace(
      header,
      fact("Status", badge(c.status)),
      fact("Provider", c.provider === "azure_blob" ? "Azure Blob Storage" : c.provider),
      fact("Account", c.account),
      fact("Container", c.container),
      fact("Prefix", c.prefix || "(whole container)"),
      fact("Assets", number(assetCount)),
    );
  }
  facts(connection, connection.assetCounts.synced);

  function showProgress(p) {
    const percent = Math.round(p.percent);
    progress.value = percent;
    progress.textContent = `${percent}%`;
    const total = p.totalIsEstimate ? `about ${number(p.total)}` : number(p.total);
    progressText.textContent = `${p.status}: ${number(p.processed)} of ${total} files (${percent}%)`;
    const c = p.counts;
    replace(
      countsBox,
      stat("Synced", number(c.synced)),
      stat("Skipped", number(c.skipped)),
      stat("Ignored", number(c.ignored)),
      stat("Removed", number(c.removed)),
      stat("Unchanged", number(c.unchanged)),
      stat("Read", bytes(p.bytesRead)),
    );
    facts({ ...connection, status: ACTIVE.has(p.status) ? "syncing" : connection.state }, p.assetCount);
    cancel.hidden = !ACTIVE.has(p.status);
    syncButton.hidden = ACTIVE.has(p.status);
    if (p.error) {
      replace(outcome, alertBox("error", `The sync ${p.status}`, h("p", {}, p.error.message || ""), h("p", { class: "muted" }, `Code: ${p.error.code}`)));
    }
  }

  async function poll() {
    if (!activeRun || !alive) return;
    let p;
    try {
      p = await api.run(state.org, id, activeRun);
    } catch (err) {
      if (alive) replace(outcome, problemBox(err, "Progress is not available"));
      return;
    }
    if (!alive) return;
    showProgress(p);
    if (ACTIVE.has(p.status)) {
      timer = window.setTimeout(poll, POLL_MS);
    } else {
      announce(`Sync ${p.status}`);
      activeRun = null;
      await loadHistory();
    }
  }

  async function loadHistory() {
    const runs = await api.runs(state.org, id);
    if (!runs.items.length) {
      replace(history, h("p", { class: "muted" }, "No syncs yet."));
      return runs.items;
    }
    replace(
      history,
      h(
        "div",
        { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Run history" },
        h(
          "table",
          {},
          h("caption", { class: "sr-only" }, "Run history"),
          h("thead", {}, h("tr", {}, ["Started", "Status", "Synced", "Skipped", "Finished"].map((t) => h("th", { scope: "col" }, t)))),
          h(
            "tbody",
            {},
            runs.items.map((run) =>
              h(
                "tr",
                {},
                h("td", {}, when(run.startedAt)),
                h("td", {}, badge(run.status)),
                h("td", {}, number(run.counts.synced)),
                h("td", {}, number(run.counts.skipped)),
                h("td", {}, when(run.finishedAt)),
              ),
            ),
          ),
        ),
      ),
    );
    return runs.items;
  }

  cancel.addEventListener("click", async () => {
    if (!activeRun) return;
    busy(cancel, true, "Cancelling…");
    try {
      await api.cancel(state.org, id, activeRun);
      announce("Cancel requested");
    } catch (err) {
      replace(outcome, problemBox(err, "The sync was not cancelled"));
    } finally {
      busy(cancel, false);
    }
  });
  syncButton.addEventListener("click", async () => {
    busy(syncButton, true, "Starting…");
    replace(outcome);
    try {
      const started = await api.startSync(state.org, id);
      activeRun = started.runId;
      replace(outcome, alertBox("success", "Sync started. It runs in the background: you can close this tab and come back later."));
      poll();
    } catch (err) {
      const box = problemBox(err, err.code === "plan_required" ? "A paid plan is required" : "The sync did not start");
      replace(outcome, box);
      box.focus();
    } finally {
      busy(syncButton, false);
    }
  });

  render(

    gen,
    connection.name,
    header,
    h(
      "section",
      { class: "card", "aria-labelledby": "sync-title" },
      h("h2", { id: "sync-title" }, "Sync"),
      progressLabel,
      progress,
      progressText,
      countsBox,
      h("div", { class: "actions" }, syncButton, cancel, h("a", { class: "button secondary", href: `#/c/${encodeURIComponent(id)}/assets` }, "Explorer and skip report")),
      outcome,
    ),
    h("section", { class: "card", "aria-labelledby": "history-title" }, h("h2", { id: "history-title" }, "Run history"), history),
  );
  const items = await loadHistory();
  const latest = activeRun || (items[0] && items[0].runId);
  if (latest) {
    activeRun = latest;
    await poll();
  } else {
    progressText.textContent = "Not synced yet.";
  }
}

function fact(label, value) {
  return h("div", { class: "fact" }, h("dt", {}, label), h("dd", {}, value));
}

// ------------------------------------------------------------------------------ explorer
async function screenExplorer(id) {
  const gen = state.generation;
  const connection = await api.getConnection(state.org, id);
  const counts = connection.assetCounts;
  const statusSelect = h(
    "select",
    { id: "filter-status", name: "status" },
    [["", "All"], ["synced", "Synced"], ["skipped", "Skipped"], ["ignored", "Ignored (not media)"], ["removed", "Removed"]].map(([v, t]) => h("option", { value: v }, t)),
  );
  const reasonSelect = h("select", { id: "filter-reason", name: "reason" }, h("option", { value: "" }, "Any reason"), REASONS.map((r) => h("option", { value: r }, r.replace(/_/g, " "))));
  const list = h("div", { class: "assets" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more");
  const csvButton = h("button", { type: "button", class: "secondary" }, "Download skip report (CSV)");
  const csvStatus = h("p", { role: "status", class: "muted" });
  let token = null;
  let generation = 0;

  async function load(reset) {
    generation += reset ? 1 : 0;
    const mine = generation;
    if (reset) {
      token = null;
      replace(list, h("p", { role: "status" }, "Loading…"));
    }
    const page = await api.assets(state.org, id, {
      status: statusSelect.value,
      reason: reasonSelect.value,
      pageSize: "24",
      continuationToken: token || "",
    });
    if (mine !== generation) return;
    token = page.continuationToken;
    more.hidden = !token;
    if (reset) replace(list);
    if (reset && !page.items.length) list.append(h("p", { class: "muted" }, "No files match."));
    const cards = page.items.map(assetCard);
    list.append(...cards.map((c) => c.node));
    await thumbnails(id, cards);
  }

  statusSelect.addEventListener("change", () => load(true));
  reasonSelect.addEventListener("change", () => {
    if (reasonSelect.value) statusSelect.value = "skipped";
    load(true);
  });
  more.addEventListener("click", () => load(false));
  csvButton.addEventListener("click", async () => {
    busy(csvButton, true, "Preparing…");
    try {
      const rows = await allSkipped(id);
      download(`skip-report-${id}.csv`, toCsv(rows));
      csvStatus.textContent = `Downloaded ${rows.length} skipped file${rows.length === 1 ? "" : "s"}.`;
    } catch (err) {
      csvStatus.textContent = err.message;
    } finally {
      busy(csvButton, false);
    }
  });

  render(

    gen,
    `Explorer: ${connection.name}`,
    h(
      "p",
      { class: "lead", id: "asset-count" },
      `${number(counts.synced)} assets synced · ${number(counts.skipped)} skipped · ${number(counts.ignored)} ignored · ${number(counts.removed)} removed`,
    ),
    h(
      "div",
      { class: "toolbar" },
      h("div", { class: "field inline" }, h("label", { for: "filter-status" }, "Status"), statusSelect),
      h("div", { class: "field inline" }, h("label", { for: "filter-reason" }, "Skip reason"), reasonSelect),
      csvButton,
      h("a", { class: "button secondary", href: `#/c/${encodeURIComponent(id)}` }, "Back to the connection"),
    ),
    csvStatus,
    list,
    more,
  );
  await load(true);
}

function assetCard(asset) {
  const thumb = h("div", { class: `thumb thumb-${asset.kind}`, "aria-hidden": "true" }, asset.kind === "video" ? "▶" : asset.kind === "image" ? "" : "…");
  const dims = asset.width && asset.height ? `${asset.width}×${asset.height}` : null;
  const node = h(
    "article",
    { class: `asset asset-${asset.status}`, "data-name": asset.name },
    thumb,
    h(
      "div",
      { class: "asset-body" },
      h("h2", { class: "asset-name" }, asset.name),
      h("p", { class: "asset-meta" }, badge(asset.status), " ", [asset.format, dims, bytes(asset.size)].filter(Boolean).join(" · ")),
      asset.reason
        ? h(
            "div",
            { class: "asset-reason" },
            h("p", {}, h("strong", {}, asset.reasonTitle || asset.reason), asset.detail ? ` (${asset.detail})` : ""),
            asset.fix ? h("details", { class: "fix" }, h("summary", {}, "How to fix"), h("p", {}, asset.fix)) : null,
          )
        : null,
    ),
  );
  return { node, thumb, asset };
}

async function thumbnails(id, cards) {
  const wanted = cards.filter(
    ({ asset }) =>
      asset.id &&
      asset.kind === "image" &&
      BROWSER_IMAGES.has(asset.format) &&
      (asset.status === "synced" || asset.reason === "exif_orientation"),
  );
  const queue = wanted.slice();
  async function worker() {
    while (queue.length) {
      const card = queue.shift();
      try {
        const { url } = await api.assetUrl(state.org, id, card.asset.id);
        replace(card.thumb, h("img", { src: url, alt: "", decoding: "async", referrerpolicy: "no-referrer" }));
      } catch {
        // The tile keeps its placeholder.
      }
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()]);
}

async function allSkipped(id) {
  const rows = [];
  let token = null;
  do {
    const page = await api.assets(state.org, id, { status: "skipped", pageSize: "1000", continuationToken: token || "" });
    rows.push(...page.items);
    token = page.continuationToken;
  } while (token);
  return rows;
}

const CSV_COLUMNS = ["name", "kind", "format", "size", "reason", "reason_title", "detail", "fix"];

function csvCell(value) {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function toCsv(items) {
  const lines = [CSV_COLUMNS.join(",")];
  for (const a of items) {
    lines.push([a.name, a.kind, a.format, a.size, a.reason, a.reasonTitle, a.detail, a.fix].map(csvCell).join(","));
  }
  return lines.join("\n") + "\n";
}

function download(filename, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  const link = h("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ------------------------------------------------------------------------------ connection manager
async function screenConnections() {
  const gen = state.generation;
  const [list, usage] = await Promise.all([api.listConnections(state.org), api.usage(state.org)]);
  const editor = h("div");
  const rows = list.items.map((c) => connectionRow(c, editor));
  render(
    gen,
    "Connections",
    usageLine(usage),
    editor,
    list.items.length
      ? h(
          "div",
          { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Connections" },
          h(
            "table",
            { class: "connections" },
            h("caption", { class: "sr-only" }, "Your connections"),
            h("thead", {}, h("tr", {}, ["Name", "Status", "Container", "Prefix", "Assets", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
            h("tbody", {}, rows),
          ),
        )
      : h("p", {}, "No connections yet. ", h("a", { href: "#/new" }, "Connect a container"), "."),
  );
}

function usageLine(usage) {
  return h("p", { class: "lead" }, `Data rows this month: ${number(usage.used)} used, ${number(usage.remaining)} left of ${number(usage.limit)} (${usage.plan} plan). `, h("a", { href: "#/usage" }, "Usage details"));
}

function connectionRow(c, editor) {
  const message = h("div", { class: "row-message" });
  const open = `#/c/${encodeURIComponent(c.id)}`;
  const edit = h("button", { type: "button", class: "secondary small" }, "Rename or re-scope");
  const resync = h("button", { type: "button", class: "secondary small" }, "Re-sync");
  const del = h("button", { type: "button", class: "danger small" }, "Delete");
  const row = h(
    "tr",
    { "data-connection": c.id },
    h("th", { scope: "row" }, h("a", { href: open }, c.name)),
    h("td", { "data-label": "Status" }, badge(c.status)),
    h("td", { "data-label": "Container" }, `${c.account}/${c.container}`),
    h("td", { "data-label": "Prefix" }, c.prefix || "(whole container)"),
    h("td", { "data-label": "Assets" }, number(c.assetCounts.synced)),
    h("td", {}, h("div", { class: "row-actions" }, edit, resync, del), message),
  );
  edit.addEventListener("click", () => openEditor(c, editor, edit));
  resync.addEventListener("click", async () => {
    busy(resync, true, "Starting…");
    try {
      await api.startSync(state.org, c.id);
      state.notice = "Sync started. It runs in the background: you can close this tab and come back later.";
      go(open);
    } catch (err) {
      busy(resync, false);
      replace(message, problemBox(err, "The sync did not start"));
      message.firstChild.focus();
    }
  });
  del.addEventListener("click", () => {
    const confirm = h("button", { type: "button", class: "danger small" }, `Delete “${c.name}”`);
    const keep = h("button", { type: "button", class: "secondary small" }, "Keep it");
    replace(message, h("div", { class: "confirm", role: "group", "aria-label": "Confirm delete" }, h("p", {}, "Delete this connection and its asset rows? The files in your container are not touched."), confirm, " ", keep));
    keep.addEventListener("click", () => {
      replace(message);
      del.focus();
    });
    confirm.addEventListener("click", async () => {
      busy(confirm, true, "Deleting…");
      try {
        await api.deleteConnection(state.org, c.id);
        state.notice = `Connection “${c.name}” deleted.`;
        route();
      } catch (err) {
        const box = problemBox(err, err.code === "sync_running" || err.status === 409 ? "Not deleted: a sync is running" : "Not deleted");
        replace(message, box);
        box.focus();
      }
    });
    confirm.focus();
  });
  return row;
}

function openEditor(c, editor, opener) {
  const form = h(
    "form",
    { class: "card", novalidate: true, "aria-labelledby": "edit-title" },
    h("h2", { id: "edit-title" }, `Edit “${c.name}”`),
    field("name", "Connection name", { required: true, value: c.name }),
    field("prefix", "Folder prefix", { value: c.prefix, hint: "Changing it re-scopes the next sync: blobs outside the new prefix become removed." }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Save"), h("button", { type: "button", class: "secondary", onclick: () => { replace(editor); opener.focus(); } }, "Cancel")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = {};
    const name = form.elements.name.value.trim();
    const prefix = form.elements.prefix.value.trim();
    if (name !== c.name) body.name = name;
    if (prefix !== c.prefix) body.prefix = prefix;
    if (!Object.keys(body).length) {
      replace(editor);
      opener.focus();
      return;
    }
    try {
      const updated = await api.patchConnection(state.org, c.id, body);
      state.notice = `Saved “${updated.name}”.`;
      route();
    } catch (err) {
      const first = showFieldErrors(form, err);
      if (first) first.focus();
      else {
        const box = problemBox(err, "Not saved");
        form.prepend(box);
        box.focus();
      }
    }
  });
  replace(editor, form);
  form.elements.name.focus();
}

// ------------------------------------------------------------------------------ usage
async function screenUsage() {
  const gen = state.generation;
  const usage = await api.usage(state.org);
  const percent = usage.limit ? Math.min(100, Math.round((usage.used / usage.limit) * 100)) : 100;
  render(
    gen,
    "Usage",
    h(
      "section",
      { class: "card" },
      h("p", { id: "usage-label" }, `Data rows used in ${usage.month}`),
      h("progress", { max: "100", value: String(percent), "aria-labelledby": "usage-label" }, `${percent}%`),
      h("dl", { class: "stats" }, stat("Used", number(usage.used)), stat("Left", number(usage.remaining)), stat("Monthly limit", number(usage.limit)), stat("Plan", usage.plan)),
      h("p", {}, "Each synced image or video costs data rows; skipped and ignored files cost nothing. When the month's rows run out, the sync skips the rest as quota_exceeded and a later sync picks them up."),
    ),
    usage.plan === "free"
      ? alertBox("warning", "The free plan cannot sync external storage", h("p", {}, "Connecting your own Azure container needs a paid plan: creating a connection or starting a sync is refused with plan_required. Ask your administrator to upgrade the organisation."))
      : null,
  );
}

window.addEventListener("hashchange", route);
route();
