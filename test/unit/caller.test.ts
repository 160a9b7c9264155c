/**
 * verifyCaller (src/identity/caller.ts) with task tokens: a token verified moments ago is taken from
 * the isolate's cache, and its agent is still made against the bundle in force on every call: an issuer
 * gone from the bundle refuses the cached token, and the claims kept are the ones the issuer in force
 * declares. Nothing is remembered of a refusal.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { verifyCaller } from "../../src/identity/caller";
import { newTaskKey, signTaskToken, taskKeys } from "../../src/identity/task-token";
import type { Bundle, IssuerSpec } from "../../src/policy/types";

const ORIGIN = "https://firebreak.test";
const NOW = new Date();
const TASK_ID = "t_01JD8X3V5Q9R2M4N6P7S8T0W1Y";

const issuer = (claims: string[]) => ({ name: "remote", kind: "workload", issuer: "https://oidc.test", claims });
const bundleWith = (...issuers: object[]) => ({ issuers: issuers as IssuerSpec[] }) as unknown as Bundle;

let env: Record<string, string>;
let token: string;

beforeAll(async () => {
  env = { GATEWAY_ORIGIN: ORIGIN, FIREBREAK_TASK_KEY: JSON.stringify(await newTaskKey()) };
  const keys = await taskKeys(env);
  if (!keys.ok) throw new Error("task keys");
  const claims = { sub: "agent-1", agent_issuer: "remote", task_id: TASK_ID, profile: "basic" };
  const opts = { audience: ORIGIN, issuer: ORIGIN, ttl_s: 600, deadline_ms: NOW.getTime() + 3_600_000, now: NOW };
  ({ token } = await signTaskToken(keys.keys.current, { ...claims, agent_claims: { team: "core", x: 1 } }, opts));
});

describe("a cached task token", () => {
  it("is the same caller on every call under one bundle", async () => {
    const bundle = bundleWith(issuer(["team"]));
    const first = await verifyCaller(token, bundle, env as never, NOW);
    const again = await verifyCaller(token, bundle, env as never, NOW);
    expect(first).toEqual({
      ok: true,
      caller: {
        agent: { issuer: "remote", iss: "https://oidc.test", sub: "agent-1", claims: { team: "core" } },
        task: { id: TASK_ID, profile: "basic" },
      },
    });
    expect(again).toEqual(first);
  });

  it("meets the bundle in force: its issuer gone, refused; its claims changed, the new ones", async () => {
    const gone = await verifyCaller(token, bundleWith({ ...issuer([]), name: "other" }), env as never, NOW);
    expect(gone).toMatchObject({ ok: false, reason: "identity.unknown_issuer" });
    const fewer = await verifyCaller(token, bundleWith(issuer([])), env as never, NOW);
    expect(fewer.ok && fewer.caller.agent.claims).toEqual({});
    const back = await verifyCaller(token, bundleWith(issuer(["team", "x"])), env as never, NOW);
    expect(back.ok && back.caller.agent.claims).toEqual({ team: "core", x: 1 });
  });

  it("is not a task token under another gateway origin", async () => {
    const other = { ...env, GATEWAY_ORIGIN: "https://elsewhere.test" };
    const refused = await verifyCaller(token, bundleWith(issuer([])), other as never, NOW);
    // Verified as a workload token instead, whose `iss` no issuer of the bundle has.
    expect(refused).toMatchObject({ ok: false, reason: "identity.unknown_issuer" });
    // The gateway's own origin still takes it as the task token it is.
    expect((await verifyCaller(token, bundleWith(issuer([])), env as never, NOW)).ok).toBe(true);
  });
});
