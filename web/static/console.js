// Steward console: connectors with live health (switch on/off, test fetch), the identity review queue
// (accept / reject with the evidence), and where a person's connector-sourced fields came from.
// Every call is the hub's GraphQL API with the steward's token and purpose data-stewardship.
import { ApiError, clearError, fill, gql, h, moment, showError, signInNeeded, signOut, summaryList, table, token } from "/assets/app/hub.js";

const PURPOSE = "data-stewardship";
const POLL_MS = 5000;
const bearer = token("steward");
const api = (query, variables) => gql(bearer, query, variables, { purpose: PURPOSE });

const CONNECTORS = `query Connectors {
  connectors {
    name kind description owner purpose enabled blocked changedBy changedAt changeReason
    breakerState latencyP50Ms latencyP99Ms errorRate cacheHitRate lastSuccessAt lastError
  }
}`;
const SWITCH = `mutation Switch($name: String!, $enabled: Boolean!, $reason: String) {
  setConnectorEnabled(name: $name, enabled: $enabled, reason: $reason) {
    __typename ... on ConnectorStatus { name enabled } ... on UserError { message code }
  }
}`;
const TEST = `mutation TestFetch($name: String!, $personId: ID!) {
  testConnector(name: $name, personId: $personId) {
    __typename
    ... on ConnectorTestSuccess { connector latencyMs record provenance { connector fetchedAt stale cached matchConfidence } }
    ... on ConnectorTestFailure { connector code message failedAfterMs: latencyMs }
    ... on UserError { message code }
  }
}`;
// The page size is written into the document: the hub's cost limit prices a variable one as its largest page.
const QUEUE_PAGE = 10;
const QUEUE = `query Queue($after: String, $source: String) {
  identityReviewQueue(first: ${QUEUE_PAGE}, after: $after, source: $source) {
    nodes {
      id source externalId record probability matchWeight modelVersion proposedAt
      person { id givenName familyName dateOfBirth }
      comparisons { comparison level weight }
    }
    pageInfo { hasNextPage endCursor }
  }
}`;
const DECIDE = (verb) => `mutation Decide($id: ID!, $reason: String!) {
  ${verb}IdentityCandidate(id: $id, reason: $reason) {
    __typename ... on IdentityDecision { action source externalId decidedBy } ... on UserError { message code }
  }
}`;
const PROVENANCE = `query Provenance($id: ID!) {
  person(id: $id) { id provenance { connector field path fetchedAt stale cached matchConfidence } }
}`;
const LINKS = `query Links($id: ID!) {
  person(id: $id) { id links { source externalId method confidence probability matchWeight modelVersion linkedAt linkedBy } }
}`;

const BREAKER = {
  CLOSED: ["Closed", "govuk-tag--green"],
  HALF_OPEN: ["Half open", "govuk-tag--yellow"],
  OPEN: ["Open", "govuk-tag--red"],
};
const percent = (x) => (x === null || x === undefined ? "–" : `${(x * 100).toFixed(1)}%`);
const ms = (x) => (x === null || x === undefined ? "–" : `${x.toFixed(1)} ms`);
const tag = (text, cls, attrs = {}) => h("strong", { class: `govuk-tag ${cls}`, ...attrs }, text);

let connectors = [];

// --- forms: GOV.UK fields with their own error messages ----------------------------------------------

function field(id, label, control, hint) {
  return h(
    "div",
    { class: "govuk-form-group", id: `${id}-group` },
    h("label", { class: "govuk-label govuk-label--s", for: id }, label),
    hint ? h("div", { class: "govuk-hint", id: `${id}-hint` }, hint) : null,
    control,
  );
}

function fieldError(id, message) {
  const group = document.getElementById(`${id}-group`);
  const control = document.getElementById(id);
  group.querySelectorAll(".govuk-error-message").forEach((e) => e.remove());
  group.classList.toggle("govuk-form-group--error", Boolean(message));
  if (!message) {
    control.removeAttribute("aria-invalid");
    return false;
  }
  const error = h("p", { class: "govuk-error-message", id: `${id}-error` }, h("span", { class: "govuk-visually-hidden" }, "Error: "), message);
  group.querySelector("label").after(error);
  control.setAttribute("aria-invalid", "true");
  control.setAttribute("aria-describedby", `${id}-error`);
  control.focus();
  return true;
}

function connectorSelect(id) {
  return h("select", { class: "govuk-select", id, name: id }, connectors.map((c) => h("option", { value: c.name }, c.name)));
}

// --- connectors ---------------------------------------------------------------------------------------

