/**
 * Shared by forward, policy, record and reasons tests: the app built from a compiled fixture bundle,
 * one request sent through `app.fetch` inside workerd, and everything it caused: the response, the
 * decision log lines, the Analytics Engine data points and what the fake upstream received.
 *
 * Every request carries a fresh probe id in a header the gateway forwards, and the upstream record is
 * filtered by it: test files may run in parallel against the one recorder, so a test never resets it
 * and never counts requests that are not its own. Positive cases find their request by the probe, so a
 * gateway that dropped the probe header would fail them, not make negative cases pass.
 */
import { env } from "cloudflare:workers";
import { expect, vi } from "vitest";
import { type AppOptions, createApp } from "../../src/app";
import type { LoggedRecord } from "../../src/decisions/record";
import gatewayBundle from "../.generated/gateway.json";
import reportBundle from "../.generated/report.json";
import { ISSUERS, type TokenOptions, token } from "../helpers/tokens";
import type { Recorded } from "../helpers/upstream";

export type { Recorded };

/** The canary secrets bound in vitest.config.ts (kept in step by record.test.ts). */
export const CANARY = {
  GITHUB_TOKEN: "canary-gh-7f3a9c2e1b",
  SLACK_BOT_TOKEN: "canary-slack-5d8e2a6f0c",
  STRIPE_SECRET_KEY: "canary-stripe-9b1c4e7a3d",
  FIREBREAK_APPROVAL_WEBHOOK: "https://hooks.test.example/services/T0/B0/canary-webhook-4e1f9a",
} as const;

export const bindings = env as unknown as Record<string, unknown>;
export const GATEWAY_REVISION = gatewayBundle.manifest.revision;
export const REPORT_REVISION = reportBundle.manifest.revision;

export const gatewayApp = (opts?: AppOptions) => createApp(gatewayBundle, opts);
export const reportApp = () => createApp(reportBundle);
/** The gateway fixture bundle with other settings (loading does not re-check the revision). */
export const createAppFor = (settings: Record<string, unknown>) =>
  createApp({ ...gatewayBundle, settings: { ...gatewayBundle.settings, ...settings } });
export type App = ReturnType<typeof createApp>;

/**
 * A clock a test moves instead of waiting: `createApp(bundle, { clock: clock.now })`, then `advance`
 * or `set` it past a deadline. It stands still in between, so every request sees the time the test set.
 */
export interface TestClock {
  now: () => Date;
  /** Its time in epoch ms. */
  ms: () => number;
  /** Its time in whole seconds, as a token's `now` (test/helpers/tokens.ts). */
  seconds: () => number;
  advance: (ms: number) => void;
  set: (ms: number) => void;
}

export function testClock(start = Date.now()): TestClock {
  let t = start;
  return {
    now: () => new Date(t),
    ms: () => t,
    seconds: () => Math.floor(t / 1000),
    advance: (ms) => {
      t += ms;
    },
    set: (ms) => {
      t = ms;
    },
  };
}

export const PROBE = "x-test-probe";
export const BASE = "https://gw.example";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A token of agent-1 from the `remote` issuer (gateway bundle). */
export const agentToken = (opts: TokenOptions = {}) => token({ sub: "agent-1", ...opts });
/** A token of agent-1 from the `inline` issuer, the only one the report bundle trusts. */
export const inlineToken = (opts: TokenOptions = {}) =>
  token({ key: "es256", iss: ISSUERS.inline, sub: "agent-1", ...opts });

export interface SendInit extends Omit<RequestInit, "headers"> {
  headers?: Record<string, string> | [string, string][];
  /** Bearer token to send; default: agentToken(). `null` sends no Authorization header. */
  bearer?: string | null;
  /** Bindings to use instead of the test environment's. */
  env?: Record<string, unknown>;
  /** Replaces console.log / DECISIONS.writeDataPoint while the request runs (after capturing). */
  onLog?: (...args: unknown[]) => void;
  onDataPoint?: (point: AnalyticsEngineDataPoint) => void;
}

