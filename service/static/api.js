// Calling the JSON API exactly as any client would: multipart uploads, query parameters,
// problem+json errors (shown next to the control that caused them), and the X-API-Key header
// when the service asks for one (kept in sessionStorage for this tab, never in the URL).

import { $ } from "./dom.js";

const KEY_STORE = "vision-service.api-key";

class Problem extends Error {
  constructor(status, body) {
    super(body.detail || body.title);
    this.status = status;
    this.body = body;
  }
}

// `binary`: a successful answer is a picture, handed back as { blob, headers }.
export async function api(path, { method = "GET", query = {}, form, binary = false } = {}) {
  const url = new URL(path, document.baseURI);
  for (const [name, value] of Object.entries(query)) {
    if (value !== "" && value != null) url.searchParams.set(name, value);
  }
  const key = sessionStorage.getItem(KEY_STORE);
  const headers = key ? { "X-API-Key": key } : {};
  let response;
  try {
    response = await fetch(url, { method, headers, body: form });
  } catch (error) {
    throw new Problem(0, {
      title: "No answer from the service",
      detail: `${method} ${url.pathname} failed before an answer came (${error.message}).`,
    });
  }
  if (response.status === 204) return null;
  if (response.ok && binary) return { blob: await response.blob(), headers: response.headers };
  const isJson = (response.headers.get("content-type") || "").includes("json");
  const body = isJson ? await response.json().catch(() => null) : await response.text();
  if (response.ok) return body;
  const problem = body && typeof body === "object" ? body
    : { title: `HTTP ${response.status}`, detail: String(body || response.statusText).slice(0, 300) };
  const retry = response.headers.get("Retry-After");
  if (retry) problem.detail = `${problem.detail || ""} (try again in ${retry} s)`.trim();
  if (response.status === 401) askForKey(problem);
  throw new Problem(response.status, problem);
}

export function formWith(fields) {
  const form = new FormData();
  for (const [name, value] of fields) form.append(name, value);
  return form;
}

// ---------------------------------------------------------------- problems

export function problemText(error) {
  if (!(error instanceof Problem)) return `Something went wrong in the page: ${error.message}`;
  const { title, detail } = error.body;
  return title && detail ? `${title}: ${detail}` : title || detail || `HTTP ${error.status}`;
}

// Shows a problem next to the control that caused it: a field the problem names, the model
// select for an unknown model, an image the detail names, else the scope's default slot.
export function showError(scope, error) {
  clearErrors(scope);
  const slot = (name) => name && scope.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
  const body = error instanceof Problem ? error.body : {};
  const named = (body.errors || []).map((e) => slot(e.name)).find(Boolean);
  const model = /unknown-model/.test(body.type || "") && slot("model");
  const image = slot((/\b((?:style_)?image\d?)\b/.exec(body.detail || "") || [])[1]);
  const target = named || model || image || scope.querySelector("[data-error-default]");
  target.textContent = problemText(error);
  target.hidden = false;
}

export function clearErrors(scope) {
  for (const slot of scope.querySelectorAll("[data-error-for]")) {
    slot.hidden = true;
    slot.textContent = "";
  }
}

// Runs `request` and hands its answer to `render` only if no newer run started meanwhile;
// `data-state` on the result says where it is (idle, busy, done, error).
export async function latest(state, scope, request, render, clear = () => {}) {
  const run = ++state.run;
  state.result.dataset.state = "busy";
  try {
    const answer = await request();
    if (run !== state.run) return;
    clearErrors(scope);
    await render(answer);
    state.result.dataset.state = "done";
  } catch (error) {
    if (run !== state.run) return;
    clear();
    showError(scope, error);
    state.result.dataset.state = "error";
  }
}

// ---------------------------------------------------------------- the API key

function askForKey(problem) {
  $("#key-panel").hidden = false;
  $("#key-message").textContent = problemText(new Problem(401, problem));
  $("#key-input").focus();
}

// Keeps the key the user gives for this tab, then `retry` asks again what needed it.
export function onKey(retry) {
  $("#key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORE, $("#key-input").value);
    $("#key-input").value = "";
    $("#key-panel").hidden = true;
    retry();
  });
}
