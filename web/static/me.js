// "Where you stand": a citizen's child maintenance position (live), who viewed their record, their consents.
// Reads only the hub's GraphQL API with the citizen's own token.
import {
  ApiError,
  clearError,
  day,
  fill,
  gql,
  h,
  liveClient,
  moment,
  pounds,
  showError,
  signInNeeded,
  signOut,
  summaryList,
  table,
  token,
} from "/assets/app/hub.js";

const POSITION = `
  __typename
  ... on PayingPosition {
    caseId asOf arrearsPence outstandingPence paidPence creditPence
    nextPayment { dueDate amountPence feePence }
    recentPayments { id amountPence paidAt }
  }
  ... on ReceivingPosition {
    caseId asOf shortfallPence receivedPence
    nextExpected { dueDate amountPence deductionPence }
    instalments { dueDate expectedPence receivedPence status }
  }`;

const ME = `query WhereIStand {
  me {
    id givenName familyName
    maintenanceCases { id scheme children { givenName } position { ${POSITION} } }
    accessLog { at actorRole actorDepartment purpose fields }
    consents { id connector purpose grantedAt revokedAt active }
  }
}`;

const LIVE = `subscription LivePosition($caseId: ID!) { financialPosition(caseId: $caseId) { ${POSITION} } }`;

const GRANT = `mutation Grant($connector: String!, $purpose: String!) {
  grantConsent(connector: $connector, purpose: $purpose) {
    __typename ... on Consent { id active } ... on UserError { message code }
  }
}`;

const REVOKE = `mutation Revoke($connector: String!) {
  revokeConsent(connector: $connector) { __typename ... on UserError { message code } }
}`;

const SCHEMES = { COLLECT_AND_PAY: "Collect & Pay", DIRECT_PAY: "Direct Pay" };
const ROLES = { caseworker: "A caseworker", partner: "A partner organisation", steward: "A data steward", auditor: "An auditor" };

const bearer = token("citizen");
let live = null;

function setLiveStatus(text) {
  for (const el of document.querySelectorAll("[data-live-status]")) el.textContent = text;
}

/** One case's position, as a block that a live update replaces whole. */
function positionBlock(position) {
  if (!position) return h("p", { class: "govuk-body" }, "Your position on this case is not available right now.");
  if (position.__typename === "PayingPosition") {
    const next = position.nextPayment;
    const arrears = position.arrearsPence > 0;
    return h(
      "div",
      { "data-position": "paying" },
      summaryList([
        [
          "Next payment",
          next
            ? h("span", {}, h("strong", { class: "hub-figure", "data-field": "next-amount" }, pounds(next.amountPence)), ` due ${day(next.dueDate)}`, next.feePence ? ` (including a ${pounds(next.feePence)} collection fee)` : "")
            : "Nothing more is due",
        ],
        [
          "Arrears",
          h(
            "span",
            {},
            h("strong", { class: `hub-figure${arrears ? " govuk-!-text-colour-red" : ""}`, "data-field": "arrears" }, pounds(position.arrearsPence)),
            arrears ? " – please pay as soon as you can" : "",
          ),
        ],
        ["Paid so far", h("span", { class: "hub-figure", "data-field": "paid" }, pounds(position.paidPence))],
        ["Still to pay on past instalments", h("span", { class: "hub-figure", "data-field": "outstanding" }, pounds(position.outstandingPence))],
        ...(position.creditPence ? [["In credit", h("span", { class: "hub-figure" }, pounds(position.creditPence))]] : []),
      ]),
      position.recentPayments.length
        ? table(
            "Recent payments",
            ["Date", "Amount"],
            position.recentPayments.map((p) => [moment(p.paidAt), h("span", { class: "hub-figure" }, pounds(p.amountPence))]),
            { "data-table": "recent-payments" },
          )
        : h("p", { class: "govuk-body" }, "No payments received yet."),
    );
  }
  const next = position.nextExpected;
  const received = position.instalments.filter((i) => i.receivedPence > 0).slice(-5).reverse();
  return h(
    "div",
    { "data-position": "receiving" },
    summaryList([
      ["Next payment to you", next ? h("span", {}, h("strong", { class: "hub-figure", "data-field": "next-amount" }, pounds(next.amountPence)), ` expected ${day(next.dueDate)}`) : "Nothing more is expected"],
      ["Owed to you and not yet paid", h("strong", { class: "hub-figure", "data-field": "arrears" }, pounds(position.shortfallPence))],
      ["Received so far", h("span", { class: "hub-figure", "data-field": "paid" }, pounds(position.receivedPence))],
    ]),
    received.length
      ? table(
          "Recent payments to you",
          ["Instalment due", "Received"],
          received.map((i) => [day(i.dueDate), h("span", { class: "hub-figure" }, pounds(i.receivedPence))]),
          { "data-table": "recent-payments" },
        )
      : h("p", { class: "govuk-body" }, "Nothing received yet."),
  );
}

