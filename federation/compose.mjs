// The composition check: does the hub's subgraph SDL compose with these partner subgraphs?
//
//   hub schema --federation > hub.graphql
//   node compose.mjs hub.graphql partners/hmrc-earnings.graphql          # or: hub=- with the SDL on stdin
//   node compose.mjs --out supergraph.graphql hub=hub.graphql hmrc=partners/hmrc-earnings.graphql
//
// Prints each error (and hint) as `LEVEL CODE message`. Exit status: 0 composed, 1 composition errors, 2 usage.
import { writeFileSync } from "node:fs";

import { composeFiles, subgraphArg } from "./supergraph.mjs";

const args = process.argv.slice(2);
let out;
const specs = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--out") out = args[++i];
  else if (args[i] === "--help" || args[i] === "-h") usage(0);
  else specs.push(args[i]);
}
if (specs.length === 0 || (out !== undefined && !out)) usage(2);

const result = composeFiles(specs.map(subgraphArg));
for (const hint of result.hints) console.error(`HINT ${hint.code} ${hint.message}`);
for (const error of result.errors) console.error(`ERROR ${error.code} ${error.message}`);
if (result.errors.length) {
  console.error(`composition failed: ${result.errors.length} error(s)`);
  process.exit(1);
}
if (out) writeFileSync(out, result.supergraphSdl);
console.error(`composed ${specs.length} subgraph(s)${out ? ` into ${out}` : ""}`);

function usage(status) {
  console.error("usage: node compose.mjs [--out supergraph.graphql] [name=]path.graphql ...  (path '-' is stdin)");
  process.exit(status);
}