export interface Sent {
  res: Response;
  text: string;
  /** The body parsed as JSON, or null when it is not JSON. */
  json: Record<string, unknown> | null;
  /** Every console.log call made while the request ran, with its arguments. */
  logCalls: unknown[][];
  /** The decision records among them (parsed JSON lines with event firebreak.decision). */
  records: (LoggedRecord & { event: string })[];
  /** Data points written to DECISIONS while the request ran. */
  points: AnalyticsEngineDataPoint[];
  /** What the fake upstream received for this request. */
  upstream: Recorded[];
}

/** Sends one request through the app; `path` is appended to BASE unless it is a full URL. */
export async function send(app: App, path: string, init: SendInit = {}): Promise<Sent> {
  const probe = crypto.randomUUID();
  const headers = new Headers(init.headers);
  const bearer = init.bearer === undefined ? await agentToken() : init.bearer;
  if (bearer !== null && !headers.has("authorization")) headers.set("authorization", `Bearer ${bearer}`);
  headers.set(PROBE, probe);
  const { bearer: _b, env: customEnv, onLog, onDataPoint, ...rest } = init;
  const request = new Request(path.startsWith("https://") ? path : `${BASE}${path}`, { ...rest, headers });

  const targetEnv = customEnv ?? bindings;
  const sink = targetEnv.DECISIONS as AnalyticsEngineDataset;
  const logCalls: unknown[][] = [];
  const points: AnalyticsEngineDataPoint[] = [];
  const logSpy = vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
    logCalls.push(args);
    onLog?.(...args);
  });
  const pointSpy = vi.spyOn(sink, "writeDataPoint").mockImplementation((point?: AnalyticsEngineDataPoint) => {
    points.push(point ?? {});
    onDataPoint?.(point ?? {});
  });
  let res: Response;
  let text: string;
  try {
    res = await app.fetch(request, targetEnv as never);
    text = await res.text();
  } finally {
    logSpy.mockRestore();
    pointSpy.mockRestore();
  }
  return {
    res,
    text,
    json: parseJson(text),
    logCalls,
    records: logCalls.flatMap((args) => decisionRecords(args)),
    points,
    upstream: (await recorded()).filter((r) => r.headers[PROBE] === probe),
  };
}

function parseJson(text: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(text);
    return typeof v === "object" && v !== null ? v : null;
  } catch {
    return null;
  }
}

function decisionRecords(args: unknown[]): (LoggedRecord & { event: string })[] {
  if (args.length !== 1 || typeof args[0] !== "string") return [];
  const parsed = parseJson(args[0]);
  return parsed?.event === "firebreak.decision" ? [parsed as unknown as LoggedRecord & { event: string }] : [];
}

/** Everything the fake upstream has recorded (all files' requests: filter by probe or URL). */
export async function recorded(): Promise<Recorded[]> {
  return (await (await fetch("http://recorder.test/")).json()) as Recorded[];
}

/** The one item of a list, failing the test when there is not exactly one. */
export function only<T>(items: readonly T[], message?: string): T {
  expect(items, message).toHaveLength(1);
  return items[0] as T; // the length was just checked
}

/** The single upstream request of an allowed call. */
export function forwarded(sent: Sent): Recorded {
  return only(sent.upstream, sent.text);
}

/**
 * A refusal as DESIGN.md shapes it: the status, the reason code, the decision headers with the id that
 * the body and the decision record also carry, and nothing sent upstream. Upstream failures (`allow`:
 * the call was decided and sent, then failed) leave the upstream check to the caller.
 */
export function expectRefusal(
  sent: Sent,
  status: number,
  reason: string,
  decision: "deny" | "approval_required" | "allow" = "deny",
): void {
  const { res, json } = sent;
  expect(res.status, sent.text).toBe(status);
  expect(json?.reason, sent.text).toBe(reason);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  expect(res.headers.get("firebreak-decision")).toBe(decision);
  const id = res.headers.get("firebreak-decision-id");
  expect(id).toMatch(UUID);
  expect(json?.decision_id).toBe(id);
  expect(sent.records.map((r) => [r.decision_id, r.reason])).toEqual([[id, reason]]);
  if (decision !== "allow") expect(sent.upstream).toEqual([]);
}