function caseSection(c, index) {
  const children = (c.children || []).map((x) => x.givenName).filter(Boolean);
  return h(
    "section",
    { class: "govuk-!-margin-bottom-8", "aria-labelledby": `case-${index}-title`, "data-case": c.id },
    h("h2", { class: "govuk-heading-m", id: `case-${index}-title` }, `Child maintenance${children.length ? ` for ${children.join(" and ")}` : ""}`),
    h("p", { class: "govuk-body govuk-!-margin-bottom-2" }, `${SCHEMES[c.scheme] || c.scheme} · case reference `, h("code", {}, c.id.slice(0, 8))),
    h("p", { class: "govuk-body-s hub-live-status", "data-live-status": "" }, "Connecting for live updates…"),
    h("div", { id: `position-${c.id}` }, positionBlock(c.position)),
  );
}

function accessSection(entries) {
  const who = (e) => [ROLES[e.actorRole] || e.actorRole || "Someone", e.actorDepartment ? ` (${e.actorDepartment})` : ""].join("");
  return h(
    "section",
    { class: "govuk-!-margin-bottom-8", "aria-labelledby": "access-title" },
    h("h2", { class: "govuk-heading-m", id: "access-title" }, "Who viewed your record"),
    entries.length
      ? table(
          "Most recent first",
          ["When", "Who", "Why", "What they saw"],
          entries.slice(0, 20).map((e) => [moment(e.at), who(e), e.purpose || "–", (e.fields || []).join(", ")]),
          { "data-table": "access-log" },
        )
      : h("p", { class: "govuk-body" }, "Nobody else has viewed your record."),
  );
}

function consentSection(consents, sources) {
  const active = new Map(consents.filter((c) => c.active).map((c) => [c.connector, c]));
  const rows = sources.map((s) => {
    const given = active.get(s.name);
    return [
      h("span", {}, h("strong", {}, s.name), h("br"), h("span", { class: "govuk-body-s" }, s.description)),
      given
        ? h("strong", { class: "govuk-tag govuk-tag--green" }, "Allowed")
        : h("strong", { class: "govuk-tag govuk-tag--grey" }, "Not allowed"),
      given
        ? h("button", { type: "button", class: "govuk-button govuk-button--warning govuk-!-margin-bottom-0", "data-revoke": s.name, onclick: () => change(REVOKE, { connector: s.name }, "revokeConsent") }, "Withdraw", h("span", { class: "govuk-visually-hidden" }, ` consent for ${s.name}`))
        : h("button", { type: "button", class: "govuk-button govuk-!-margin-bottom-0", "data-grant": s.name, onclick: () => change(GRANT, { connector: s.name, purpose: s.purpose }, "grantConsent") }, "Allow", h("span", { class: "govuk-visually-hidden" }, ` ${s.name}`)),
    ];
  });
  return h(
    "section",
    { class: "govuk-!-margin-bottom-8", "aria-labelledby": "consent-title" },
    h("h2", { class: "govuk-heading-m", id: "consent-title" }, "Sources you allow us to check"),
    h("p", { class: "govuk-body" }, "Some sources are only checked with your permission. You can withdraw it at any time: we stop asking at once and delete what we held from them."),
    sources.length ? table("Sources", ["Source", "Status", "Change"], rows, { "data-table": "consents" }) : h("p", { class: "govuk-body" }, "No source needs your permission."),
    consents.length
      ? h(
          "details",
          { class: "govuk-details" },
          h("summary", { class: "govuk-details__summary" }, h("span", { class: "govuk-details__summary-text" }, "Your consent history")),
          h(
            "div",
            { class: "govuk-details__text" },
            table("Consents, newest first", ["Source", "Purpose", "Given", "Withdrawn"], consents.map((c) => [c.connector, c.purpose, moment(c.grantedAt), c.revokedAt ? moment(c.revokedAt) : "–"])),
          ),
        )
      : null,
  );
}

