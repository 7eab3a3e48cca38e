// Small DOM helpers: elements are built with textContent only (never innerHTML), so names of
// blobs and messages from the API cannot inject markup.

export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      node.className = value;
    } else if (value === true) {
      node.setAttribute(key, "");
    } else {
      node.setAttribute(key, String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

let idCounter = 0;
export function uid(prefix) {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

export function announce(text) {
  const region = document.getElementById("announce");
  region.textContent = "";
  window.setTimeout(() => {
    region.textContent = text;
  }, 50);
}

export function alertBox(kind, title, ...body) {
  return h(
    "div",
    { class: `alert alert-${kind}`, role: kind === "error" ? "alert" : "status", tabindex: "-1" },
    h("p", { class: "alert-title" }, title),
    body,
  );
}

export function problemBox(err, context) {
  const lines = [h("p", {}, err.message)];
  if (err.code) lines.push(h("p", { class: "muted" }, `Code: ${err.code}`));
  if (err.problem && err.problem.correlationId) {
    lines.push(h("p", { class: "muted" }, `Correlation id: ${err.problem.correlationId}`));
  }
  return alertBox("error", context || err.title || "The request failed", lines);
}

export function number(n) {
  return typeof n === "number" ? n.toLocaleString("en-US") : "–";
}

export function bytes(n) {
  if (typeof n !== "number") return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString("en-GB", { timeZone: "UTC" }) + " UTC";
}

export function copyButton(text, label) {
  const status = h("span", { class: "copy-status", role: "status" });
  const button = h(
    "button",
    {
      type: "button",
      class: "secondary small",
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(text);
          status.textContent = "Copied";
        } catch {
          status.textContent = "Select the text and copy it";
        }
      },
    },
    label || "Copy",
  );
  return h("span", { class: "copy" }, button, status);
}

export function codeBlock(text, label) {
  return h(
    "div",
    { class: "code" },
    h("pre", { tabindex: "0", "aria-label": label }, h("code", {}, text)),
    copyButton(text, `Copy ${label.toLowerCase()}`),
  );
}

export function badge(status, family) {
  const name = family ? `${family}-${status}` : status;
  return h("span", { class: `badge badge-${name}` }, status.replace(/_/g, " "));
}

export function focusHeading(root) {
  const heading = root.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
}
