/**
 * docs/walkthrough.md, run as written against the local gateway: the bundled worker in miniflare with
 * wrangler.toml's `dev` environment and the dev bundle (`firebreak build --dev`: the dev overlay, as
 * `npm start` builds it), the bindings `firebreak dev-keys` writes to .dev.vars, and the demo upstream
 * `npm start` runs (demo/src/index.ts) served on a free port.
 *
 * Every shell block of the page runs in order in bash, exports carried from block to block, with its
 * text unchanged but for one thing: `/tmp/` files go to this test's own directory. The rest is the
 * environment the blocks run in:
 * - curl reaches the gateway and the demo at the host and port the page uses (127.0.0.1:8787, :8788): a
 *   `.curlrc` (CURL_HOME) maps them with `connect-to` to where they really listen, so the gateway sees the
 *   Host and Origin a user's curl sends (and a running `npm start` is not disturbed);
 * - `npx firebreak` is bin/firebreak.mjs (a shell function), run in this test's directory (its own .dev/
 *   keys; `policies` links to the repository's), FIREBREAK_GATEWAY pointing the CLI at the gateway;
 * - the gateway's outbound fetches to the demo's origin (services, the approval webhook) go to the demo;
 *   any other is unmocked egress and fails the test.
 * The output block right after a shell block is what the block must print: `...` (or `…`) stands for any
 * text, ids, tokens, times and bundle revisions for any of their kind, and a line break with indentation
 * for any white space (the page wraps long JSON lines). For `curl -i` output the status code and the
 * headers shown must be among those received. Claims the prose makes (nothing forwarded, a budget that
 * holds, token lifetimes, the approval notification) are checked after their block (AFTER). Blocks that
 * cannot run here are in ELSEWHERE, with the reason and the test that runs them instead.
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Request as MfRequest, Response as MfResponse } from "miniflare";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import demo from "../../demo/src/index";
import { type Served, serve } from "../helpers/http-server";
import { type Gateway, ROOT, startGateway } from "./helpers/gateway";

const DOC = readFileSync(join(ROOT, "docs", "walkthrough.md"), "utf8");
const README = readFileSync(join(ROOT, "README.md"), "utf8");
const DEMO = "http://127.0.0.1:8788";
const CLI = join(ROOT, "bin", "firebreak.mjs");

interface Block {
  lang: string;
  text: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** 1-based line of the closing fence. */
  end: number;
  /** The heading it is under. */
  section: string;
}

/** The fenced blocks of a markdown text, dedented by their fence's indentation (blocks in list items). */
function fencedBlocks(markdown: string): Block[] {
  const lines = markdown.split("\n");
  const blocks: Block[] = [];
  let section = "";
  for (let i = 0; i < lines.length; i++) {
    const heading = /^#+ (.*)$/.exec(lines[i]!);
    if (heading) section = heading[1]!;
    const open = /^( *)```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^ *```\s*$/.test(lines[j]!); j++) body.push(lines[j]!.slice(indent));
    blocks.push({ lang: open[2]!, text: body.join("\n"), line: i + 1, end: j + 1, section });
    i = j;
  }
  return blocks;
}

interface Step {
  block: Block;
  /** The output block right after it (nothing but blank lines between), if any. */
  expected: Block | undefined;
}

const blocks = fencedBlocks(DOC);
const docLines = DOC.split("\n");
const steps: Step[] = blocks.flatMap((block, i) => {
  if (block.lang !== "sh") return [];
  const next = blocks[i + 1];
  const adjacent = next !== undefined && docLines.slice(block.end, next.line - 1).every((l) => l.trim() === "");
  return [{ block, expected: adjacent && next.lang === "" ? next : undefined }];
});
const firstLine = (b: Block) => b.text.split("\n")[0]!;
/** The steps whose block has `line` as one of its lines: how ELSEWHERE, BEFORE and AFTER name a step. */
const stepsWith = (line: string) => steps.filter((s) => s.block.text.split("\n").includes(line));
/** The one output block that is not a command's: the `npm start` terminal's decision line. */
const TERMINAL = '[gateway] {"event":"firebreak.decision"';

