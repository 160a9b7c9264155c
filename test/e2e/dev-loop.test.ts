/**
 * The dev loop never hangs (issue 11, "The people who use it"): `npm start` itself (scripts/start.mjs,
 * wrangler dev for the gateway and the demo upstream) in a temporary copy of the project, on free ports.
 * A policy edit that breaks the build (a failing policy test, then a YAML syntax error) is said in one
 * terminal line naming file:line, and the gateway goes on answering at once with the last good bundle's
 * decisions; the next good edit reloads and a changed decision shows. `firebreak compile` run beside it
 * changes nothing it serves. GitHub is a GitHub App there: the demo mints installation tokens for the
 * key `firebreak dev-keys` wrote to demo/.dev.vars.
 * A bundle signed with the dev signing key and pushed to the local KV (`firebreak push --dev --local`)
 * is then in force without a rebuild.
 *
 * Edits are plain file writes: wrangler's watch of policies/ (wrangler.toml `watch_dir`) picks them up.
 * Every request has a timeout, so a hang fails the test instead of stalling it; waiting is only ever for
 * a terminal line or a readiness poll.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compilePolicies } from "../../src/compiler/compile";
import { providerFor } from "../../src/credentials/providers";
import { systemClock } from "../../src/credentials/types";

const ROOT = join(import.meta.dirname, "..", "..");
const HOST = "127.0.0.1";
/** A request to a gateway that is up answers within this, even just after a failed rebuild. */
const ANSWER_MS = 3_000;
/** A request sent while a rebuild runs waits for it (about 2 s of compile and policy tests), no longer. */
const DURING_BUILD_MS = 20_000;
const BUILD_LINE_MS = 60_000;

let dir: string;
let gateway: string;
let start: ChildProcess;
let exited = false;
const lines: string[] = [];
const waiters = new Set<() => void>();
let task = "";
let good = ""; // the first good bundle's revision (12 characters)

const file = (path: string) => join(dir, "policies", path);
const original = (path: string) => readFileSync(join(ROOT, "policies", path), "utf8");
const tail = (n = 40) => lines.slice(-n).join("\n");

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The first terminal line from `from` on that matches, or a failure with the output so far. */
function line(pattern: RegExp, from: number, ms = BUILD_LINE_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const found = lines.slice(from).find((l) => pattern.test(l));
      if (found !== undefined || exited) {
        clearTimeout(timer);
        waiters.delete(check);
        if (found !== undefined) resolve(found);
        else reject(new Error(`npm start exited before ${pattern}:\n${tail()}`));
      }
    };
    const timer = setTimeout(() => {
      waiters.delete(check);
      reject(new Error(`no line ${pattern} within ${ms} ms:\n${tail()}`));
    }, ms);
    waiters.add(check);
    check();
  });
}

interface Answer {
  status: number;
  reason?: string;
  ms: number;
}

/** One call through the gateway with the task token, bounded by `ms`. */
async function call(path: string, method = "GET", ms = ANSWER_MS): Promise<Answer> {
  const t0 = performance.now();
  const res = await fetch(`${gateway}${path}`, {
    method,
    headers: { authorization: `Bearer ${task}` },
    signal: AbortSignal.timeout(ms),
  });
  const body = (await res.json().catch(() => ({}))) as { reason?: string };
  return { status: res.status, reason: body.reason, ms: performance.now() - t0 };
}

/**
 * A call sent while wrangler rebuilds: wrangler may close its connection when it reloads the worker
 * (undici's UND_ERR_SOCKET, no answer at all), which is wrangler's, not the gateway's; such a call is
 * sent once more. Any answer, and any other failure, is the result.
 */
async function callThroughReload(path: string, ms: number): Promise<Answer> {
  try {
    return await call(path, "GET", ms);
  } catch (e) {
    const code = (e as { cause?: { code?: string } } | undefined)?.cause?.code;
    if (code !== "UND_ERR_SOCKET") throw e;
    return call(path, "GET", ms);
  }
}

