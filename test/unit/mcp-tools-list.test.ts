/**
 * tools/list answers filtered to what the task may call, as JSON and as an SSE stream: tools the
 * predicate refuses and tools the catalog does not know are dropped; every other message and event
 * passes as it came; what cannot be read is replaced by the fallback, never passed on unfiltered; the
 * SSE reader stays bounded and streams event by event.
 */
import { describe, expect, it } from "vitest";
import type { Refusal } from "../../src/core/result";
import { refuse } from "../../src/core/result";
import { rewriteSse } from "../../src/protocols/mcp/sse";
import { filterToolsList, filterToolsListResponse, type ToolsListFilter } from "../../src/protocols/mcp/tools-list";

const TOOLS = { "customers.lookup": 0, "email.send": 1, "email.draft": 2 };
/** The task may call actions 0 and 2. */
const allowed = (a: number) => a === 0 || a === 2;
const tool = (name: unknown) => ({ name, description: `the ${String(name)} tool`, inputSchema: { type: "object" } });
const listAnswer = (names: unknown[], extra: Record<string, unknown> = {}) =>
  JSON.stringify({ jsonrpc: "2.0", id: 2, result: { tools: names.map(tool), ...extra } });
const namesIn = (text: string) => (JSON.parse(text).result.tools as { name: string }[]).map((t) => t.name);

describe("filterToolsList", () => {
  it("drops the tools the task may not call and the tools the catalog does not know", () => {
    const r = filterToolsList(
      listAnswer(["customers.lookup", "email.send", "email.draft", "shell.exec"]),
      TOOLS,
      allowed,
    );
    expect(r.ok && namesIn(r.text)).toEqual(["customers.lookup", "email.draft"]);
    expect(r.ok && r.dropped).toEqual(["email.send", "shell.exec"]);
  });

  it("keeps everything else of the answer (cursor, _meta, tool fields)", () => {
    const r = filterToolsList(
      listAnswer(["customers.lookup", "email.send"], { nextCursor: "c2", _meta: { a: 1 } }),
      TOOLS,
      allowed,
    );
    const out = r.ok ? JSON.parse(r.text) : null;
    expect(out).toEqual({
      jsonrpc: "2.0",
      id: 2,
      result: { tools: [tool("customers.lookup")], nextCursor: "c2", _meta: { a: 1 } },
    });
  });

  it("drops tools without a string name, and names that are prototype keys", () => {
    const r = filterToolsList(listAnswer([7, null, "constructor", "__proto__", "customers.lookup"]), TOOLS, () => true);
    expect(r.ok && namesIn(r.text)).toEqual(["customers.lookup"]);
  });

  it("passes a message that is not a tool list as it came", () => {
    for (const text of [
      JSON.stringify({ jsonrpc: "2.0", id: 2, error: { code: -32601, message: "no" } }),
      JSON.stringify({ jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: "x" } }),
      JSON.stringify({ jsonrpc: "2.0", id: 2, result: { tools: "not a list" } }),
    ]) {
      expect(filterToolsList(text, TOOLS, allowed)).toEqual({ ok: true, text, dropped: [] });
    }
  });

  it("returns the text unchanged when nothing is dropped", () => {
    const text = listAnswer(["customers.lookup"]);
    expect(filterToolsList(text, TOOLS, allowed)).toEqual({ ok: true, text, dropped: [] });
  });

  it("refuses what cannot be read with certainty: not JSON, duplicate keys", () => {
    expect(filterToolsList("{", TOOLS, allowed)).toMatchObject({ ok: false, reason: "mcp.response_invalid" });
    const twice = `{"jsonrpc":"2.0","id":2,"result":{"tools":[${JSON.stringify(tool("email.send"))}]},"result":{"tools":[]}}`;
    expect(filterToolsList(twice, TOOLS, allowed)).toMatchObject({ ok: false, reason: "mcp.response_invalid" });
  });
});

const encoder = new TextEncoder();
/** A body that yields the chunks one by one, and records whether it was cancelled. */
function body(chunks: (string | Uint8Array)[]) {
  const state = { cancelled: false, pulled: 0 };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks[state.pulled++];
      if (next === undefined) controller.close();
      else controller.enqueue(typeof next === "string" ? encoder.encode(next) : next);
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}
const fallback = (r: Refusal) => JSON.stringify({ jsonrpc: "2.0", id: 2, error: { code: -31502, message: r.reason } });
const filter = (extra: Partial<ToolsListFilter> = {}): ToolsListFilter => ({
  tools: TOOLS,
  allowed,
  fallback,
  ...extra,
});
const events = (text: string) => text.split("\n\n").filter((e) => e !== "");
const dataOf = (event: string) =>
  event
    .split("\n")
    .filter((l) => l.startsWith("data:"))
    .map((l) => l.replace(/^data: ?/, ""))
    .join("\n");