/**
 * Blocks that do not run here, by a line of theirs: why, and what runs them instead. Each is checked to
 * be there: the file named must hold the text that shows it runs them.
 */
const ELSEWHERE: Record<string, { why: string; file: string; holds: string }> = {
  "npm install": {
    why: "npm start itself: this test starts what it starts (dev keys, the dev build, the demo, the gateway)",
    file: "test/e2e/dev-loop.test.ts",
    holds: '["scripts/start.mjs"]',
  },
  "# every decision, one JSON object per line": {
    why: "wrangler tail and Logpush need a deployed worker: the log recipes run on real decision lines",
    file: "test/e2e/log-recipes.test.ts",
    holds: 'join(ROOT, "docs", "walkthrough.md")',
  },
  "npx firebreak build --dev --sign --key .dev/bundle-signing-key.json   # build/bundle.signed.json": {
    why: "push writes the local KV that wrangler dev reads (.wrangler/state); this test's gateway keeps its own",
    file: "test/e2e/dev-loop.test.ts",
    holds: '"push", "--dev", "--local"',
  },
  "export CLOUDFLARE_ACCOUNT_ID=<your account id>": {
    why: "the Analytics Engine SQL API needs a Cloudflare account: the CLI runs on a fake one",
    file: "test/e2e/decisions-cli.test.ts",
    holds: "CLOUDFLARE_ACCOUNT_ID",
  },
  "npx firebreak catalog import github    # regenerate from a newer spec: prints new / removed / changed": {
    why: "import rewrites policies/services/github.yaml: CI checks the catalogs are what the import gives",
    file: ".ci/run",
    holds: "catalog import --check github",
  },
};

const ID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
/** Values that differ on every run, as the page writes them, and what they match. */
const VARIABLE: [RegExp, string][] = [
  [new RegExp(ID, "g"), ID],
  [/\b[0-9a-f]{8}-\.\.\./g, ID],
  [/\bt_[0-9A-Z]{26}\b/g, "t_[0-9A-Z]{26}"],
  [/\bap_[0-9A-Z]+(?:\.\.\.)?/g, "ap_[0-9A-Z]+"],
  [/\beyJ[A-Za-z0-9_-]*(?:\.\.\.)?/g, "eyJ[A-Za-z0-9_.-]+"],
  [/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z/g, "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(?:\\.\\d+)?Z"],
  [/"\d{10}\.\d{6}"/g, '"\\d+\\.\\d+"'],
  [/\bbundle [0-9a-f]{12}\b/g, "bundle [0-9a-f]{12}"],
  [/\b[0-9a-f]{12}\.\.\./g, "[0-9a-f]{12,}"],
];

