/**
 * The kill switch stops a revoked agent's calls without a task too (`bare_workload_tokens: true`): its
 * bare workload tokens are refused `agent.revoked` with nothing forwarded, within KILL_SWITCH_TTL_MS of
 * the revocation on an isolate that had seen the agent live, and let through again after a reinstate
 * once that time has passed. The clock is the app's, moved by the test.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env";
import { KILL_SWITCH_TTL_MS } from "../../src/gateway/kill-switch";
import { agentKey } from "../../src/tasks/agent-object";
import { token } from "../helpers/tokens";
import { expectAllowed, expectRefusal, gatewayApp, send, testClock } from "./support";

const AGENTS = (env as unknown as Env).AGENTS!;
const ISSUE = "/github/repos/acme/api/issues/1";

describe("the kill switch with bare workload tokens", () => {
  it("refuses the revoked agent's bare calls, nothing forwarded, and lifts with a reinstate", async () => {
    const clock = testClock();
    const app = gatewayApp({ clock: clock.now });
    // The fixture's rules allow agent-1; this file's Durable Object storage is its own.
    const sub = "agent-1";
    const bearer = async () => token({ sub, now: clock.seconds() });
    expectAllowed(await send(app, ISSUE, { bearer: await bearer() }));

    const agent = AGENTS.getByName(agentKey({ issuer: "remote", sub }));
    await agent.revokeAll(clock.ms(), "kill-switch.test");
    // Within the remembered time this isolate may still say live; past it, never.
    clock.advance(KILL_SWITCH_TTL_MS);
    const refused = await send(app, ISSUE, { bearer: await bearer() });
    expectRefusal(refused, 403, "agent.revoked");
    expect(refused.upstream).toEqual([]);

    await agent.reinstate("kill-switch.test", clock.ms());
    clock.advance(KILL_SWITCH_TTL_MS);
    expectAllowed(await send(app, ISSUE, { bearer: await bearer() }));
  });
});
