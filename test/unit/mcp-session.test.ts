/**
 * MCP sessions bound to the task, statelessly: the gateway's session id opens back to the upstream's
 * for the task and service that opened it, and for nobody else; a rotation keeps old sessions valid;
 * malformed, altered and raw upstream ids fail with `mcp.session_mismatch`.
 */
import { describe, expect, it } from "vitest";
import { bindSessionId, checkSessionId, sessionKeys } from "../../src/protocols/mcp/session";

const SECRET = JSON.stringify({ kty: "OKP", crv: "Ed25519", d: "secret-a", x: "pub-a", kid: "k1" });
const OTHER = JSON.stringify({ kty: "OKP", crv: "Ed25519", d: "secret-b", x: "pub-b", kid: "k2" });
const UPSTREAM = "31e9a6cf-80f9-467b-92ab-d2b0617bf9ed";

async function issued(binding = "task-a", service = "crm", upstream = UPSTREAM, secret = SECRET) {
  const r = await bindSessionId(await sessionKeys(secret), service, binding, upstream);
  if (!r.ok) throw new Error(r.reason);
  return r.sessionId;
}
const reasonOf = (r: { ok: boolean; reason?: string }) => (r.ok ? "ok" : r.reason);

describe("MCP session binding", () => {
  it("hands out <upstream id>.<tag> and opens it back for the same task and service", async () => {
    const id = await issued();
    expect(id).toMatch(new RegExp(`^${UPSTREAM}\\.[A-Za-z0-9_-]{22}$`));
    expect(await checkSessionId(await sessionKeys(SECRET), "crm", "task-a", id)).toEqual({
      ok: true,
      upstreamId: UPSTREAM,
    });
  });

  it("is deterministic: the same upstream session gets the same id for its task (no state kept)", async () => {
    expect(await issued()).toBe(await issued());
  });

  it("refuses the session under another task, or for another service", async () => {
    const keys = await sessionKeys(SECRET);
    const id = await issued();
    expect(reasonOf(await checkSessionId(keys, "crm", "task-b", id))).toBe("mcp.session_mismatch");
    expect(reasonOf(await checkSessionId(keys, "crm2", "task-a", id))).toBe("mcp.session_mismatch");
  });

  it("refuses the upstream's raw id, an altered id or tag, and ids of the wrong shape", async () => {
    const keys = await sessionKeys(SECRET);
    const id = await issued();
    const tag = id.slice(id.lastIndexOf(".") + 1);
    const flipped = `${tag[0] === "A" ? "B" : "A"}${tag.slice(1)}`;
    for (const bad of [
      UPSTREAM,
      `${UPSTREAM}.${flipped}`,
      `${UPSTREAM.slice(1)}.${tag}`,
      `x${id}`,
      `${id}x`,
      `.${tag}`,
      `${UPSTREAM}.`,
      "",
      `${UPSTREAM} .${tag}`,
      `${"a".repeat(600)}.${tag}`,
    ]) {
      expect(reasonOf(await checkSessionId(keys, "crm", "task-a", bad)), bad).toBe("mcp.session_mismatch");
    }
  });

  it("does not confuse fields: (task, service) boundaries are part of what is signed", async () => {
    const keys = await sessionKeys(SECRET);
    const id = await issued("a", "bc");
    expect(reasonOf(await checkSessionId(keys, "b", "ac", id))).toBe("mcp.session_mismatch");
    expect(reasonOf(await checkSessionId(keys, "ab", "c", id))).toBe("mcp.session_mismatch");
  });

  it("keeps upstream ids that hold dots (the tag is after the last one)", async () => {
    const id = await issued("task-a", "crm", "v1.abc.def");
    expect(await checkSessionId(await sessionKeys(SECRET), "crm", "task-a", id)).toEqual({
      ok: true,
      upstreamId: "v1.abc.def",
    });
  });

  it("refuses an upstream id that is not visible ASCII as the upstream's fault", async () => {
    const keys = await sessionKeys(SECRET);
    for (const bad of ["", "has space", "tab\t", "é", "x".repeat(513)]) {
      expect(reasonOf(await bindSessionId(keys, "crm", "task-a", bad)), bad).toBe("mcp.response_invalid");
    }
  });

  it("survives a key rotation: ids issued under the previous key still open; new ones use the current", async () => {
    const old = await issued("task-a", "crm", UPSTREAM, OTHER);
    const rotated = await sessionKeys(SECRET, OTHER);
    expect(reasonOf(await checkSessionId(rotated, "crm", "task-a", old))).toBe("ok");
    expect(reasonOf(await checkSessionId(await sessionKeys(SECRET), "crm", "task-a", old))).toBe(
      "mcp.session_mismatch",
    );
    const fresh = await bindSessionId(rotated, "crm", "task-a", UPSTREAM);
    expect(fresh.ok && fresh.sessionId).toBe(await issued());
  });

  it("is keyed: another secret gives other ids", async () => {
    expect(await issued("task-a", "crm", UPSTREAM, OTHER)).not.toBe(await issued());
  });
});
