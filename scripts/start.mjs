#!/usr/bin/env node
/**
 * `npm start`: the local Firebreak playground.
 *
 *   1. `firebreak dev-keys`  the dev issuer and task keys (.dev/) and .dev.vars (the issuer's JWKS, the
 *                            dev FIREBREAK_TASK_KEY, fake service secrets)
 *   2. the demo upstream     `wrangler dev -c demo/wrangler.toml` on 127.0.0.1:8788
 *   3. the gateway           `wrangler dev --env dev` on 127.0.0.1:8787: the `dev` environment's build
 *                            compiles the dev overlay (dev issuer, upstreams -> the demo) into
 *                            build/dev/bundle.json and adds the local decision store (docs/analytics.md)
 *
 * FIREBREAK_PORT and FIREBREAK_DEMO_PORT move them (the e2e test does, to stay off a running npm start);
 * the dev overlay's upstreams (policies/dev/dev.yaml) must then point at the demo's port.
 *
 * Output of both is prefixed ([gateway] / [demo]). Ctrl-C or SIGTERM stops both; if one exits, the
 * other is stopped too. A banner with the next commands is printed once the gateway's health answers.
 */
import { spawn, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { createConnection } from "node:net";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const HOST = "127.0.0.1";
const GATEWAY_PORT = Number(process.env.FIREBREAK_PORT || 8787);
const DEMO_PORT = Number(process.env.FIREBREAK_DEMO_PORT || 8788); // policies/dev/dev.yaml points the services at it
const HEALTH = `http://${HOST}:${GATEWAY_PORT}/_firebreak/v1/health`;
const READY_TIMEOUT_MS = 180_000;
const STOP_GRACE_MS = 5_000;

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code, s) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
const say = (s) => process.stdout.write(`${paint("1", "[start]")} ${s}\n`);

const require = createRequire(import.meta.url);
const wranglerBin = require.resolve("wrangler/bin/wrangler.js", { paths: [root] });

/** @type {Map<string, import("node:child_process").ChildProcess>} */
const children = new Map();
let stopping = false;
let exitCode = 0;

