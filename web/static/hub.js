// Shared by the hub's pages: the signed-in token, GraphQL over HTTP and WebSocket, and safe DOM building.
// Every value from the API goes into the page as text (textContent), never as HTML.
import { initAll } from "/assets/govuk/govuk-frontend.min.js";
import { createClient } from "/assets/graphql-ws/client.js";

// GOV.UK Frontend styles its components only when the page says JavaScript runs (its template does
// this with an inline script; the pages' Content-Security-Policy allows none, so a module does it),
// then its own JS wires the static components (the service navigation's mobile menu, the skip link).
document.body.classList.add("js-enabled", "govuk-frontend-supported");
initAll();

const STORE = "citizen-hub.token.";

/** The bearer token for `kind` ("citizen" or "steward"): from `#token=…` once (then removed), else this tab's store. */
export function token(kind) {
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  const given = fragment.get("token");
  if (given) {
    sessionStorage.setItem(STORE + kind, given);
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }
  const stored = sessionStorage.getItem(STORE + kind);
  if (stored && expired(stored)) {
    sessionStorage.removeItem(STORE + kind);
    return null;
  }
  return stored;
}

export function saveToken(kind, value) {
  sessionStorage.setItem(STORE + kind, value);
}

export function signOut(kind) {
  sessionStorage.removeItem(STORE + kind);
}

function expired(jwt) {
  try {
    const claims = JSON.parse(atob(jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return typeof claims.exp === "number" && claims.exp * 1000 < Date.now();
  } catch {
    return true;
  }
}

/** An error the API answered with: `code` is its extensions.code. */
export class ApiError extends Error {
  constructor(message, code, extensions = {}) {
    super(message);
    this.code = code;
    this.extensions = extensions;
  }
}

/** Run a GraphQL document over HTTP; returns `{data, errors}` (errors: field errors of a partial result). */
export async function gql(bearer, query, variables = {}, { purpose } = {}) {
  const headers = { "content-type": "application/json", authorization: `Bearer ${bearer}` };
  if (purpose) headers["x-purpose"] = purpose;
  let response;
  try {
    response = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  } catch {
    throw new ApiError("The hub cannot be reached. Check your connection and try again.", "NETWORK");
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`The hub answered ${response.status} without a readable body.`, "BAD_RESPONSE");
  }
  const errors = body.errors || [];
  if (!body.data) {
    const first = errors[0] || {};
    const ext = first.extensions || {};
    throw new ApiError(first.message || `The hub answered ${response.status}.`, ext.code || "UNKNOWN", ext);
  }
  return { data: body.data, errors };
}

/** A graphql-transport-ws client on this hub's /graphql, authenticated in connection_init. */
export function liveClient(bearer, { purpose, onStatus } = {}) {
  const url = `${window.location.protocol === "https:" ? "wss" : "ws"}://${window.location.host}/graphql`;
  const connectionParams = { Authorization: `Bearer ${bearer}` };
  if (purpose) connectionParams["X-Purpose"] = purpose;
  return createClient({
    url,
    connectionParams,
    lazy: false,
    retryAttempts: Infinity,
    shouldRetry: (event) => !(event && event.code === 4403),
    on: {
      connected: () => onStatus && onStatus("connected"),
      closed: (event) => onStatus && onStatus(event && event.code === 4403 ? "refused" : "closed"),
    },
  });
}

/** h("p", {class: "govuk-body"}, "text", child, …): an element; strings become text nodes. */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

const POUNDS = new Intl.NumberFormat("en-GB", { style: "currency", currency: "GBP" });
export const pounds = (pence) => (pence === null || pence === undefined ? "–" : POUNDS.format(pence / 100));

const DAY = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
const MOMENT = new Intl.DateTimeFormat("en-GB", {
  day: "numeric",
  month: "long",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  timeZone: "Europe/London",
});
export const day = (iso) => (iso ? DAY.format(new Date(iso.length === 10 ? `${iso}T00:00:00Z` : iso)) : "–");
export const moment = (iso) => (iso ? MOMENT.format(new Date(iso)) : "–");

/** GOV.UK summary list from [[key, value], …]. */
export function summaryList(rows, attrs = {}) {
  return h(
    "dl",
    { class: "govuk-summary-list", ...attrs },
    rows.map(([key, value, rowAttrs]) =>
      h(
        "div",
        { class: "govuk-summary-list__row", ...(rowAttrs || {}) },
        h("dt", { class: "govuk-summary-list__key" }, key),
        h("dd", { class: "govuk-summary-list__value" }, value),
      ),
    ),
  );
}

/** GOV.UK table with a caption, header cells and rows of cells. */
export function table(caption, headers, rows, attrs = {}) {
  return h(
    "table",
    { class: "govuk-table", ...attrs },
    h("caption", { class: "govuk-table__caption govuk-table__caption--m" }, caption),
    h(
      "thead",
      { class: "govuk-table__head" },
      h("tr", { class: "govuk-table__row" }, headers.map((x) => h("th", { scope: "col", class: "govuk-table__header" }, x))),
    ),
    h(
      "tbody",
      { class: "govuk-table__body" },
      rows.map((cells) => h("tr", { class: "govuk-table__row" }, cells.map((x) => h("td", { class: "govuk-table__cell" }, x)))),
    ),
  );
}

/** Replace the contents of `#id` with `nodes`. */
export function fill(id, ...nodes) {
  const target = document.getElementById(id);
  target.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined));
  return target;
}

/** A GOV.UK error summary at the top of `main`, focused so screen readers announce it. */
export function showError(message, code) {
  const box = h(
    "div",
    { class: "govuk-error-summary", "data-module": "govuk-error-summary", tabindex: "-1", id: "error-summary" },
    h(
      "div",
      { role: "alert" },
      h("h2", { class: "govuk-error-summary__title" }, "There is a problem"),
      h(
        "div",
        { class: "govuk-error-summary__body" },
        h("p", { class: "govuk-body" }, message),
        code ? h("p", { class: "govuk-body govuk-!-font-size-16" }, "Error code: ", h("code", { "data-error-code": code }, code)) : null,
      ),
    ),
  );
  const existing = document.getElementById("error-summary");
  if (existing) existing.replaceWith(box);
  else document.getElementById("main-content").prepend(box);
  box.focus();
}

export function clearError() {
  const existing = document.getElementById("error-summary");
  if (existing) existing.remove();
}

/** The "you need to sign in" block, with the dev sign-in link when this hub has one. */
export async function signInNeeded(kind, message) {
  const devSignIn = await fetch("/dev/sign-in", { method: "HEAD" }).then((r) => r.ok).catch(() => false);
  fill(
    "content",
    h("h1", { class: "govuk-heading-l" }, "Sign in to continue"),
    h("p", { class: "govuk-body" }, message),
    devSignIn
      ? h(
          "p",
          { class: "govuk-body" },
          h("a", { class: "govuk-link", href: `/dev/sign-in?as=${kind}` }, "Sign in with a development account"),
          " (this hub runs in development mode).",
        )
      : h("p", { class: "govuk-body" }, "Sign in through your organisation's sign-in service, which brings you back here."),
  );
}