function connectorCard(c) {
  const [breakerText, breakerClass] = BREAKER[c.breakerState] || [c.breakerState, "govuk-tag--grey"];
  return h(
    "div",
    { class: "govuk-summary-card", "data-connector": c.name },
    h(
      "div",
      { class: "govuk-summary-card__title-wrapper" },
      h("h3", { class: "govuk-summary-card__title" }, c.name, " ", h("span", { class: "govuk-body-s" }, `(${c.kind})`)),
      c.enabled ? tag("Enabled", "govuk-tag--green", { "data-field": "enabled" }) : tag("Disabled", "govuk-tag--grey", { "data-field": "enabled" }),
    ),
    h(
      "div",
      { class: "govuk-summary-card__content" },
      h("p", { class: "govuk-body-s" }, c.description || ""),
      summaryList([
        ["Circuit breaker", tag(breakerText, breakerClass, { "data-field": "breaker" })],
        ["Latency p50 / p99", h("span", { "data-field": "latency" }, `${ms(c.latencyP50Ms)} / ${ms(c.latencyP99Ms)}`)],
        ["Error rate", h("span", { "data-field": "error-rate" }, percent(c.errorRate))],
        ["Cache hit rate", h("span", { "data-field": "cache-hit-rate" }, percent(c.cacheHitRate))],
        ["Last success", h("span", { "data-field": "last-success" }, moment(c.lastSuccessAt))],
        ["Last error", h("span", { "data-field": "last-error" }, c.lastError || "None")],
        ["Purpose and owner", `${c.purpose || "–"} · ${c.owner || "–"}`],
        ...(c.changedBy ? [["Last switched", `${c.enabled ? "On" : "Off"} by ${c.changedBy}, ${moment(c.changedAt)}${c.changeReason ? `: “${c.changeReason}”` : ""}`]] : []),
        ...(c.blocked ? [["Cannot be enabled", c.blocked]] : []),
      ]),
    ),
  );
}

async function refreshConnectors() {
  const { data } = await api(CONNECTORS);
  connectors = data.connectors || [];
  fill("connector-cards", connectors.length ? connectors.map(connectorCard) : h("p", { class: "govuk-body" }, "No connectors are configured."));
  fill("connector-updated", `Health as of ${new Date().toLocaleTimeString("en-GB")} (refreshes every ${POLL_MS / 1000} seconds).`);
}

function switchForm() {
  return h(
    "form",
    { id: "switch-form", novalidate: true, onsubmit: onSwitch },
    h("h3", { class: "govuk-heading-s" }, "Switch a connector on or off"),
    field("switch-connector", "Connector", connectorSelect("switch-connector")),
    h(
      "div",
      { class: "govuk-form-group" },
      h(
        "fieldset",
        { class: "govuk-fieldset" },
        h("legend", { class: "govuk-fieldset__legend govuk-fieldset__legend--s" }, "Change"),
        h(
          "div",
          { class: "govuk-radios govuk-radios--small govuk-radios--inline", "data-module": "govuk-radios" },
          ["disable", "enable"].map((value) =>
            h(
              "div",
              { class: "govuk-radios__item" },
              h("input", { class: "govuk-radios__input", id: `switch-${value}`, name: "switch-action", type: "radio", value, checked: value === "disable" }),
              h("label", { class: "govuk-label govuk-radios__label", for: `switch-${value}` }, value === "disable" ? "Disable" : "Enable"),
            ),
          ),
        ),
      ),
    ),
    field("switch-reason", "Reason", h("textarea", { class: "govuk-textarea", id: "switch-reason", name: "switch-reason", rows: "2", "aria-describedby": "switch-reason-hint" }), "Recorded with your name; every replica follows the switch."),
    h("button", { type: "submit", class: "govuk-button", "data-module": "govuk-button", id: "switch-submit" }, "Apply"),
  );
}

async function onSwitch(event) {
  event.preventDefault();
  const name = document.getElementById("switch-connector").value;
  const enabled = document.querySelector('input[name="switch-action"]:checked').value === "enable";
  const reason = document.getElementById("switch-reason").value.trim();
  if (fieldError("switch-reason", reason ? null : "Enter why you are switching this connector")) return;
  try {
    const { data } = await api(SWITCH, { name, enabled, reason });
    const result = data.setConnectorEnabled;
    if (result.__typename !== "ConnectorStatus") {
      showError(result.message, result.code);
      return;
    }
    clearError();
    document.getElementById("switch-reason").value = "";
    fill("switch-result", h("div", { class: "govuk-inset-text", role: "status" }, `${result.name} is now ${result.enabled ? "enabled" : "disabled"} on every replica.`));
    await refreshConnectors();
  } catch (error) {
    showError(error.message, error.code);
  }
}