async function health(ms = ANSWER_MS): Promise<{ revision: string; dev: boolean }> {
  const res = await fetch(`${gateway}/_firebreak/v1/health`, { signal: AbortSignal.timeout(ms) });
  const { bundle } = (await res.json()) as { bundle: { revision: string; dev: boolean } };
  return { revision: bundle.revision.slice(0, 12), dev: bundle.dev };
}

/** The decisions this test watches: the good bundle's, unless `probe` says the edit that closes it is in. */
async function expectDecisions(probe: "open" | "closed") {
  expect(await call("/github/repos/acme/api/issues/1")).toMatchObject({ status: 200 });
  expect(await call("/github/repos/acme/api/pulls/1/merge", "PUT")).toMatchObject({
    status: 403,
    reason: "policy.no_match",
  });
  expect(await call("/github/repos/acme/web/issues/1")).toMatchObject(
    probe === "open" ? { status: 200 } : { status: 403, reason: "policy.denied" },
  );
}

/**
 * After a failed build has been said: a call is answered (wrangler reloads the unchanged worker, which
 * holds a call for a moment, never minutes), then every call at once with the good bundle's decisions.
 */
async function expectAnswered(from: number) {
  expect(await callThroughReload("/github/repos/acme/api/issues/1", DURING_BUILD_MS)).toMatchObject({ status: 200 });
  await line(/Local server updated and ready/, from, DURING_BUILD_MS);
  await expectDecisions("open");
}