describe("filterToolsListResponse: SSE", () => {
  const sse = (chunks: string[], headers: Record<string, string> = {}) =>
    new Response(body(chunks).stream, {
      headers: { "content-type": "text/event-stream", "content-length": "999", ...headers },
    });

  it("rewrites the answer's event and passes the others, ids and priming events kept", async () => {
    const notice = JSON.stringify({ jsonrpc: "2.0", method: "notifications/progress", params: { progress: 1 } });
    const res = await filterToolsListResponse(
      sse([
        "id: e0\ndata: \n\n",
        `: keep-alive\nid: e1\ndata: ${notice}\n\n`,
        `id: e2\nevent: message\ndata: ${listAnswer(["customers.lookup", "email.send"])}\n\n`,
      ]),
      filter(),
    );
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    expect(res.headers.get("content-length")).toBeNull();
    const out = events(await res.text());
    expect(out[0]).toBe("id: e0\ndata: ");
    expect(out[1]).toBe(`: keep-alive\nid: e1\ndata: ${notice}`);
    expect(out[2]?.startsWith("id: e2\nevent: message\ndata: ")).toBe(true);
    expect(namesIn(dataOf(out[2] as string))).toEqual(["customers.lookup"]);
  });

  it("reads events split across chunks anywhere, CRLF and CR line ends, multi-line data", async () => {
    const answer = listAnswer(["email.send", "customers.lookup"]);
    const at = answer.indexOf('"id"'); // a token boundary: the two data lines join to JSON again
    const text = `id: 1\r\ndata: ${answer.slice(0, at)}\r\ndata: ${answer.slice(at)}\r\n\r\nid: 2\rdata: {"jsonrpc":"2.0","method":"x"}\r\r`;
    // Every split point, including between the CR and the LF of a CRLF.
    for (let cut = 1; cut < text.length; cut += 7) {
      const res = await filterToolsListResponse(sse([text.slice(0, cut), text.slice(cut)]), filter());
      const out = events(await res.text());
      expect(out).toHaveLength(2);
      expect(namesIn(dataOf(out[0] as string))).toEqual(["customers.lookup"]);
      expect(out[1]).toBe('id: 2\ndata: {"jsonrpc":"2.0","method":"x"}');
    }
  });

  it("leaves events of other types alone", async () => {
    const raw = `event: other\ndata: ${listAnswer(["email.send"])}\n\n`;
    const res = await filterToolsListResponse(sse([raw]), filter());
    expect(await res.text()).toBe(raw);
  });

  it("drops an event left unfinished at the end of the body", async () => {
    const res = await filterToolsListResponse(sse([`data: ${listAnswer(["email.send"])}`]), filter());
    expect(await res.text()).toBe("");
  });

  it("ends with the fallback when an event is over the bound, and cancels the upstream", async () => {
    const b = body([`data: ${"x".repeat(600)}`, "x".repeat(600), "\n\n", "data: never\n\n"]);
    const res = await filterToolsListResponse(
      new Response(b.stream, { headers: { "content-type": "text/event-stream" } }),
      filter({ maxBytes: 1000 }),
    );
    const out = events(await res.text());
    expect(out).toEqual([`data: ${fallback(refuse("mcp.response_invalid"))}`]);
    expect(b.state.cancelled).toBe(true);
  });

  it("ends with the fallback when an event's data is not JSON, after the events before it", async () => {
    const res = await filterToolsListResponse(
      sse(['data: {"jsonrpc":"2.0","method":"x"}\n\ndata: {oops\n\n']),
      filter(),
    );
    const out = events(await res.text());
    expect(out).toHaveLength(2);
    expect(JSON.parse(dataOf(out[1] as string)).error.message).toBe("mcp.response_invalid");
  });

  it("ends with the fallback on a body that is not UTF-8", async () => {
    const b = body([new Uint8Array([0x64, 0x61, 0x74, 0x61, 0x3a, 0x20, 0xff, 0x0a, 0x0a])]);
    const res = await filterToolsListResponse(
      new Response(b.stream, { headers: { "content-type": "text/event-stream" } }),
      filter(),
    );
    expect(JSON.parse(dataOf(events(await res.text())[0] as string)).error.message).toBe("mcp.response_invalid");
  });

  it("streams: the first event is out before the upstream sends the next", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const upstream = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode('data: {"jsonrpc":"2.0","method":"first"}\n\n'));
        await gate;
        controller.enqueue(encoder.encode(`data: ${listAnswer(["email.send"])}\n\n`));
        controller.close();
      },
    });
    const out = rewriteSse(upstream, { rewrite: (d) => filterToolsList(d, TOOLS, allowed), fallback }).getReader();
    const first = await out.read();
    expect(new TextDecoder().decode(first.value)).toContain('"first"');
    release();
    const second = await out.read();
    expect(namesIn(dataOf(new TextDecoder().decode(second.value)))).toEqual([]);
  });

  it("reports the tools dropped from each rewritten message", async () => {
    const dropped: string[][] = [];
    await (
      await filterToolsListResponse(
        sse([`data: ${listAnswer(["email.send", "x"])}\n\n`]),
        filter({ onDropped: (d) => dropped.push(d) }),
      )
    ).text();
    expect(dropped).toEqual([["email.send", "x"]]);
  });
});

describe("filterToolsListResponse: JSON and other answers", () => {
  const json = (text: string, status = 200) =>
    new Response(text, { status, headers: { "content-type": "application/json", "mcp-session-id": "s1" } });

  it("rewrites a JSON answer, headers kept but its length", async () => {
    const res = await filterToolsListResponse(json(listAnswer(["email.send", "email.draft"])), filter());
    expect(res.status).toBe(200);
    expect(res.headers.get("mcp-session-id")).toBe("s1");
    expect(namesIn(await res.text())).toEqual(["email.draft"]);
  });

  it("replaces a JSON answer over the bound, or not JSON, with the fallback", async () => {
    const big = await filterToolsListResponse(
      json(listAnswer(["email.draft"], { pad: "x".repeat(5000) })),
      filter({ maxBytes: 1000 }),
    );
    expect(JSON.parse(await big.text()).error.message).toBe("mcp.response_invalid");
    const bad = await filterToolsListResponse(json("{"), filter());
    expect(JSON.parse(await bad.text()).error.message).toBe("mcp.response_invalid");
  });

  it("returns error statuses, 202 and other types as they are", async () => {
    for (const res of [
      json(listAnswer(["email.send"]), 500),
      new Response(null, { status: 202 }),
      new Response(listAnswer(["email.send"]), { headers: { "content-type": "text/plain" } }),
    ]) {
      expect(await filterToolsListResponse(res, filter())).toBe(res);
    }
  });
});
