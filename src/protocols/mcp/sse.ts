/**
 * A bounded Server-Sent Events rewriter (the WHATWG event-stream format): each event's `data` is
 * handed to `rewrite` and sent on as it returns, every other line (`id:`, `event:`, `retry:`,
 * comments) as it came, line ends normalised to LF. Events of a type other than `message`, and
 * events without data (the SDK's priming events), are not rewritten.
 *
 * Bounded: an event (or a line still without its end) longer than `maxEventBytes` characters, a body
 * that is not UTF-8, or a `rewrite` that refuses, ends the stream with one last event whose data is
 * `fallback(refusal)`, and the upstream body is cancelled. An event the upstream left unfinished when
 * its body ended is dropped, as an EventSource would drop it. Pure: no I/O but the body it is handed.
 */
import { type Refusal, type Result, refuse } from "../../core/result";

export interface SseRewrite {
  rewrite: (data: string) => Result<{ text: string }>;
  fallback: (refusal: Refusal) => string;
  /** Largest event, in characters (default 1 MiB). */
  maxEventBytes?: number;
}

const LINE_END = /\r\n|\r|\n/;

/** The stream's text so far, cut into events as their lines complete. */
class EventBuffer {
  private buffer = "";
  private event: string[] = [];
  private size = 0;
  private scanned = 0;
  private readonly lineEnd = /\r\n|\r|\n/g;

  constructor(
    private readonly max: number,
    private readonly rewrite: SseRewrite["rewrite"],
  ) {}

  add(text: string, done: boolean): void {
    this.buffer += text;
    // At the end, a last CR is a line end of its own.
    if (done && this.buffer.endsWith("\r")) this.buffer += "\n";
  }

  /** Complete lines into events: the text ready to send, and a refusal that ends the stream. */
  drain(): { out: string; refusal: Refusal | null } {
    let out = "";
    for (;;) {
      // Searched from where the last search stopped: a long line arriving in many chunks is read once.
      this.lineEnd.lastIndex = this.scanned;
      const m = this.lineEnd.exec(this.buffer);
      // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
      if (m === null || (m[0] === "\r" && m.index === this.buffer.length - 1)) {
        this.scanned = Math.max(0, this.buffer.length - 1);
        break;
      }
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      this.scanned = 0;
      if (line !== "") {
        this.event.push(line);
        this.size += line.length + 1;
        if (this.size > this.max) return { out, refusal: this.tooLong() };
        continue;
      }
      if (this.event.length > 0) {
        const sent = dispatch(this.event, this.rewrite);
        if (!sent.ok) return { out, refusal: sent };
        out += sent.text;
      }
      this.event = [];
      this.size = 0;
    }
    return { out, refusal: this.buffer.length + this.size > this.max ? this.tooLong() : null };
  }

  private tooLong(): Refusal {
    return { ok: false, reason: "mcp.response_invalid", detail: `an SSE event over ${this.max} characters` };
  }
}

export function rewriteSse(body: ReadableStream<Uint8Array>, opts: SseRewrite): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
  const encoder = new TextEncoder();
  const events = new EventBuffer(opts.maxEventBytes ?? 1024 * 1024, opts.rewrite);
  let finished = false;

  async function end(controller: ReadableStreamDefaultController<Uint8Array>, refusal: Refusal) {
    finished = true;
    controller.enqueue(encoder.encode(`${dataLines(opts.fallback(refusal))}\n\n`));
    controller.close();
    await reader.cancel().catch(() => {});
  }

  return new ReadableStream<Uint8Array>({
    // Reads until there is something to send: a pull that enqueues nothing is not called again.
    async pull(controller) {
      while (!finished) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
          events.add(chunk.done ? decoder.decode() : decoder.decode(chunk.value, { stream: true }), chunk.done);
        } catch {
          return end(controller, refuse("mcp.response_invalid", "the SSE body is not UTF-8 or broke off"));
        }
        const { out, refusal } = events.drain();
        if (out !== "") controller.enqueue(encoder.encode(out));
        if (refusal) return end(controller, refusal);
        if (chunk.done) {
          finished = true;
          controller.close();
        }
        if (out !== "") return;
      }
    },
    async cancel(reason) {
      finished = true;
      await reader.cancel(reason);
    },
  });
}

/** One event's lines, its data rewritten when it is a `message` event with data. */
function dispatch(lines: string[], rewrite: SseRewrite["rewrite"]): Result<{ text: string }> {
  const data: string[] = [];
  let type = "message";
  for (const line of lines) {
    const { field, value } = fieldOf(line);
    if (field === "data") data.push(value);
    else if (field === "event") type = value;
  }
  if (type !== "message" || data.length === 0 || data.join("\n") === "") {
    return { ok: true, text: `${lines.join("\n")}\n\n` };
  }
  const rewritten = rewrite(data.join("\n"));
  if (!rewritten.ok) return rewritten;
  const out: string[] = [];
  let placed = false;
  for (const line of lines) {
    if (fieldOf(line).field !== "data") out.push(line);
    else if (!placed) {
      out.push(dataLines(rewritten.text));
      placed = true;
    }
  }
  return { ok: true, text: `${out.join("\n")}\n\n` };
}

/** `field: value` (one space after the colon dropped), `field` alone, or a comment (field ""). */
function fieldOf(line: string): { field: string; value: string } {
  if (line.startsWith(":")) return { field: "", value: line };
  const colon = line.indexOf(":");
  if (colon === -1) return { field: line, value: "" };
  const value = line.slice(colon + 1);
  return { field: line.slice(0, colon), value: value.startsWith(" ") ? value.slice(1) : value };
}

const dataLines = (text: string) =>
  text
    .split(LINE_END)
    .map((l) => `data: ${l}`)
    .join("\n");