async function change(document_, variables, field) {
  try {
    const { data } = await gql(bearer, document_, variables);
    const result = data[field];
    if (result && result.message) {
      showError(result.message, result.code);
      return;
    }
    clearError();
    await load();
  } catch (error) {
    showError(error.message, error.code);
  }
}

async function load() {
  const [{ data }, sources] = await Promise.all([
    gql(bearer, ME),
    fetch("/me/consentable").then((r) => (r.ok ? r.json() : [])),
  ]);
  const me = data.me;
  if (!me) {
    fill("content", h("h1", { class: "govuk-heading-l" }, "Where you stand"), h("p", { class: "govuk-body" }, "Your sign-in is not linked to a record on this hub yet."));
    return;
  }
  const cases = me.maintenanceCases || [];
  fill(
    "content",
    h("span", { class: "govuk-caption-l" }, [me.givenName, me.familyName].filter(Boolean).join(" ")),
    h("h1", { class: "govuk-heading-l" }, "Where you stand"),
    cases.length ? cases.map(caseSection) : h("p", { class: "govuk-body" }, "You have no child maintenance cases."),
    accessSection(me.accessLog || []),
    consentSection(me.consents || [], sources),
  );
  document.getElementById("content").setAttribute("aria-busy", "false");
  subscribe(cases);
}

function subscribe(cases) {
  if (live) return; // one socket for the page; sections are found by case id on every update
  live = liveClient(bearer, {
    onStatus: (state) => setLiveStatus(state === "connected" ? "Live: this page updates when a payment arrives." : state === "refused" ? "Live updates are not available: sign in again." : "Reconnecting for live updates…"),
  });
  for (const c of cases) {
    live.subscribe(
      { query: LIVE, variables: { caseId: c.id } },
      {
        next: ({ data }) => {
          const position = data && data.financialPosition;
          if (!position) return;
          fill(`position-${c.id}`, positionBlock(position));
          const at = new Date().toLocaleTimeString("en-GB");
          setLiveStatus(`Live: updated at ${at}.`);
          const region = document.getElementById("live-announcer");
          if (region) region.textContent = `Your child maintenance position was updated at ${at}.`;
        },
        error: () => setLiveStatus("Live updates stopped: reload the page to try again."),
        complete: () => {},
      },
    );
  }
}

document.querySelector('a[href="#sign-out"]').addEventListener("click", (event) => {
  event.preventDefault();
  signOut("citizen");
  if (live) live.dispose();
  window.location.assign("/me");
});

if (!bearer) {
  signInNeeded("citizen", "You need to sign in to see your child maintenance, who viewed your record and your consents.");
} else {
  load().catch((error) => {
    if (error instanceof ApiError && error.code === "UNAUTHENTICATED") {
      signOut("citizen");
      signInNeeded("citizen", "Your sign-in has expired or is not valid here.");
      return;
    }
    fill("content", h("h1", { class: "govuk-heading-l" }, "Where you stand"));
    showError(error.message, error.code);
  });
}
