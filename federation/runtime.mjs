// Shared start-up for the gateway and the partner subgraph: loopback only, a free port by default, and one
// `ready <url>` line on stdout once listening, which is what a test waits for.
import { startStandaloneServer } from "@apollo/server/standalone";

export function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

export async function serve(server, { port = Number(option("--port", "0")), context } = {}) {
  const { url } = await startStandaloneServer(server, { listen: { host: "127.0.0.1", port }, context });
  for (const signal of ["SIGTERM", "SIGINT"]) {
    process.once(signal, () => server.stop().finally(() => process.exit(0)));
  }
  process.stdout.write(`ready ${url}\n`);
  return url;
}
