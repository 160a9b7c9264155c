/**
 * Stripe's operations, read from the `stripe` package itself (a dev dependency of the importer only).
 * The SDK declares no table of endpoints: each resource class (cjs/resources/**) has one method per
 * endpoint, whose body is `this._makeRequest(METHOD, path, params, options, spec)`. So the client is
 * built (no network: nothing is sent), its resource tree walked (`customers`, `issuing.cards`,
 * `v2.core.events`), and every method called on a probe whose `_makeRequest` only records the method
 * and the path, with a marker for each path argument. Descriptions and `@deprecated` come from the
 * JSDoc above each method in the resource's own file.
 *
 * Methods the SDK sends to another host than api.stripe.com (`spec.apiBase`: file uploads and quote
 * PDFs on files.stripe.com, OAuth on connect.stripe.com, the v2 meter event stream on
 * meter-events.stripe.com) are not operations of this service: the SDK never sends them here, and
 * api.stripe.com would not serve them. `stripeMethods()` lists them too, with their host.
 *
 * Path parameters are named after the object the segment before them lists (`/v1/customers/{customer}
 * /sources/{source}`, `/v1/payment_intents/{payment_intent}`), not after the SDK's argument names
 * (`customerId`, `id`), so resource templates read the same everywhere.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { CatalogSource, SourceOperation } from "../source";

const require = createRequire(import.meta.url);

/** One method of the SDK, as it calls the API. */
export interface StripeMethod {
  /** Resource path and method name, as the SDK spells them: `paymentIntents.confirm`. */
  id: string;
  method: "GET" | "POST" | "DELETE";
  /** With `{param}` for each path argument. */
  path: string;
  /** null: api.stripe.com; else the SDK's apiBase (`files`, `connect`, `meter_events`). */
  apiBase: string | null;
  deprecated: boolean;
  description: string;
}

type Resource = Record<string, unknown>;
type StripeModule = {
  new (key: string): Resource;
  PACKAGE_VERSION: string;
  API_VERSION: string;
  StripeResource: abstract new (...args: never[]) => unknown;
};

let cached: StripeMethod[] | null = null;

/** Every method of every resource of the installed `stripe` package that calls the API. */
export function stripeMethods(): StripeMethod[] {
  if (cached) return cached;
  const Stripe = require("stripe") as StripeModule;
  const client = new Stripe("sk_test_firebreak_catalog_import");
  const docs = new Docs();
  const out: StripeMethod[] = [];
  for (const { path, resource } of resources(client, Stripe.StripeResource)) {
    for (const name of methodNames(resource, Stripe.StripeResource.prototype)) {
      const call = probe(resource, name);
      if (!call) continue;
      const doc = docs.of(resource, name);
      out.push({ id: [...path, name].join("."), ...call, ...doc });
    }
  }
  cached = out;
  return out;
}

/** The resource instances of the client, depth first in the SDK's own order; aliases once. */
function resources(client: Resource, base: StripeModule["StripeResource"]) {
  const out: { path: string[]; resource: Resource }[] = [];
  const seen = new Set<unknown>();
  const walk = (node: Resource, path: string[]) => {
    for (const key of Object.keys(node)) {
      if (key.startsWith("_") || key === "stripe") continue;
      const value = node[key];
      if (value === null || typeof value !== "object" || seen.has(value)) continue;
      seen.add(value);
      // A namespace (`issuing`, `v2.core`) is a plain holder of resources; `errors`, `webhooks` hold none.
      if (value instanceof base) out.push({ path: [...path, key], resource: value as Resource });
      else if (path.length < 4) walk(value as Resource, [...path, key]);
    }
  };
  walk(client, []);
  return out;
}

/** Own methods of the resource's classes, below StripeResource itself (`_makeRequest`, ...). */
function methodNames(resource: Resource, stop: object): string[] {
  const names: string[] = [];
  for (let p = Object.getPrototypeOf(resource); p && p !== stop; p = Object.getPrototypeOf(p)) {
    for (const n of Object.getOwnPropertyNames(p)) {
      if (n !== "constructor" && typeof p[n] === "function" && !names.includes(n)) names.push(n);
    }
  }
  return names;
}

const MARK = (i: number) => `fbparam${i}x`;

/** What one method sends: called with markers for its path arguments on a probe that records. */
function probe(resource: Resource, name: string): Omit<StripeMethod, "id" | "deprecated" | "description"> | null {
  const fn = resource[name] as (...args: unknown[]) => unknown;
  const declared = /^[^(]*\(([^)]*)\)/.exec(fn.toString())?.[1] ?? "";
  const params = declared
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const ids = params.slice(0, Math.max(0, params.indexOf("params")));
  let sent: { method: string; path: string; apiBase: string | null } | null = null;
  const recorder = Object.create(resource) as Resource;
  recorder._makeRequest = (method: string, path: string, _p: unknown, _o: unknown, spec?: { apiBase?: string }) => {
    sent = { method: method.toUpperCase(), path, apiBase: spec?.apiBase ?? null };
    return Promise.resolve({});
  };
  try {
    fn.call(recorder, ...ids.map((_, i) => MARK(i)), {}, {});
  } catch {
    return null; // not an API call (oauth.authorizeUrl builds a URL)
  }
  const got = sent as { method: string; path: string; apiBase: string | null } | null;
  if (!got || !["GET", "POST", "DELETE"].includes(got.method)) return null;
  return { method: got.method as StripeMethod["method"], path: namedParams(got.path, ids), apiBase: got.apiBase };
}

