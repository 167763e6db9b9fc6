// Development sign-in: pick a steward or a parent of a seeded case; the hub mints a 15-minute token.
import { h, fill, saveToken, showError } from "/assets/app/hub.js";

async function signIn(body) {
  const response = await fetch("/dev/sign-in", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = answer.error || {};
    showError(error.message || `Sign-in failed (${response.status}).`, error.code);
    return;
  }
  saveToken(answer.kind, answer.token);
  window.location.assign(answer.page);
}

document.getElementById("sign-in-steward").addEventListener("click", () => signIn({ role: "steward" }));

async function choices() {
  const response = await fetch("/dev/sign-in/choices");
  if (!response.ok) {
    fill("choices", h("p", { class: "govuk-body" }, `Cases could not be listed (${response.status}).`));
    return;
  }
  const cases = await response.json();
  if (!cases.length) {
    fill("choices", h("p", { class: "govuk-body" }, "No child maintenance cases yet: start the hub with make serve (it seeds some)."));
    return;
  }
  const scheme = { COLLECT_AND_PAY: "Collect & Pay", DIRECT_PAY: "Direct Pay" };
  const button = (label, personId, caseId, role) =>
    h(
      "button",
      {
        type: "button",
        class: "govuk-button govuk-button--secondary govuk-!-margin-bottom-0",
        "data-person": personId,
        "data-case": caseId,
        "data-role": role,
        onclick: () => signIn({ personId }),
      },
      label,
      h("span", { class: "govuk-visually-hidden" }, ` in case ${caseId.slice(0, 8)}`),
    );
  fill(
    "choices",
    h(
      "table",
      { class: "govuk-table" },
      h("caption", { class: "govuk-table__caption govuk-table__caption--s" }, "Cases, newest first"),
      h(
        "thead",
        { class: "govuk-table__head" },
        h(
          "tr",
          { class: "govuk-table__row" },
          ["Case", "Scheme", "Paying parent", "Receiving parent"].map((x) => h("th", { scope: "col", class: "govuk-table__header" }, x)),
        ),
      ),
      h(
        "tbody",
        { class: "govuk-table__body" },
        cases.map((c) =>
          h(
            "tr",
            { class: "govuk-table__row" },
            h("td", { class: "govuk-table__cell" }, h("code", {}, c.caseId.slice(0, 8))),
            h("td", { class: "govuk-table__cell" }, scheme[c.scheme] || c.scheme),
            h("td", { class: "govuk-table__cell" }, c.paying ? button("Paying parent", c.paying, c.caseId, "paying") : "–"),
            h("td", { class: "govuk-table__cell" }, c.receiving ? button("Receiving parent", c.receiving, c.caseId, "receiving") : "–"),
          ),
        ),
      ),
    ),
  );
}

choices();
