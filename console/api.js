// The public HTTP API, called from the same origin (the console lives under the API's route
// prefix, so "../" is the API root). The function key, when the user gives one, lives only in
// this module's memory for the tab's lifetime and travels only in the x-functions-key header:
// never in a URL, a cookie or the browser's local or session storage.

const API_ROOT = new URL("../", document.baseURI);

let functionKey = "";

export function setKey(key) {
  functionKey = key || "";
}

export function hasKey() {
  return functionKey !== "";
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || (status === 401 ? "unauthorized" : "http_" + status);
    this.title = problem.title || "";
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    this.problem = problem;
  }
}

export async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  if (functionKey) headers["x-functions-key"] = functionKey;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(new URL(path.replace(/^\//, ""), API_ROOT), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, {
      code: "unreachable",
      title: "The service did not answer",
      detail: "The service did not answer. Check your connection and try again.",
    });
  }
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  const text = await response.text();
  let data = null;
  if (text && type.includes("json")) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    if (response.status === 401) {
      throw new ApiError(401, {
        code: "unauthorized",
        title: "Not signed in",
        detail: "The service refused the key. Check the function key and sign in again.",
      });
    }
    throw new ApiError(response.status, data || { title: `HTTP ${response.status}` });
  }
  return data;
}

const enc = encodeURIComponent;

export function orgPath(org) {
  return `orgs/${enc(org)}`;
}

export function connPath(org, id) {
  return `${orgPath(org)}/connections/${enc(id)}`;
}

export const api = {
  usage: (org) => request("GET", `${orgPath(org)}/usage`),
  listConnections: (org) => request("GET", `${orgPath(org)}/connections`),
  createConnection: (org, body) => request("POST", `${orgPath(org)}/connections`, body),
  getConnection: (org, id) => request("GET", connPath(org, id)),
  patchConnection: (org, id, body) => request("PATCH", connPath(org, id), body),
  deleteConnection: (org, id) => request("DELETE", connPath(org, id)),
  setup: (org, id) => request("GET", `${connPath(org, id)}/setup`),
  test: (org, id) => request("POST", `${connPath(org, id)}/test`),
  preview: (org, id) => request("POST", `${connPath(org, id)}/preview`),
  startSync: (org, id) => request("POST", `${connPath(org, id)}/syncs`),
  runs: (org, id) => request("GET", `${connPath(org, id)}/syncs`),
  run: (org, id, run) => request("GET", `${connPath(org, id)}/syncs/${enc(run)}`),
  cancel: (org, id, run) => request("POST", `${connPath(org, id)}/syncs/${enc(run)}/cancel`),
  assets: (org, id, params) => {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v) query.set(k, v);
    const qs = query.toString();
    return request("GET", `${connPath(org, id)}/assets${qs ? "?" + qs : ""}`);
  },
  assetUrl: (org, id, asset) => request("GET", `${connPath(org, id)}/assets/${enc(asset)}/url`),
};
