// The peer for bench/run.py: the Neo4j GraphQL Library v5 on Apollo Server 4 (one Node process),
// serving the caseworker query from the same graph the hub reads. Benchmark tool only.
//
//   PEER_PORT=… NEO4J_URI=bolt://… NEO4J_USER=… NEO4J_PASSWORD=… NEO4J_DATABASE=hub node server.mjs
//
// Type names are labels; relationship types and directions are those graph/ writes. Current address is
// a @cypher field (the library has no "latest relationship" filter). No auth, policy or audit: the peer
// does strictly less per request than the hub.
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { Neo4jGraphQL } from "@neo4j/graphql";
import net from "node:net";
import neo4j from "neo4j-driver";

// The JS driver leaves Nagle's algorithm on for Bolt sockets; its BEGIN / RUN / PULL / COMMIT writes
// then wait on the server's delayed ACK (~40 ms a request at concurrency 1, measured). Turning it off
// gives the peer its best case; the Python driver the hub uses already sets TCP_NODELAY.
const connect = net.connect;
net.connect = (...args) => connect(...args).setNoDelay(true);

const typeDefs = /* GraphQL */ `
  type Person {
    id: ID!
    nino: String
    givenName: String
    familyName: String
    dateOfBirth: Date
    partner: Person @relationship(type: "PARTNER_OF", direction: OUT, queryDirection: UNDIRECTED_ONLY)
    children: [Person!]! @relationship(type: "PARENT_OF", direction: OUT)
    parents: [Person!]! @relationship(type: "PARENT_OF", direction: IN)
    claims: [Claim!]! @relationship(type: "HAS_CLAIM", direction: OUT)
    addresses: [Address!]! @relationship(type: "LIVES_AT", direction: OUT, properties: "LivesAt")
    address: Address
      @cypher(
        statement: "MATCH (this)-[r:LIVES_AT]->(a:Address) WHERE r.to IS NULL RETURN a ORDER BY r.from DESC LIMIT 1"
        columnName: "a"
      )
  }
  type LivesAt @relationshipProperties {
    from: Date
    to: Date
  }
  type Claim {
    id: ID!
    type: String
    status: String
    amountPence: Int
    startDate: Date
  }
  type Address {
    id: ID!
    line1: String
    town: String
    postcode: String
  }
`;

const env = process.env;
const driver = neo4j.driver(env.NEO4J_URI, neo4j.auth.basic(env.NEO4J_USER ?? "neo4j", env.NEO4J_PASSWORD ?? ""), {
  maxConnectionPoolSize: 100,
});
const sessionConfig = env.NEO4J_DATABASE ? { database: env.NEO4J_DATABASE } : undefined;
const schema = await new Neo4jGraphQL({ typeDefs, driver }).getSchema();
const server = new ApolloServer({ schema, introspection: false });
const { url } = await startStandaloneServer(server, {
  listen: { host: "127.0.0.1", port: Number(env.PEER_PORT ?? 4100) },
  context: async () => ({ sessionConfig }),
});
console.log(`peer ready at ${url}`);

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, async () => {
    await server.stop();
    await driver.close();
    process.exit(0);
  });
}
