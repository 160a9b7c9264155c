/**
 * The gateway as it ships, run by miniflare in this Node process: src/index.ts bundled with esbuild, with
 * the policy bundle import (`../build/bundle.json`) pointed at a fixture bundle compiled by global setup,
 * and the worker options (compatibility date, bindings, Durable Objects, ...) that wrangler derives from
 * wrangler.toml. Every outbound fetch of the gateway goes to a Node function (`outboundService`), so no
 * test can reach the internet, and each decision's JSON log line is captured from workerd's stdout.
 */
import { connect } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { build } from "esbuild";
import { type Request as MfRequest, type Response as MfResponse, Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions, unstable_readConfig } from "wrangler";

export const ROOT = join(import.meta.dirname, "..", "..", "..");

export interface GatewayOptions {
  /** A compiled bundle (JSON file) to build the gateway with. */
  bundlePath: string;
  /** Worker bindings added to wrangler.toml's [vars] (service credentials, inline JWKS, ...). */
  bindings: Record<string, string>;
  /** Every outbound fetch of the gateway. */
  outbound: (request: MfRequest) => Promise<MfResponse> | MfResponse;
  /** A wrangler.toml environment (`dev`: what `npm start` runs, with the local decision store). */
  env?: string;
}

export interface Gateway {
  mf: Miniflare;
  url: URL;
  /** Decision records logged by the gateway (one JSON line each), oldest first. */
  decisions: Record<string, unknown>[];
  /** Waits until the record for `decisionId` has been logged (stdout is asynchronous). */
  decision(decisionId: string): Promise<Record<string, unknown>>;
  dispose(): Promise<void>;
}

/** Bundles src/index.ts with the bundle import redirected to `bundlePath`, in memory. */
export async function bundleGateway(bundlePath: string): Promise<string> {
  const result = await build({
    entryPoints: [join(ROOT, "src", "index.ts")],
    bundle: true,
    write: false,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser", "import"],
    mainFields: ["browser", "module", "main"],
    external: ["cloudflare:*", "node:*"],
    logLevel: "silent",
    plugins: [
      {
        name: "fixture-bundle",
        setup(b) {
          b.onResolve({ filter: /(^|\/)build\/bundle\.json$/ }, () => ({ path: bundlePath }));
        },
      },
    ],
  });
  return result.outputFiles[0]!.text;
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const script = await bundleGateway(opts.bundlePath);
  const configPath = join(ROOT, "wrangler.toml");
  // The worker options wrangler would use, minus anything .dev.vars adds: the test names every binding.
  const logLevel = process.env.WRANGLER_LOG;
  process.env.WRANGLER_LOG = "error"; // not "Using secrets defined in .dev.vars": they are not used
  let workerOptions: ReturnType<typeof unstable_getMiniflareWorkerOptions>["workerOptions"];
  let vars: Record<string, string>;
  try {
    workerOptions = unstable_getMiniflareWorkerOptions(configPath, opts.env).workerOptions;
    vars = (unstable_readConfig({ config: configPath, env: opts.env }).vars ?? {}) as Record<string, string>;
  } finally {
    if (logLevel === undefined) delete process.env.WRANGLER_LOG;
    else process.env.WRANGLER_LOG = logLevel;
  }
  const decisions: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  const collect = (stream: Readable) => {
    createInterface({ input: stream }).on("line", (line) => {
      const start = line.indexOf('{"event":"firebreak.decision"');
      if (start === -1) return;
      try {
        decisions.push(JSON.parse(line.slice(start)));
      } catch {
        return;
      }
      for (const wake of waiters) wake();
    });
  };
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    handleRuntimeStdio: (stdout, stderr) => {
      collect(stdout);
      collect(stderr);
    },
    workers: [
      {
        ...workerOptions,
        name: "firebreak",
        modules: true,
        script,
        bindings: { ...vars, ...opts.bindings },
        outboundService: opts.outbound,
      },
    ],
  });
  const url = await mf.ready;
  return {
    mf,
    url,
    decisions,
    async decision(decisionId) {
      const deadline = Date.now() + 5_000;
      for (;;) {
        const found = decisions.find((d) => d.decision_id === decisionId);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no decision record logged for ${decisionId}`);
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake);
            resolve();
          };
          waiters.add(wake);
          setTimeout(wake, 100);
        });
      }
    },
    dispose: () => mf.dispose(),
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends bytes exactly as given (no URL parsing, no header merging) and reads one response: what
 * `fetch`/`new Request()` would have normalised reaches the gateway as sent.
 */
export function rawHttp(url: URL, head: string[], body = ""): Promise<RawResponse> {
  const lines = [...head, `Host: ${url.host}`, "Connection: close"];
  if (body) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  const payload = `${lines.join("\r\n")}\r\n\r\n${body}`;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    let buffer = Buffer.alloc(0);
    let done = false;
    const finish = (err: Error | null, res?: RawResponse) => {
      if (done) return;
      done = true;
      socket.destroy();
      if (err) reject(err);
      else resolve(res!);
    };
    socket.setTimeout(10_000, () => finish(new Error("raw request timed out")));
    socket.on("connect", () => socket.write(payload));
    socket.on("error", (err) => finish(err));
    socket.on("data", (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      const res = parseResponse(buffer, false);
      if (res) finish(null, res);
    });
    socket.on("close", () => {
      const res = parseResponse(buffer, true);
      finish(res ? null : new Error(`no HTTP response: ${JSON.stringify(buffer.toString().slice(0, 200))}`), res!);
    });
  });
}

/** One complete HTTP/1.1 response in `buf` (Content-Length, chunked, or up to the close), or null. */
function parseResponse(buf: Buffer, closed: boolean): RawResponse | null {
  const split = buf.indexOf("\r\n\r\n");
  if (split === -1) return null;
  const [statusLine = "", ...headerLines] = buf.subarray(0, split).toString("latin1").split("\r\n");
  const status = Number(statusLine.split(" ")[1]);
  if (!Number.isInteger(status)) return null;
  const headers: Record<string, string> = {};
  for (const h of headerLines) {
    const colon = h.indexOf(":");
    if (colon > 0) headers[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim();
  }
  const rest = buf.subarray(split + 4);
  if (headers["transfer-encoding"]?.toLowerCase().includes("chunked")) {
    const parts: Buffer[] = [];
    let i = 0;
    for (;;) {
      const eol = rest.indexOf("\r\n", i);
      if (eol === -1) return null;
      const size = Number.parseInt(rest.subarray(i, eol).toString("latin1"), 16);
      if (Number.isNaN(size)) return null;
      if (size === 0) return { status, headers, body: Buffer.concat(parts).toString("utf8") };
      if (rest.length < eol + 2 + size + 2) return null;
      parts.push(rest.subarray(eol + 2, eol + 2 + size));
      i = eol + 2 + size + 2;
    }
  }
  if (headers["content-length"] !== undefined) {
    const length = Number(headers["content-length"]);
    if (rest.length < length) return null;
    return { status, headers, body: rest.subarray(0, length).toString("utf8") };
  }
  return closed || status === 204 || status === 304 ? { status, headers, body: rest.toString("utf8") } : null;
}
