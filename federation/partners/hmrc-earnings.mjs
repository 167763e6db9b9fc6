// A partner-department subgraph written with @apollo/subgraph: HMRC earnings extending the hub's Person by
// NINO, with deterministic fake data (a test and demo partner: it checks no token).
//
//   node partners/hmrc-earnings.mjs [--port 4002]
import { readFileSync } from "node:fs";

import { ApolloServer } from "@apollo/server";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { parse } from "graphql";

import { serve } from "../runtime.mjs";

const typeDefs = parse(readFileSync(new URL("./hmrc-earnings.graphql", import.meta.url), "utf8"));
const PERIODS = ["2026-03-05", "2026-02-05", "2026-01-05"];

/** Monthly pay from the NINO's digits: the same NINO always earns the same. */
export function earningsFor(nino) {
  const digits = Number(nino.slice(2, 8));
  return PERIODS.map((periodEnd, i) => {
    const grossPence = 150000 + (digits % 100000) + i * 1000;
    return { periodEnd, employer: `Employer ${nino.slice(2, 4)} Ltd`, grossPence, taxPence: Math.floor(grossPence / 5) };
  });
}

const normalise = (nino) => nino.replace(/\s+/g, "").toUpperCase();

const resolvers = {
  Query: {
    earningsReport(_, { nino }) {
      const key = normalise(nino);
      if (!/^[A-Z]{2}\d{6}[A-D]$/.test(key)) return null;
      const total = earningsFor(key).reduce((sum, p) => sum + p.grossPence, 0);
      return { nino: key, totalGrossPence: total, person: { nino: key } };
    },
  },
  Person: {
    __resolveReference: (reference) => ({ nino: reference.nino }),
    earnings: (person) => earningsFor(person.nino),
  },
};

const server = new ApolloServer({
  schema: buildSubgraphSchema([{ typeDefs, resolvers }]),
  includeStacktraceInErrorResponses: false,
});
await serve(server);