function testForm() {
  return h(
    "form",
    { id: "test-form", novalidate: true, onsubmit: onTest },
    h("h3", { class: "govuk-heading-s" }, "Test fetch for one person"),
    h("p", { class: "govuk-body-s" }, "A live call past the cache, as a query would make it. The record you see is recorded in the person's access log."),
    field("test-connector", "Connector", connectorSelect("test-connector")),
    field("test-person", "Person id", h("input", { class: "govuk-input govuk-!-width-full", id: "test-person", name: "test-person", type: "text", spellcheck: "false", autocomplete: "off" })),
    h("button", { type: "submit", class: "govuk-button govuk-button--secondary", "data-module": "govuk-button", id: "test-submit" }, "Fetch"),
    h("div", { id: "test-result", "aria-live": "polite" }),
  );
}

async function onTest(event) {
  event.preventDefault();
  const name = document.getElementById("test-connector").value;
  const personId = document.getElementById("test-person").value.trim();
  if (fieldError("test-person", personId ? null : "Enter the person's hub id")) return;
  fill("test-result", h("p", { class: "govuk-body" }, "Fetching…"));
  try {
    const { data } = await api(TEST, { name, personId });
    const r = data.testConnector;
    if (r.__typename === "ConnectorTestSuccess") {
      const p = r.provenance || {};
      fill(
        "test-result",
        h(
          "div",
          { "data-test-result": "success" },
          h("h4", { class: "govuk-heading-s" }, `${r.connector} answered in ${ms(r.latencyMs)}`),
          r.record ? h("pre", { class: "hub-json", tabindex: "0", "aria-label": "Record" }, JSON.stringify(r.record, null, 2)) : h("p", { class: "govuk-body" }, "The source holds no record for this person."),
          r.provenance ? summaryList([["Fetched", moment(p.fetchedAt)], ["From cache", p.cached ? "Yes" : "No"], ["Stale", p.stale ? "Yes" : "No"], ["Match confidence", percent(p.matchConfidence)]]) : null,
        ),
      );
    } else if (r.__typename === "ConnectorTestFailure") {
      fill(
        "test-result",
        h(
          "div",
          { class: "govuk-warning-text", "data-test-result": "failure" },
          h("span", { class: "govuk-warning-text__icon", "aria-hidden": "true" }, "!"),
          h("strong", { class: "govuk-warning-text__text" }, h("span", { class: "govuk-visually-hidden" }, "Warning"), `${r.connector} failed: `, h("code", { "data-error-code": r.code }, r.code), h("br"), r.message),
        ),
      );
    } else {
      fill("test-result", h("p", { class: "govuk-error-message", "data-test-result": "refused" }, r.message));
    }
    await refreshConnectors();
  } catch (error) {
    fill("test-result", "");
    showError(error.message, error.code);
  }
}

// --- identity review queue ----------------------------------------------------------------------------

let queueAfter = null;
let queueSource = "";

function queueFilter() {
  return h(
    "form",
    {
      id: "queue-filter",
      novalidate: true,
      onsubmit: (event) => {
        event.preventDefault();
        queueSource = document.getElementById("queue-source").value.trim();
        queueAfter = null;
        loadQueue();
      },
    },
    field("queue-source", "Source", h("input", { class: "govuk-input govuk-input--width-20", id: "queue-source", type: "text", spellcheck: "false", autocomplete: "off", "aria-describedby": "queue-source-hint" }), "Leave empty for every source."),
    h("button", { type: "submit", class: "govuk-button govuk-button--secondary", id: "queue-filter-submit" }, "Filter"),
  );
}

