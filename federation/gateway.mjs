// Apollo's @apollo/gateway in front of the hub and partner subgraphs (tests and local trials).
//
//   node gateway.mjs [--port 4000] hub=http://127.0.0.1:8000/graphql=hub.graphql hmrc=http://127.0.0.1:4002/=partners/hmrc-earnings.graphql
//
// The supergraph is composed once at start-up from the SDL files (supergraph.mjs), not by introspection:
// the gateway needs no token of its own for the hub's `_service`, and a subgraph that does not compose stops
// it before it listens. Each request's Authorization, X-Purpose and X-Request-Id go to every subgraph, so
// the hub authenticates the caller and applies its policy; the gateway decides nothing about access.
import { ApolloGateway, RemoteGraphQLDataSource } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { GraphQLError } from "graphql";

import { serve } from "./runtime.mjs";
import { composeFiles, subgraphArg } from "./supergraph.mjs";

const FORWARDED = ["authorization", "x-purpose", "x-request-id"];

class ForwardingDataSource extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    for (const [name, value] of Object.entries(context.forward ?? {})) request.http.headers.set(name, value);
  }

  // A refused request (401, 403, 413, 429 ...) carries the subgraph's own coded GraphQL error: pass that on
  // instead of the gateway's "401: Unauthorized", and leave out the subgraph's URL.
  async errorFromResponse(response) {
    const error = await super.errorFromResponse(response);
    const first = error.extensions?.response?.body?.errors?.[0];
    if (typeof first?.message !== "string") return error;
    return new GraphQLError(first.message, {
      extensions: { code: first.extensions?.code ?? error.extensions.code, status: response.status },
    });
  }
}

const specs = process.argv.slice(2).filter((a, i, all) => a !== "--port" && all[i - 1] !== "--port");
const subgraphs = specs.map(subgraphArg);
if (!subgraphs.length || subgraphs.some((s) => !s.url)) {
  console.error("usage: node gateway.mjs [--port N] name=url=path.graphql ...");
  process.exit(2);
}
const composed = composeFiles(subgraphs);
if (composed.errors.length) {
  for (const error of composed.errors) console.error(`ERROR ${error.code} ${error.message}`);
  process.exit(1);
}

const gateway = new ApolloGateway({
  supergraphSdl: composed.supergraphSdl,
  buildService: ({ url }) => new ForwardingDataSource({ url }),
});
const server = new ApolloServer({ gateway, includeStacktraceInErrorResponses: false });
await serve(server, {
  context: async ({ req }) => ({
    forward: Object.fromEntries(FORWARDED.filter((h) => req.headers[h]).map((h) => [h, req.headers[h]])),
  }),
});