/** An allowed call: decision headers, one decision record with that id, and the upstream status. */
export function expectAllowed(sent: Sent, status = 200): Recorded {
  const { res } = sent;
  expect(res.status, sent.text).toBe(status);
  expect(res.headers.get("firebreak-decision")).toBe("allow");
  const id = res.headers.get("firebreak-decision-id");
  expect(id).toMatch(UUID);
  expect(sent.records.map((r) => [r.decision_id, r.effect, r.reason])).toEqual([[id, "allow", "policy.allowed"]]);
  return forwarded(sent);
}

/**
 * Makes the worker's fetch to `host` fail as a network error does, until `restore()`. Needed because
 * the fake upstream's `throw` for unreachable.test.example reaches workerd as a 500 response
 * (miniflare answers a throwing outboundService with 500), not as a failed connection.
 */
export function failConnectionsTo(host: string): { refused: string[]; restore: () => void } {
  const realFetch = globalThis.fetch;
  const refused: string[] = [];
  const spy = vi.spyOn(globalThis, "fetch").mockImplementation((input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (new URL(url).hostname === host) {
      refused.push(url);
      return Promise.reject(new TypeError("Network connection lost."));
    }
    return realFetch(input, init);
  });
  return { refused, restore: () => spy.mockRestore() };
}

/** Lower-case names of the headers the upstream received. */
export const headerNames = (r: Recorded) => Object.keys(r.headers).map((h) => h.toLowerCase());

export const TASKS_PATH = "/_firebreak/v1/tasks";

export interface Started {
  res: Response;
  json: Record<string, unknown> | null;
  text: string;
}

/** POST /_firebreak/v1/tasks with a workload token (default agentToken()) and `{ profile, purpose, scope? }`. */
export async function startTask(
  app: App,
  profile: string,
  opts: { bearer?: string; purpose?: string; scope?: unknown; env?: Record<string, unknown> } = {},
): Promise<Started> {
  const bearer = opts.bearer ?? (await agentToken());
  const scope = opts.scope === undefined ? {} : { scope: opts.scope };
  const res = await app.fetch(
    new Request(`${BASE}${TASKS_PATH}`, {
      method: "POST",
      headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
      body: JSON.stringify({ profile, purpose: opts.purpose ?? "test", ...scope }),
    }),
    (opts.env ?? bindings) as never,
  );
  const text = await res.text();
  return { res, text, json: parseJson(text) };
}

/** Starts a task that must start; returns its id and token. */
export async function newTask(
  app: App,
  profile: string,
  bearer?: string,
  scope?: unknown,
): Promise<{ id: string; token: string }> {
  const started = await startTask(app, profile, { bearer, scope });
  expect(started.res.status, started.text).toBe(201);
  return { id: started.json?.task_id as string, token: started.json?.task_token as string };
}

/**
 * A renewal as an agent sends it: the task token as the bearer, its own workload token (default
 * agentToken()) in Firebreak-Agent-Token; `null` sends none.
 */
export async function renewTask(app: App, taskId: string, taskToken: string, agent?: string | null): Promise<Started> {
  const headers: Record<string, string> = { authorization: `Bearer ${taskToken}` };
  const proof = agent === undefined ? await agentToken() : agent;
  if (proof !== null) headers["firebreak-agent-token"] = proof;
  const res = await app.fetch(
    new Request(`${BASE}${TASKS_PATH}/${taskId}/renew`, { method: "POST", headers }),
    bindings as never,
  );
  const text = await res.text();
  return { res, text, json: parseJson(text) };
}

/** A task route (`/tasks/:id/complete`, `/tasks/:id`) with a bearer token. */
export async function taskRoute(
  app: App,
  path: string,
  bearer: string,
  method = "GET",
  env?: Record<string, unknown>,
): Promise<Started> {
  const res = await app.fetch(
    new Request(`${BASE}${TASKS_PATH}${path}`, { method, headers: { authorization: `Bearer ${bearer}` } }),
    (env ?? bindings) as never,
  );
  const text = await res.text();
  return { res, text, json: parseJson(text) };
}