function candidateCard(c) {
  const person = c.person || {};
  const record = c.record && typeof c.record === "object" ? Object.entries(c.record) : [];
  const reasonId = `reason-${c.id}`;
  return h(
    "div",
    { class: "govuk-summary-card", "data-candidate": c.id },
    h(
      "div",
      { class: "govuk-summary-card__title-wrapper" },
      h("h3", { class: "govuk-summary-card__title" }, `${c.source} record `, h("code", {}, c.externalId)),
      tag(`${(c.probability * 100).toFixed(1)}% match`, c.probability >= 0.9 ? "govuk-tag--green" : c.probability >= 0.5 ? "govuk-tag--yellow" : "govuk-tag--red", { "data-field": "probability" }),
    ),
    h(
      "div",
      { class: "govuk-summary-card__content" },
      h("div", { class: "govuk-grid-row" },
        h("div", { class: "govuk-grid-column-one-half" },
          h("h4", { class: "govuk-heading-s" }, "External record"),
          summaryList(record.map(([k, v]) => [k, v === null ? "–" : typeof v === "object" ? JSON.stringify(v) : String(v)])),
        ),
        h("div", { class: "govuk-grid-column-one-half" },
          h("h4", { class: "govuk-heading-s" }, "Proposed person"),
          summaryList([
            ["Name", [person.givenName, person.familyName].filter(Boolean).join(" ") || "–"],
            ["Date of birth", person.dateOfBirth || "–"],
            ["Hub id", h("code", {}, person.id || "–")],
          ]),
        ),
      ),
      table(
        `Evidence: match weight ${c.matchWeight.toFixed(2)} (model ${c.modelVersion})`,
        ["Comparison", "Level", "Weight"],
        c.comparisons.map((w) => [w.comparison, w.level, h("span", { class: "hub-figure" }, `${w.weight >= 0 ? "+" : ""}${w.weight.toFixed(2)}`)]),
        { "data-table": "comparisons" },
      ),
      h(
        "form",
        { novalidate: true, onsubmit: (event) => event.preventDefault() },
        field(reasonId, "Reason for your decision", h("textarea", { class: "govuk-textarea", id: reasonId, rows: "2" })),
        h(
          "div",
          { class: "govuk-button-group" },
          h("button", { type: "button", class: "govuk-button", "data-decide": "accept", onclick: () => decide(c, "accept") }, "Accept link", h("span", { class: "govuk-visually-hidden" }, ` for ${c.source} ${c.externalId}`)),
          h("button", { type: "button", class: "govuk-button govuk-button--warning", "data-decide": "reject", onclick: () => decide(c, "reject") }, "Reject", h("span", { class: "govuk-visually-hidden" }, ` ${c.source} ${c.externalId}`)),
        ),
      ),
    ),
  );
}

async function decide(candidate, verb) {
  const reasonId = `reason-${candidate.id}`;
  const reason = document.getElementById(reasonId).value.trim();
  if (fieldError(reasonId, reason ? null : "Enter the reason for your decision")) return;
  try {
    const { data } = await api(DECIDE(verb), { id: candidate.id, reason });
    const result = data[`${verb}IdentityCandidate`];
    if (result.__typename !== "IdentityDecision") {
      showError(result.message, result.code);
      return;
    }
    clearError();
    fill("queue-result", h("div", { class: "govuk-inset-text", role: "status" }, `${verb === "accept" ? "Linked" : "Rejected"}: ${result.source} ${result.externalId} (decided by ${result.decidedBy}).`));
    queueAfter = null;
    await loadQueue();
  } catch (error) {
    showError(error.message, error.code);
  }
}

async function loadQueue(more = false) {
  let data;
  try {
    ({ data } = await api(QUEUE, { after: more ? queueAfter : null, source: queueSource || null }));
  } catch (error) {
    const missing = error instanceof ApiError && error.code === "GRAPHQL_VALIDATION_FAILED";
    fill("queue", h("p", { class: "govuk-body" }, missing ? "This hub has no identity review queue yet." : `The queue could not be read: ${error.message}`));
    return;
  }
  const page = data.identityReviewQueue || { nodes: [], pageInfo: {} };
  queueAfter = page.pageInfo.endCursor;
  const cards = page.nodes.map(candidateCard);
  if (more) {
    document.getElementById("queue-more")?.remove();
    document.getElementById("queue").append(...cards);
  } else {
    fill("queue", page.nodes.length ? cards : h("p", { class: "govuk-body" }, "No candidate links are waiting for review."));
  }
  if (page.pageInfo.hasNextPage) {
    document.getElementById("queue").append(h("button", { type: "button", class: "govuk-button govuk-button--secondary", id: "queue-more", onclick: () => loadQueue(true) }, "Show more candidates"));
  }
}

// --- a person's provenance and identity links ---------------------------------------------------------

function personForm() {
  return h(
    "form",
    { id: "person-form", novalidate: true, onsubmit: onPerson },
    field("person-id", "Person id", h("input", { class: "govuk-input govuk-!-width-two-thirds", id: "person-id", type: "text", spellcheck: "false", autocomplete: "off" })),
    h("button", { type: "submit", class: "govuk-button govuk-button--secondary", id: "person-submit" }, "Show provenance"),
    h("div", { id: "person-result" }),
  );
}

