// Steward console: connectors with live health, the identity review queue, provenance (issue 8).
import { fill, h, signInNeeded, signOut, token } from "/assets/app/hub.js";

const bearer = token("steward");

document.querySelector('a[href="#sign-out"]').addEventListener("click", (event) => {
  event.preventDefault();
  signOut("steward");
  window.location.assign("/console");
});

if (!bearer) {
  signInNeeded("steward", "You need to sign in as a data steward to use the console.");
} else {
  fill("content", h("h1", { class: "govuk-heading-l" }, "Steward console"), h("p", { class: "govuk-body" }, "Loading connectors…"));
}
