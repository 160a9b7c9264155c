/**
 * Firebreak's own API reads a request body only up to its bound: a declared Content-Length over it is
 * refused before any byte is read, and a body streamed without one is cut off (the stream cancelled)
 * as soon as it passes the bound. Nothing is started: the agent's live tasks are unchanged.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env";
import { agentKey } from "../../src/tasks/agent-object";
import { agentToken, BASE, bindings, gatewayApp, TASKS_PATH } from "./support";

const app = gatewayApp();
/** The agent agentToken() names: a start would hold a live slot in its object. */
const liveTasks = async () =>
  (await (env as unknown as Env).AGENTS!.getByName(agentKey({ issuer: "remote", sub: "agent-1" })).inspect(Date.now()))
    .live;
const MiB = 1024 * 1024;

/** A body of `total` bytes that says how much of it was pulled. */
function counted(total: number): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  let sent = 0;
  const chunk = new Uint8Array(64 * 1024).fill(0x20);
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      sent += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
  return { stream, pulled: () => sent };
}

async function post(body: BodyInit, headers: Record<string, string> = {}) {
  const init = {
    method: "POST",
    body,
    duplex: "half",
    headers: { authorization: `Bearer ${await agentToken()}`, ...headers },
  };
  const res = await app.fetch(new Request(`${BASE}${TASKS_PATH}`, init as RequestInit), bindings as never);
  return { res, json: (await res.json()) as Record<string, unknown> };
}

describe("API request bodies", () => {
  it("refuses a declared Content-Length over the bound before reading the body", async () => {
    const body = counted(80 * MiB);
    const { res, json } = await post(body.stream, {
      "content-type": "application/json",
      "content-length": String(80 * MiB),
    });
    expect([res.status, json.reason]).toEqual([413, "request.body_too_large"]);
    expect(body.pulled()).toBeLessThanOrEqual(64 * 1024);
    expect(await liveTasks()).toEqual([]);
  });

  it("stops reading a streamed body without a length as soon as it passes the bound", async () => {
    const body = counted(80 * MiB);
    const { res, json } = await post(body.stream, { "content-type": "application/json" });
    expect([res.status, json.reason]).toEqual([413, "request.body_too_large"]);
    expect(body.pulled()).toBeLessThan(MiB);
    expect(await liveTasks()).toEqual([]);
  });
});