/** `/v1/customers/fbparam0x/sources/fbparam1x` -> `/v1/customers/{customer}/sources/{source}`. */
function namedParams(path: string, ids: string[]): string {
  const segs = path.split("/");
  const used = new Set<string>();
  return segs
    .map((seg, i) => {
      const k = ids.findIndex((_, j) => seg === MARK(j));
      if (k === -1) return seg;
      const before = segs[i - 1] ?? "";
      let name = before && !before.startsWith("{") ? singular(before) : snake(ids[k] ?? "id");
      name = name.replace(/[^A-Za-z0-9_]/g, "_");
      while (used.has(name)) name = `${name}_id`;
      used.add(name);
      return `{${name}}`;
    })
    .join("/");
}

/** The object a listing segment holds: `payment_intents` -> `payment_intent`, `capabilities` -> `capability`. */
export function singular(word: string): string {
  if (word === "people") return "person";
  if (word.endsWith("ies")) return `${word.slice(0, -3)}y`;
  if (/(sses|xes|ches|shes)$/.test(word)) return word.slice(0, -2);
  if (word.endsWith("s") && !word.endsWith("ss")) return word.slice(0, -1);
  return word;
}

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The JSDoc of each method, read once per resource file (found through the module cache). */
class Docs {
  private files = new Map<unknown, string>();
  private parsed = new Map<string, Map<string, { deprecated: boolean; description: string }>>();

  constructor() {
    for (const [file, mod] of Object.entries(require.cache)) {
      if (!mod || !/[\\/]stripe[\\/]cjs[\\/]resources[\\/]/.test(file)) continue;
      for (const value of Object.values(mod.exports ?? {}))
        if (typeof value === "function") this.files.set(value, file);
    }
  }

  of(resource: Resource, method: string): { deprecated: boolean; description: string } {
    for (let p = Object.getPrototypeOf(resource); p; p = Object.getPrototypeOf(p)) {
      if (!Object.hasOwn(p, method)) continue;
      const file = this.files.get(p.constructor);
      return (file && this.methodsOf(file).get(method)) || { deprecated: false, description: "" };
    }
    return { deprecated: false, description: "" };
  }

  private methodsOf(file: string) {
    let methods = this.parsed.get(file);
    if (methods) return methods;
    methods = new Map();
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*\n\s*([A-Za-z_$][\w$]*)\(/g)) {
      methods.set(m[2] ?? "", { deprecated: /@deprecated/.test(m[1] ?? ""), description: firstSentence(m[1] ?? "") });
    }
    this.parsed.set(file, methods);
    return methods;
  }
}

/** The comment's first sentence, one line, markdown links as their text. */
export function firstSentence(comment: string): string {
  const lines: string[] = [];
  for (const raw of comment.split("\n")) {
    const line = raw.replace(/^\s*\*\s?/, "").trim();
    if (line.startsWith("@")) break;
    if (line === "") {
      if (lines.length > 0) break;
      continue;
    }
    lines.push(line);
  }
  const text = lines
    .join(" ")
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/<[^>]+>/g, "")
    .replace(/\s+/g, " ");
  const end = /[.!?](\s|$)/.exec(text);
  const sentence = end ? text.slice(0, end.index) : text;
  return sentence.length > 160 ? `${sentence.slice(0, sentence.lastIndexOf(" ", 157))}...` : sentence;
}

/** Default action name: snake_case segments, `retrieve` as `get` and `del` as `delete` (`payment_intents.get`). */
export function actionName(id: string): string {
  const segs = id.split(".");
  const method = (segs.pop() ?? "").replace(/^retrieve(?=[A-Z]|$)/, "get").replace(/^del$/, "delete");
  return [...segs, method].map(snake).join(".");
}

function operations(): SourceOperation[] {
  return stripeMethods()
    .filter((m) => m.apiBase === null)
    .map((m) => ({
      id: m.id,
      name: actionName(m.id),
      method: m.method,
      path: m.path,
      deprecated: m.deprecated,
      description: m.description,
    }));
}

function origin(): string {
  const Stripe = require("stripe") as StripeModule;
  return `stripe@${Stripe.PACKAGE_VERSION} (API version ${Stripe.API_VERSION})`;
}

export const source: CatalogSource = {
  service: "stripe",
  get origin() {
    return origin();
  },
  operations,
};