/** The page's example output as a pattern (see the top of this file). */
function pattern(example: string): RegExp {
  const holes: string[] = [];
  let text = example;
  for (const [find, replace] of VARIABLE) {
    text = text.replace(find, () => `\u0000${holes.push(replace) - 1}\u0000`);
  }
  const source = text
    .split(/(\u0000\d+\u0000|\.\.\.|…|\n\s*)/)
    .map((part) => {
      const hole = /^\u0000(\d+)\u0000$/.exec(part);
      if (hole) return holes[Number(hole[1])]!;
      if (part === "..." || part === "…") return "[\\s\\S]*?";
      if (/^\n\s*$/.test(part)) return "\\s*";
      return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("");
  return new RegExp(`^\\s*${source}\\s*$`);
}

/**
 * `actual` against the page's example. For `curl -i` output: the status code (the reason phrase is the
 * server's: workerd sends none), each header shown, and the body.
 */
function expectLike(actual: string, example: string, where: string): void {
  if (!example.startsWith("HTTP/")) {
    expect(actual, where).toMatch(pattern(example));
    return;
  }
  const got = actual.replace(/\r\n/g, "\n");
  const [head = "", ...body] = example.split("\n\n");
  const [status = "", ...headers] = head.split("\n");
  const split = got.indexOf("\n\n");
  const [gotStatus = "", ...gotHeaders] = got.slice(0, split).split("\n");
  expect(gotStatus.split(" ").slice(0, 2), where).toEqual(status.split(" ").slice(0, 2));
  for (const header of headers) {
    const name = header.slice(0, header.indexOf(":")).toLowerCase();
    const line = gotHeaders.find((g) => g.toLowerCase().startsWith(`${name}:`));
    expect(line, `${where}: header ${name}`).toBeDefined();
    expect(`${name}${line!.slice(name.length)}`, where).toMatch(pattern(`${name}${header.slice(name.length)}`));
  }
  expect(got.slice(split + 2), where).toMatch(pattern(body.join("\n\n")));
}

let dir: string;
let envFile: string;
let demoServer: Served;
let demoEnv: Record<string, string> = {};
let gw: Gateway;
const unmocked: string[] = [];
/** stdout of each step that ran. */
const printed = new Map<Step, string>();

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one block's text in bash with the exports of the blocks before it (and keeps its own, if `save`). */
function runBlock(text: string, save = true): Promise<Ran> {
  const script = [
    'npx() { if [ "$1" = firebreak ]; then shift; "$FIREBREAK_NODE" "$FIREBREAK_CLI" "$@"; else echo "npx $1: not in this test" >&2; return 127; fi; }',
    `. "${envFile}"`,
    "set -eu",
    text.replaceAll("/tmp/", `${dir}/`),
    save ? `export -p > "${envFile}"` : "",
  ].join("\n");
  const env = {
    ...process.env,
    CURL_HOME: dir,
    NO_PROXY: "*",
    no_proxy: "*",
    FIREBREAK_NODE: process.execPath,
    FIREBREAK_CLI: CLI,
    FIREBREAK_GATEWAY: gw.url.origin,
    FIREBREAK_DEV: "",
    FIREBREAK_ADMIN_TOKEN: "",
    TSX_TSCONFIG_PATH: join(ROOT, "tsconfig.json"),
  };
  return new Promise((resolve) => {
    execFile("bash", ["-c", script], { cwd: dir, env, timeout: 50_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A variable the blocks exported so far. */
async function exported(name: string): Promise<string> {
  return (await runBlock(`printf %s "$${name}"`, false)).stdout;
}

interface Received {
  method: string;
  path: string;
  body: string | null;
}

/** What the demo upstream received, oldest first. */
async function received(): Promise<Received[]> {
  const res = await demo.fetch(new Request(`${DEMO}/_demo/requests`), demoEnv);
  return ((await res.json()) as { requests: Received[] }).requests.reverse();
}

const merges = async () => (await received()).filter((r) => r.method === "PUT" && r.path.endsWith("/pulls/1/merge"));
const jwtClaims = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString());
const near = (actual: number, expected: number, slack: number) => {
  expect(actual).toBeGreaterThanOrEqual(expected - slack);
  expect(actual).toBeLessThanOrEqual(expected + slack);
};

/** Claims the prose makes about a step, checked after it ran: by a line of its block. */
const AFTER: Record<string, (ran: Ran) => Promise<void> | void> = {
  // "a short-lived task token": the triage profile's ttl (600 s); the task's deadline its max_lifetime (1 h).
  'curl -s -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\': ({ stdout }) => {
    const started = JSON.parse(stdout) as { task_token: string; expires_at: string; deadline: string };
    const claims = jwtClaims(started.task_token);
    expect(claims.exp * 1000).toBe(Date.parse(started.expires_at));
    near(Date.parse(started.expires_at) - Date.now(), 600_000, 5_000);
    near(Date.parse(started.deadline) - Date.now(), 3_600_000, 5_000);
  },
  // "Nothing was forwarded."
  'curl -i -X PUT -H "Authorization: Bearer $TASK" http://127.0.0.1:8787/github/repos/acme/api/pulls/1/merge':
    async () => {
      expect(await merges()).toEqual([]);
    },
  // "the second one is refused, and nothing reaches Slack": two posts in all.
  "for i in 1 2; do": async () => {
    const posts = (await received()).filter((r) => r.path === "/slack/api/chat.postMessage");
    expect(posts).toHaveLength(2);
  },
  // "the deadline never moves"; the fresh token lives the ttl again.
  'curl -s -X POST -H "Authorization: Bearer $TASK" -H "Firebreak-Agent-Token: $TOKEN" http://127.0.0.1:8787/_firebreak/v1/tasks/$TASK_ID/renew':
    async ({ stdout }) => {
      const renewed = JSON.parse(stdout) as {
        task_id: string;
        task_token: string;
        expires_at: string;
        deadline: string;
      };
      const before = jwtClaims(await exported("TASK"));
      const after = jwtClaims(renewed.task_token);
      expect(renewed.task_id).toBe(await exported("TASK_ID"));
      expect(after.task_id).toBe(before.task_id);
      expect(after.jti).not.toBe(before.jti);
      expect(after.exp).toBeGreaterThanOrEqual(before.exp);
      near(Date.parse(renewed.expires_at) - Date.now(), 600_000, 5_000);
      const inspected = JSON.parse(printed.get(stepsWith(INSPECT)[0]!)!) as { task: { deadline: number } };
      expect(Date.parse(renewed.deadline)).toBe(inspected.task.deadline);
    },
  // "Nothing was forwarded. ... expires in 15 minutes ... the message is in `curl -s .../_demo/requests?limit=1`"
  "export RELEASE_TOKEN=$(npx firebreak token --agent release-bot)": async ({ stdout }) => {
    const answer = JSON.parse(stdout) as { approval: { id: string; expires_at: string } };
    near(Date.parse(answer.approval.expires_at) - Date.now(), 15 * 60_000, 5_000);
    expect(await merges()).toEqual([]);
    const told = /`(curl -s http:\/\/127\.0\.0\.1:8788\/_demo\/requests\?limit=1)`/.exec(DOC);
    expect(told, "the page says where the approvers' message is").not.toBeNull();
    // The approvers are told in the background, after the agent's answer: wait for the post to land.
    await vi.waitFor(
      async () => {
        const ran = await runBlock(told![1]!, false);
        const { requests } = JSON.parse(ran.stdout) as { requests: Received[] };
        expect(requests).toHaveLength(1);
        expect(requests[0]).toMatchObject({ method: "POST", path: "/_demo/webhook" });
        expect(requests[0]!.body).toContain(answer.approval.id);
      },
      { timeout: 10_000, interval: 200 },
    );
  },
  // "it is admitted once": one merge reached GitHub. "The task's log has the request, who approved it
  // and when, the notification, and the one call it admitted."
  '  -H "Firebreak-Approval: $APPROVAL" -d \'{"merge_method": "squash"}\' \\': async () => {
    expect(await merges()).toHaveLength(1);
    const task = await exported("RELEASE_TASK");
    const res = await fetch(new URL(`/_firebreak/v1/tasks/${jwtClaims(task).task_id}?limit=100`, gw.url), {
      headers: { authorization: `Bearer ${task}` },
    });
    const { steps } = (await res.json()) as { steps: Record<string, unknown>[] };
    const kinds = steps.map((e) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(["approval", "notify", "approve"]));
    expect(steps.find((e) => e.kind === "approve")).toMatchObject({ by: expect.stringContaining("alice") });
    const admitted = steps.filter(
      (e) => e.kind === "call" && e.action === "github:pulls.merge" && e.outcome === "reserved",
    );
    expect(admitted).toHaveLength(1);
    expect(admitted[0]).toMatchObject({ status: 200 });
  },
  // compile and test report on stderr: the example policies build and their tests pass.
  "npx firebreak compile            # validate; every mistake is reported as file:line with what to change": ({
    stderr,
  }) => {
    expect(stderr).toMatch(/^bundle [0-9a-f]{12}: \d+ services, .* -> build\/bundle\.json$/m);
    expect(stderr).toMatch(/^policy tests: [1-9]\d* passed, 0 failed$/m);
  },
  // The dashboard page itself, as served to an operator.
  'curl -s -o /tmp/firebreak-dashboard.html -w "%{http_code}\\n" -H "Cf-Access-Jwt-Assertion: $FIREBREAK_ADMIN_TOKEN" \\':
    () => {
      const page = readFileSync(join(dir, "firebreak-dashboard.html"), "utf8");
      expect(page).toMatch(/^<!doctype html>/i);
      expect(page).toContain("release-bot");
    },
};
const INSPECT = 'curl -s -H "Authorization: Bearer $TASK" "http://127.0.0.1:8787/_firebreak/v1/tasks/$TASK_ID?limit=3"';

/** Before a step: `decisions --local` reads a store written after each answer (waitUntil). */
const BEFORE: Record<string, () => Promise<void>> = {
  "npx firebreak decisions --local": async () => {
    const db = (await gw.mf.getD1Database("DECISIONS_LOCAL")) as unknown as D1Database;
    const rows = async () =>
      (
        await db
          .prepare("SELECT count(*) AS n FROM firebreak_decisions")
          .first<{ n: number }>()
          .catch(() => null)
      )?.n ?? 0;
    const deadline = Date.now() + 10_000;
    while ((await rows()) < gw.decisions.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await rows()).toBe(gw.decisions.length);
  },
};

function devVars(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) vars[m[1]!] = m[2]!.replace(/^'(.*)'$/, "$1");
  }
  return vars;
}

beforeAll(async () => {
  for (const tool of ["bash", "curl", "jq"]) {
    expect(spawnSync("sh", ["-c", `command -v ${tool}`]).status, `${tool} is needed (README, "npm test")`).toBe(0);
  }
  dir = mkdtempSync(join(tmpdir(), "firebreak-walkthrough-"));
  envFile = join(dir, "exports.sh");
  writeFileSync(envFile, "");
  symlinkSync(join(ROOT, "policies"), join(dir, "policies"));
  // What npm start does first: the dev keys and .dev.vars, then the build step with the dev overlay.
  const keys = spawnSync(process.execPath, [CLI, "dev-keys"], { cwd: dir, encoding: "utf8" });
  expect(keys.status, keys.stderr).toBe(0);
  const bundlePath = join(dir, "bundle.json");
  const built = spawnSync(process.execPath, [CLI, "build", "--dev", "--out", bundlePath], {
    cwd: ROOT,
    encoding: "utf8",
  });
  expect(built.status, built.stderr).toBe(0);

  // The demo reads its own .dev.vars as `wrangler dev -c demo/wrangler.toml` would: the dev App's key.
  demoEnv = devVars(readFileSync(join(dir, "demo", ".dev.vars"), "utf8"));
  demoServer = await serve((request) => demo.fetch(request, demoEnv));
  gw = await startGateway({
    env: "dev",
    bundlePath,
    bindings: devVars(readFileSync(join(dir, ".dev.vars"), "utf8")),
    outbound: async (request: MfRequest) => {
      const url = new URL(request.url);
      if (url.origin !== DEMO) {
        unmocked.push(`${request.method} ${url.origin}${url.pathname}`);
        return new Response("unmocked egress: tests never reach the internet", {
          status: 599,
        }) as unknown as MfResponse;
      }
      const body = request.method === "GET" || request.method === "HEAD" ? undefined : await request.arrayBuffer();
      const headers = new Headers([...request.headers]);
      const forwarded = new Request(url, { method: request.method, headers, body });
      return (await demo.fetch(forwarded, demoEnv)) as unknown as MfResponse;
    },
  });
  writeFileSync(
    join(dir, ".curlrc"),
    [
      `connect-to = "127.0.0.1:8787:127.0.0.1:${gw.url.port}"`,
      `connect-to = "127.0.0.1:8788:127.0.0.1:${demoServer.url.port}"`,
      "",
    ].join("\n"),
  );
}, 180_000);

afterAll(async () => {
  await gw?.dispose();
  await demoServer?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the page", () => {
  it("checks every claim it names (so an edited page cannot drop a checked step silently)", () => {
    for (const key of [...Object.keys(AFTER), ...Object.keys(BEFORE), ...Object.keys(ELSEWHERE)]) {
      expect(stepsWith(key), key).toHaveLength(1);
    }
  });

  it("shows no output that no command printed (every output block follows a shell block)", () => {
    const paired = new Set(steps.map((s) => s.expected));
    const loose = blocks.filter((b) => b.lang === "" && !paired.has(b) && !firstLine(b).startsWith(TERMINAL));
    expect(loose.map((b) => `docs/walkthrough.md:${b.line}`)).toEqual([]);
  });

  it("starts with the README's quick start, verbatim", () => {
    const readme = fencedBlocks(README).filter(
      (b) => b.lang === "sh" && (b.section === "Quick start" || b.section === "Task tokens"),
    );
    expect(readme.length).toBeGreaterThanOrEqual(4);
    for (const b of readme) expect(DOC, `README.md:${b.line}`).toContain(b.text);
  });
});

describe("docs/walkthrough.md, run as written", () => {
  const hook = <T>(table: Record<string, T>, step: Step): T | undefined =>
    Object.entries(table).find(([line]) => stepsWith(line).includes(step))?.[1];
  for (const step of steps) {
    const name = `${step.block.section} (docs/walkthrough.md:${step.block.line}): ${firstLine(step.block).slice(0, 60)}`;
    const elsewhere = hook(ELSEWHERE, step);
    if (elsewhere) {
      it(`${name} [run by ${elsewhere.file}: ${elsewhere.why}]`, () => {
        expect(readFileSync(join(ROOT, elsewhere.file), "utf8")).toContain(elsewhere.holds);
      });
      continue;
    }
    it(name, async () => {
      await hook(BEFORE, step)?.();
      const ran = await runBlock(step.block.text);
      printed.set(step, ran.stdout);
      expect(ran.code, `${name}\n${ran.stderr}`).toBe(0);
      if (step.expected) expectLike(ran.stdout, step.expected.text, `docs/walkthrough.md:${step.expected.line}`);
      await hook(AFTER, step)?.(ran);
    });
  }

  it("the gateway's decision line is as the page shows it, with no token or credential in any", async () => {
    const example = blocks.find((b) => b.lang === "" && firstLine(b).startsWith(TERMINAL))!;
    const line = pattern(example.text.slice("[gateway] ".length));
    expect(
      gw.decisions.filter((d) => line.test(JSON.stringify(d))),
      example.text,
    ).toHaveLength(1);
    const secrets = Object.entries(devVars(readFileSync(join(dir, ".dev.vars"), "utf8")));
    const names = ["TOKEN", "TASK", "RELEASE_TOKEN", "RELEASE_TASK", "ALICE", "FIREBREAK_ADMIN_TOKEN"];
    const tokens = await Promise.all(names.map(async (name) => [name, await exported(name)] as const));
    const logged = JSON.stringify(gw.decisions);
    for (const [name, value] of [...secrets, ...tokens]) {
      expect(value.length, name).toBeGreaterThan(10);
      expect(logged, name).not.toContain(value);
    }
  });

  it("sent nothing anywhere but the demo upstream", () => {
    expect(unmocked).toEqual([]);
  });
});