/** Nothing wrangler printed from `from` on is an error or a stack trace: the failed build was ours to say. */
function expectNoWranglerError(from: number) {
  const bad = lines.slice(from).filter((l) => /\[ERROR\]|Command failed|^\[gateway\]\s+at /.test(l));
  expect(bad, tail()).toEqual([]);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "firebreak-dev-loop-"));
  for (const d of ["src", "bin", "scripts", "demo", "policies"])
    cpSync(join(ROOT, d), join(dir, d), { recursive: true });
  for (const f of ["wrangler.toml", "package.json", "tsconfig.json"]) cpSync(join(ROOT, f), join(dir, f));
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));

  const [gatewayPort, demoPort] = [await freePort(), await freePort()];
  gateway = `http://${HOST}:${gatewayPort}`;
  // The dev overlay points the services at the demo upstream's port.
  const devYaml = file("dev/dev.yaml");
  writeFileSync(devYaml, readFileSync(devYaml, "utf8").replaceAll(`${HOST}:8788/`, `${HOST}:${demoPort}/`));

  start = spawn(process.execPath, ["scripts/start.mjs"], {
    cwd: dir,
    env: {
      ...process.env,
      FIREBREAK_PORT: String(gatewayPort),
      FIREBREAK_DEMO_PORT: String(demoPort),
      FIREBREAK_DEV: "",
      NO_COLOR: "1",
      WRANGLER_SEND_METRICS: "false",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  start.on("exit", () => {
    exited = true;
    for (const w of [...waiters]) w();
  });
  for (const stream of [start.stdout, start.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (l) => {
      lines.push(l);
      for (const w of [...waiters]) w();
    });
  }
  await line(/^Firebreak is ready$/, 0, 150_000);

  // A dev token and a task, as the banner says.
  const minted = spawnSync(process.execPath, ["bin/firebreak.mjs", "token", "--agent", "triage-bot"], {
    cwd: dir,
    encoding: "utf8",
  });
  expect(minted.status, minted.stderr).toBe(0);
  const started = await fetch(`${gateway}/_firebreak/v1/tasks`, {
    method: "POST",
    headers: { authorization: `Bearer ${minted.stdout.trim()}`, "content-type": "application/json" },
    body: JSON.stringify({
      profile: "triage",
      purpose: "the dev-loop test",
      // Every repository expectDecisions calls.
      scope: { github: { repositories: ["acme/api", "acme/web"] } },
    }),
    signal: AbortSignal.timeout(10_000),
  });
  expect(started.status).toBe(201);
  task = ((await started.json()) as { task_token: string }).task_token;
}, 180_000);

afterAll(async () => {
  if (start && !exited) {
    const gone = new Promise((resolve) => start.once("exit", resolve));
    start.kill("SIGTERM"); // start.mjs stops both wranglers (and their workerd) and exits
    await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 20_000);

describe("npm start under policy edits", () => {
  it("serves the dev bundle", async () => {
    const h = await health();
    expect(h.dev).toBe(true);
    good = h.revision;
    await expectDecisions("open");
  });

  it("runs GitHub as a GitHub App: the demo, as wrangler dev runs it, mints for the key dev-keys made", async () => {
    // The provider the dev bundle configures, with the gateway's .dev.vars (before any policy edit).
    const compiled = compilePolicies(join(dir, "policies"), { dev: true });
    if (!compiled.ok) throw new Error(compiled.problems.format());
    const secrets = Object.fromEntries(
      readFileSync(join(dir, ".dev.vars"), "utf8")
        .split("\n")
        .map((l) => /^([A-Z_][A-Z0-9_]*)='?(.*?)'?$/.exec(l))
        .filter((m) => m !== null)
        .map((m) => [m[1], m[2]]),
    );
    const github = compiled.bundle.services.github!;
    const triage = compiled.bundle.profiles.find((p) => p.name === "triage")!;
    const app = providerFor(github, { fetch: (r) => fetch(r), clock: systemClock, secret: (n) => secrets[n] });
    const minted = await app.mint({ actions: triage.actions, repositories: ["acme/api"] });
    if (!minted.ok) throw new Error(`${minted.code}: ${minted.detail}`);
    const read = (token: string, repo: string) =>
      fetch(`${new URL(github.upstream).origin}/github/repos/acme/${repo}/issues/1`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(ANSWER_MS),
      });
    expect((await read(minted.credential.secret, "api")).status).toBe(200);
    expect((await read(minted.credential.secret, "web")).status).toBe(404);
    expect(await app.revoke(minted.credential)).toEqual({ ok: true, revoked: true });
    expect((await read(minted.credential.secret, "api")).status).toBe(401);
  });

  it("a failing policy test: one line names it, the last good bundle answers at once; compile beside it changes nothing", async () => {
    // `firebreak compile` writes build/bundle.json, which the dev worker does not import.
    const compiled = spawnSync(process.execPath, ["bin/firebreak.mjs", "compile"], { cwd: dir, encoding: "utf8" });
    expect(compiled.status, compiled.stderr).toBe(0);

    const from = lines.length;
    const tests = "tests/triage-bot.yaml";
    const merge = 'expect: { decision: deny, reason: policy.no_match, action: "github:pulls.merge" }';
    expect(original(tests)).toContain(merge);
    writeFileSync(file(tests), original(tests).replace(merge, merge.replace("decision: deny", "decision: allow")));
    // Sent while the rebuild runs: it is answered by the good bundle once the build is over.
    const during = callThroughReload("/github/repos/acme/api/issues/1", DURING_BUILD_MS);

    const said = await line(/\[custom build\] firebreak: /, from);
    expect(said.replace(/^.*\[custom build\] /, "")).toBe(
      `firebreak: policies/${tests}:26: policy test "cannot merge a pull request" fails; the gateway keeps serving bundle ${good} until the next good edit`,
    );
    expect(await during).toMatchObject({ status: 200 });
    await expectAnswered(from);
    expect(await health()).toEqual({ revision: good, dev: true });
    expectNoWranglerError(from);
  }, 90_000);

  it("a YAML syntax error: one line names file:line, the last good bundle answers at once", async () => {
    const from = lines.length;
    const rules = "rules/triage-bot.yaml";
    const broken = original(rules).replace(/^ {4}effect: allow$/m, "    effect: allow: deny");
    const at = broken.split("\n").findIndex((l) => l.includes("allow: deny")) + 1;
    writeFileSync(file(rules), broken);

    const said = await line(/\[custom build\] firebreak: /, from);
    expect(said.replace(/^.*\[custom build\] /, "")).toMatch(
      new RegExp(
        `^firebreak: policies/rules/triage-bot\\.yaml:${at}: YAML: [^;]+; the gateway keeps serving bundle ${good} until the next good edit$`,
      ),
    );
    await expectAnswered(from);
    expect(await health()).toEqual({ revision: good, dev: true });
    expectNoWranglerError(from);
  }, 90_000);

  it("the next good edit reloads: a changed decision shows", async () => {
    const from = lines.length;
    writeFileSync(file("tests/triage-bot.yaml"), original("tests/triage-bot.yaml"));
    writeFileSync(
      file("rules/triage-bot.yaml"),
      `${original("rules/triage-bot.yaml")}
  - id: web-closed
    description: Closed by the dev-loop test's edit
    effect: deny
    agents: { issuer: [workloads], sub: [triage-bot] }
    actions: ["github:issues.get"]
    when: 'resource == "repo:acme/web"'
`,
    );
    const built = await line(/\[custom build\] bundle [0-9a-f]{12} \(dev\)/, from);
    const revision = /bundle ([0-9a-f]{12})/.exec(built)?.[1];
    expect(revision).not.toBe(good);
    // Readiness: poll (each call bounded) until the new bundle serves.
    const deadline = performance.now() + BUILD_LINE_MS;
    while ((await health(DURING_BUILD_MS)).revision !== revision) {
      expect(performance.now() < deadline, `bundle ${revision} never served:\n${tail()}`).toBe(true);
      await new Promise((r) => setTimeout(r, 250));
    }
    await expectDecisions("closed");
    expectNoWranglerError(from);
  }, 90_000);

  it("a signed bundle pushed to the local KV is in force without a rebuild (docs/bundles.md)", async () => {
    const from = lines.length;
    // The policies as they were before the last edit, built and signed with the key dev-keys made.
    const pushed = join(dir, "pushed");
    cpSync(join(dir, "policies"), join(pushed, "policies"), { recursive: true });
    writeFileSync(join(pushed, "policies", "rules", "triage-bot.yaml"), original("rules/triage-bot.yaml"));
    const firebreak = (...args: string[]) => {
      const r = spawnSync(process.execPath, [join(dir, "bin", "firebreak.mjs"), ...args], {
        cwd: dir,
        encoding: "utf8",
      });
      expect(r.status, `firebreak ${args.join(" ")}:\n${r.stderr}`).toBe(0);
      return r;
    };
    const out = join(pushed, "bundle.json");
    const key = join(dir, ".dev", "bundle-signing-key.json");
    firebreak("build", "--dev", "--policies", join(pushed, "policies"), "--out", out, "--sign", "--key", key);
    const revision = (JSON.parse(readFileSync(out, "utf8")) as { manifest: { revision: string } }).manifest.revision;
    firebreak("push", "--dev", "--local", "--file", join(pushed, "bundle.signed.json"));

    // Readiness: every isolate looks at KV at most every 10 s; poll (each call bounded) until it serves.
    const deadline = performance.now() + 40_000;
    // A poll may meet the socket of a reload's old isolate closing (as callThroughReload does): poll on.
    const served = async () => (await health().catch(() => null))?.revision;
    while ((await served()) !== revision.slice(0, 12)) {
      expect(performance.now() < deadline, `pushed bundle ${revision} never served:\n${tail()}`).toBe(true);
      await new Promise((r) => setTimeout(r, 250));
    }
    const res = await fetch(`${gateway}/_firebreak/v1/health`, { signal: AbortSignal.timeout(ANSWER_MS) });
    expect(((await res.json()) as { bundle: { source: string } }).bundle.source).toBe("kv");
    await expectDecisions("open");
    expectNoWranglerError(from);
  }, 90_000);
});