async function onPerson(event) {
  event.preventDefault();
  const id = document.getElementById("person-id").value.trim();
  if (fieldError("person-id", id ? null : "Enter the person's hub id")) return;
  try {
    const { data } = await api(PROVENANCE, { id });
    if (!data.person) {
      fill("person-result", h("p", { class: "govuk-body", "data-person-result": "none" }, "No person has this id."));
      return;
    }
    const held = data.person.provenance || [];
    const parts = [
      held.length
        ? table(
            "Connector fields held now",
            ["Field", "Connector", "Fetched", "State", "Match confidence"],
            held.map((p) => [h("code", {}, p.path || p.field), p.connector, moment(p.fetchedAt), p.stale ? tag("Stale", "govuk-tag--orange") : tag("Fresh", "govuk-tag--green"), percent(p.matchConfidence)]),
            { "data-table": "provenance" },
          )
        : h("p", { class: "govuk-body", "data-person-result": "no-provenance" }, "The hub holds no connector-sourced fields for this person."),
    ];
    try {
      const links = (await api(LINKS, { id })).data.person?.links || [];
      parts.push(
        links.length
          ? table("Identity links", ["Source", "External id", "Method", "Confidence", "Linked"], links.map((l) => [l.source, h("code", {}, l.externalId), l.method, percent(l.confidence), `${moment(l.linkedAt)} by ${l.linkedBy}`]), { "data-table": "links" })
          : h("p", { class: "govuk-body" }, "No identity links."),
      );
    } catch {
      // A hub without Person.links (identity resolution not deployed): provenance alone.
    }
    fill("person-result", ...parts);
  } catch (error) {
    showError(error.message, error.code);
  }
}

// --- page -------------------------------------------------------------------------------------------

async function start() {
  fill(
    "content",
    h("span", { class: "govuk-caption-l" }, "Data stewardship"),
    h("h1", { class: "govuk-heading-l" }, "Steward console"),
    h(
      "section",
      { class: "govuk-!-margin-bottom-8", "aria-labelledby": "connectors-title" },
      h("h2", { class: "govuk-heading-m", id: "connectors-title" }, "Connectors"),
      h("p", { class: "govuk-body-s", id: "connector-updated" }),
      h("div", { id: "connector-cards" }, h("p", { class: "govuk-body" }, "Loading connectors…")),
      h("div", { class: "govuk-grid-row" },
        h("div", { class: "govuk-grid-column-one-half", id: "switch-slot" }),
        h("div", { class: "govuk-grid-column-one-half", id: "test-slot" }),
      ),
      h("div", { id: "switch-result", "aria-live": "polite" }),
    ),
    h(
      "section",
      { class: "govuk-!-margin-bottom-8", "aria-labelledby": "queue-title" },
      h("h2", { class: "govuk-heading-m", id: "queue-title" }, "Identity review queue"),
      h("p", { class: "govuk-body" }, "Candidate links the model was not sure enough to make on its own. Check the evidence, then accept or reject with a reason."),
      queueFilter(),
      h("div", { id: "queue-result", "aria-live": "polite" }),
      h("div", { id: "queue" }, h("p", { class: "govuk-body" }, "Loading…")),
    ),
    h(
      "section",
      { class: "govuk-!-margin-bottom-8", "aria-labelledby": "person-title" },
      h("h2", { class: "govuk-heading-m", id: "person-title" }, "Where a person's fields came from"),
      personForm(),
    ),
  );
  document.getElementById("content").setAttribute("aria-busy", "false");
  await refreshConnectors();
  fill("switch-slot", switchForm());
  fill("test-slot", testForm());
  await loadQueue();
  setInterval(() => refreshConnectors().catch(() => fill("connector-updated", "Health could not be refreshed; retrying.")), POLL_MS);
}

document.querySelector('a[href="#sign-out"]').addEventListener("click", (event) => {
  event.preventDefault();
  signOut("steward");
  window.location.assign("/console");
});

if (!bearer) {
  signInNeeded("steward", "You need to sign in as a data steward to use the console.");
} else {
  start().catch((error) => {
    if (error instanceof ApiError && (error.code === "UNAUTHENTICATED" || error.code === "FORBIDDEN")) {
      signOut("steward");
      signInNeeded("steward", "Your sign-in has expired or is not a steward's.");
      return;
    }
    fill("content", h("h1", { class: "govuk-heading-l" }, "Steward console"));
    showError(error.message, error.code);
  });
}
