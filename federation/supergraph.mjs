// Composition of subgraph SDLs into a supergraph with Apollo's own library (@apollo/composition), offline:
// no subgraph has to be running and no gateway needs a token to fetch `_service { sdl }`.
import { readFileSync } from "node:fs";
import { basename, extname } from "node:path";

import { composeServices } from "@apollo/composition";
import { GraphQLError, parse } from "graphql";

/**
 * Read a subgraph spec `name=path`, `name=url=path` or a bare `path` (named after its file; `-` is stdin).
 * @returns {{ name: string, url: string | undefined, path: string }}
 */
export function subgraphArg(spec) {
  const parts = spec.split("=");
  if (parts.length === 1) return { name: basename(spec, extname(spec)), url: undefined, path: spec };
  if (parts.length === 2) return { name: parts[0], url: undefined, path: parts[1] };
  // name=url=path: a URL may itself hold "=" (a query string), so the path is the last part.
  return { name: parts[0], url: parts.slice(1, -1).join("="), path: parts.at(-1) };
}

/**
 * Compose subgraphs given as `{ name, url?, path }`.
 * @returns {{ errors: { code: string, message: string }[], hints: { code: string, message: string }[], supergraphSdl?: string }}
 */
export function composeFiles(subgraphs) {
  const services = [];
  const errors = [];
  for (const { name, url, path } of subgraphs) {
    let text;
    try {
      text = readFileSync(path === "-" ? 0 : path, "utf8");
    } catch (error) {
      errors.push({ code: "UNREADABLE_SDL", message: `[${name}] ${path}: ${error.message}` });
      continue;
    }
    try {
      // Composition needs a routing URL per subgraph; for an offline check any placeholder will do.
      services.push({ name, url: url ?? `http://${name}.invalid/graphql`, typeDefs: parse(text) });
    } catch (error) {
      const message = error instanceof GraphQLError ? error.message : String(error);
      errors.push({ code: "INVALID_GRAPHQL", message: `[${name}] ${path}: ${message}` });
    }
  }
  if (errors.length) return { errors, hints: [] };
  const result = composeServices(services);
  const hints = (result.hints ?? []).map((h) => ({ code: h.definition.code, message: h.message }));
  if (result.errors) {
    return { errors: result.errors.map((e) => ({ code: e.extensions?.code ?? "COMPOSITION_ERROR", message: e.message })), hints };
  }
  return { errors: [], hints, supergraphSdl: result.supergraphSdl };
}