function portInUse(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Offline, wrangler warns on every (re)load that it cannot fetch the `Request.cf` placeholder, with a
 * DNS stack trace. Harmless (TOOLCHAIN.md): shown once per child, stack trace dropped.
 */
const CF_WARNING = "Unable to fetch the `Request.cf` object";

function pipe(stream, prefix, out) {
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  let cfWarned = false;
  let inCfTrace = false;
  lines.on("line", (line) => {
    if (line.includes(CF_WARNING)) {
      inCfTrace = true;
      if (cfWarned) return;
      cfWarned = true;
      out.write(`${prefix} ${line} (harmless offline; shown once)\n`);
      return;
    }
    if (inCfTrace && (/^Error: .*workers\.cloudflare\.com/.test(line) || /^\s+at /.test(line))) return;
    inCfTrace = false;
    out.write(`${prefix} ${line}\n`);
  });
}

function start(name, code, args, env) {
  const prefix = paint(code, `[${name}]`.padEnd(9));
  const child = spawn(process.execPath, [wranglerBin, ...args], {
    cwd: root,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group, so that stopping it also stops workerd and the build step under it.
    detached: process.platform !== "win32",
  });
  children.set(name, child);
  pipe(child.stdout, prefix, process.stdout);
  pipe(child.stderr, prefix, process.stderr);
  child.on("error", (err) => {
    say(`${name} could not start: ${err.message}`);
    stop(1);
  });
  child.on("exit", (code, signal) => {
    children.delete(name);
    if (!stopping) {
      say(`${name} exited (${signal ?? `code ${code}`}); stopping the rest.`);
      stop(code || 1);
    } else if (children.size === 0) {
      process.exit(exitCode);
    }
  });
  return child;
}

function signalGroup(child, signal) {
  try {
    if (process.platform === "win32") child.kill(signal);
    else process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  exitCode = code;
  if (children.size === 0) process.exit(exitCode);
  for (const child of children.values()) signalGroup(child, "SIGTERM");
  setTimeout(() => {
    for (const child of children.values()) signalGroup(child, "SIGKILL");
    process.exit(exitCode);
  }, STOP_GRACE_MS);
}

async function waitUntilReady() {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!stopping && Date.now() < deadline) {
    try {
      const res = await fetch(HEALTH, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return await res.json();
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return null;
}

function banner(health) {
  const b = health.bundle ?? {};
  const gw = `http://${HOST}:${GATEWAY_PORT}`;
  const lines = [
    "",
    paint("1;32", "Firebreak is ready"),
    `  gateway        ${gw}   bundle ${String(b.revision ?? "?").slice(0, 12)}${b.dev ? " (dev)" : ""}`,
    `  demo upstream  http://${HOST}:${DEMO_PORT}   (GitHub, Slack and Stripe look-alikes)`,
    "",
    "In another terminal:",
    "  export TOKEN=$(npx firebreak token --agent triage-bot)",
    `  export TASK=$(curl -s -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\`,
    `      -d '{"profile": "triage", "purpose": "try it", "scope": {"github": {"repositories": ["acme/api"]}}}' \\`,
    `      ${gw}/_firebreak/v1/tasks \\`,
    `      | node -pe 'JSON.parse(require("fs").readFileSync(0)).task_token')`,
    `  curl -i -H "Authorization: Bearer $TASK" ${gw}/github/repos/acme/api/issues/1`,
    `  curl -i -X PUT -H "Authorization: Bearer $TASK" ${gw}/github/repos/acme/api/pulls/1/merge`,
    `  curl -s http://${HOST}:${DEMO_PORT}/_demo/requests`,
    "  npx firebreak explain --agent triage-bot PUT /github/repos/acme/api/pulls/1/merge",
    "",
    "  npx firebreak decisions --local --view counts --by reason   (an operator's token in FIREBREAK_ADMIN_TOKEN)",
    "",
    "Decisions are logged below as JSON lines and kept in the local store (.wrangler/). Edit policies/ and",
    "the gateway rebuilds. Ctrl-C stops both.",
    "",
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

async function main() {
  for (const [name, port] of [
    ["gateway", GATEWAY_PORT],
    ["demo upstream", DEMO_PORT],
  ]) {
    if (await portInUse(port)) {
      say(`port ${port} (${name}) is already in use on ${HOST}: stop whatever holds it and try again.`);
      process.exit(1);
    }
  }

  const keys = spawnSync(process.execPath, [join(root, "bin/firebreak.mjs"), "dev-keys"], {
    cwd: root,
    stdio: "inherit",
  });
  if (keys.status !== 0) {
    say("firebreak dev-keys failed");
    process.exit(keys.status ?? 1);
  }

  process.on("SIGINT", () => stop(0));
  process.on("SIGTERM", () => stop(0));
  process.on("SIGHUP", () => stop(0));

  start("demo", "36", ["dev", "-c", "demo/wrangler.toml", "--port", String(DEMO_PORT), "--ip", HOST]);
  // GATEWAY_ORIGIN (task tokens' iss/aud, links) follows the port; [env.dev.vars] says 8787.
  const origin = `GATEWAY_ORIGIN:http://${HOST}:${GATEWAY_PORT}`;
  start("gateway", "35", ["dev", "--env", "dev", "--port", String(GATEWAY_PORT), "--ip", HOST, "--var", origin]);

  const health = await waitUntilReady();
  if (stopping) return;
  if (!health) {
    say(`the gateway did not answer ${HEALTH} within ${READY_TIMEOUT_MS / 1000} s; see its output above.`);
    stop(1);
    return;
  }
  if (!health.bundle?.dev) {
    say("warning: the gateway's bundle is not a dev bundle; the dev issuer and demo upstream are not in use.");
  }
  banner(health);
}

main().catch((err) => {
  say(`failed: ${err?.stack ?? err}`);
  stop(1);
});
