// The task path's single operations for bench/opcost.mjs: Durable Object RPCs, SQLite reads, writes
// and commits, the step log hash, EdDSA task-token verification, and the real task object's view,
// admit and settle. Each runs K times per request inside workerd, like the other operations there.

/** name -> [K, what]. */
export const TASK_OPS = {
  stub_get: [100, "env.X.getByName(name): a Durable Object stub, no call"],
  rpc_noop: [10, "RPC round trip to a Durable Object method that returns 1"],
  rpc_noop_50: [10, "the same RPC, each call to the next of 50 objects (as a task per connection does)"],
  rpc_read: [10, "RPC + one SQL SELECT by primary key"],
  rpc_read8: [10, "RPC + 8 SQL SELECTs by primary key"],
  rpc_write1: [5, "RPC + transactionSync with one upsert (one commit)"],
  rpc_write8: [5, "RPC + transactionSync with 8 upserts (one commit)"],
  rpc_write4t: [5, "RPC + transactionSync with one write in each of 4 tables (one commit)"],
  chain_hash: [100, "chainHash(): canonical JSON + SHA-256 (node:crypto) of one call entry"],
  verify_eddsa: [10, "verifyTaskToken(): EdDSA task token, jose + WebCrypto (not cached in src today)"],
  task_view: [5, "the task object's view() RPC (CEL task state), real class"],
  task_admit: [5, "the task object's admit() RPC, bench profile, real class"],
  task_admit_settle: [3, "admit() + settle(seq, 200) RPCs, bench profile, real class"],
  task_admit_carry: [
    5,
    "admitAll([step], [the previous call's settle]): the steady path since issue 13 (one RPC per call)",
  ],
  task_admit_bare: [5, "the same admit() without facts in the step (what the facts cost: payload, JSON, hash)"],
  entry_hash: [100, "entryText() + chainHashText() of one call entry: what append hashes"],
  task_append_inside: [20, "one call entry appended inside the object (callEntry, hash, INSERT), K per RPC"],
  task_check_inside: [20, "the admission checks of one step inside the object (nothing written), K per RPC"],
  task_admit_inside: [20, "admitAll() inside the object, K per RPC: its checks, entry, hash and SQL, no RPC or commit"],
  rpc_step_arg: [10, "RPC round trip to a method that takes the bench StepRequest (with facts) and returns 1"],
  task_admit_window: [3, "admit() with a 1-s window added to the profile: ~K x 200 admitted calls in it"],
};

/** Worker code appended to opcost's entry: `taskOp(op, k, env, bundle)`, and the classes to bind. */
export const taskOpsCode = (src) => `
import { DurableObject } from "cloudflare:workers";
import { TaskObject as RealTaskObject } from ${src("tasks/task-object.ts")};
import { chainHash, chainHashText, GENESIS } from ${src("tasks/hash-chain.ts")};
import { entryText } from ${src("tasks/entry.ts")};
import { callEntry } from ${src("tasks/steps.ts")};
import { check } from ${src("tasks/admission.ts")};
import { newTaskId, signTaskToken, taskKeys, verifyTaskToken } from ${src("identity/task-token.ts")};
/** The real class, with one bench method: K admits inside one RPC (their work without the RPC or a commit each). */
export class TaskObject extends RealTaskObject {
  admitMany(step, k) {
    let n = 0;
    for (let i = 0; i < k; i++) n += this.admitAll([{ ...step, now: Date.now() }]).ok ? 1 : 0;
    return n;
  }
  /** K call entries appended (entry, hash, INSERT), in one transaction. */
  appendMany(step, k) {
    return this.ctx.storage.transactionSync(() => {
      for (let i = 0; i < k; i++) this.store.append(callEntry({ ...step, now: Date.now() }, null));
      this.store.flush();
      return k;
    });
  }
  /** K admission checks of the step (nothing written). */
  checkMany(step, k) {
    const task = this.store.task();
    let n = 0;
    for (let i = 0; i < k; i++) n += check(this.store, task.profile, { ...step, now: Date.now() }) === null ? 1 : 0;
    return n;
  }
}

export class OpcostObject extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS c (k TEXT PRIMARY KEY, n REAL NOT NULL)");
    for (const t of ["t1", "t2", "t3"]) ctx.storage.sql.exec(\`CREATE TABLE IF NOT EXISTS \${t} (k INTEGER PRIMARY KEY, v TEXT)\`);
  }
  noop() { return 1; }
  take(step) { return step ? 1 : 0; }
  read(n = 1) {
    let rows = 0;
    for (let i = 0; i < n; i++) rows += this.ctx.storage.sql.exec("SELECT n FROM c WHERE k = ?", "k" + i).toArray().length;
    return rows;
  }
  write4t() {
    this.ctx.storage.transactionSync(() => {
      this.ctx.storage.sql.exec("INSERT INTO c (k, n) VALUES ('k', 1) ON CONFLICT (k) DO UPDATE SET n = n + 1");
      for (const t of ["t1", "t2", "t3"]) this.ctx.storage.sql.exec(\`INSERT INTO \${t} (v) VALUES ('x')\`);
    });
    return 1;
  }
  write(n) {
    this.ctx.storage.transactionSync(() => {
      for (let i = 0; i < n; i++) {
        this.ctx.storage.sql.exec("INSERT INTO c (k, n) VALUES (?, 1) ON CONFLICT (k) DO UPDATE SET n = n + 1", "k" + i);
      }
    });
    return 1;
  }
}

const ORIGIN = "https://opcost.example";
const ENTRY = { seq: 7, ts: 1764600000000, kind: "call", decision_id: "8f0c2a4e-7f3b-4c1d-9a2e-5b6c7d8e9f01",
  action: "github:issues.get", service: "github", resource: "repo:acme/api", labels: '["kind:read","risk:low"]',
  args: "{}", outcome: "reserved", reason: null, ref: null, by: null };
const STEP = { decision_id: "d", action: "github:issues.get", service: "github", labels: ["kind:read", "risk:low"],
  resource: "repo:acme/api", args: {}, facts: { method: "GET", path: "/repos/acme/api/issues/1", query: [], args: {} } };
const taskIds = {};
let next = 0;
/** The seqs of the last call task_admit_carry admitted: the next one carries their settle. */
let carrySeqs = null;
let taskToken;

/** One task per kind for the whole run (a stub belongs to one request: only the id is kept). */
async function openTask(env, bundle, kind = "bench") {
  if (taskIds[kind]) return env.TASKS.getByName(taskIds[kind]);
  const id = newTaskId();
  let profile = bundle.spec.profiles.find((p) => p.name === "bench");
  // Every admitted call stays in window_calls for a second: the window check reads them all.
  if (kind === "window") profile = { ...profile, budgets: { ...profile.budgets, windows: [{ calls: 1e9, seconds: 1 }] } };
  const task = env.TASKS.getByName(id);
  await task.open({ task_id: id, profile, agent: { issuer: "inline", sub: "agent-1" }, purpose: "opcost", now: Date.now() });
  taskIds[kind] = id;
  return task;
}

export async function taskOp(op, k, env, bundle) {
  let sink = 0;
  const ops = env.OPS.getByName("ops");
  switch (op) {
    case "stub_get": for (let i = 0; i < k; i++) sink += env.OPS.getByName("ops") ? 1 : 0; break;
    case "rpc_noop": for (let i = 0; i < k; i++) sink += await ops.noop(); break;
    case "rpc_noop_50": for (let i = 0; i < k; i++) sink += await env.OPS.getByName(\`ops-\${next++ % 50}\`).noop(); break;
    case "rpc_read": for (let i = 0; i < k; i++) sink += await ops.read(1); break;
    case "rpc_read8": for (let i = 0; i < k; i++) sink += await ops.read(8); break;
    case "rpc_write1": for (let i = 0; i < k; i++) sink += await ops.write(1); break;
    case "rpc_write8": for (let i = 0; i < k; i++) sink += await ops.write(8); break;
    case "rpc_write4t": for (let i = 0; i < k; i++) sink += await ops.write4t(); break;
    case "chain_hash": for (let i = 0; i < k; i++) sink += chainHash(GENESIS, { ...ENTRY, seq: i }).length; break;
    case "verify_eddsa": {
      const keys = await taskKeys(env);
      taskToken ??= (await signTaskToken(keys.keys.current, { sub: "agent-1", agent_issuer: "inline", task_id: newTaskId(),
        profile: "bench" }, { audience: ORIGIN, issuer: ORIGIN, ttl_s: 3600, deadline_ms: Date.now() + 3600_000,
        now: new Date() })).token;
      for (let i = 0; i < k; i++) {
        sink += (await verifyTaskToken(taskToken, await taskKeys(env), { audience: ORIGIN, issuer: ORIGIN, now: new Date() })).ok ? 1 : 0;
      }
      break;
    }
    case "task_view": { const t = await openTask(env, bundle); for (let i = 0; i < k; i++) sink += (await t.view()).calls; break; }
    case "task_admit": {
      const t = await openTask(env, bundle);
      for (let i = 0; i < k; i++) sink += (await t.admit({ ...STEP, now: Date.now() })).ok ? 1 : 0;
      break;
    }
    case "task_admit_window": {
      const t = await openTask(env, bundle, "window");
      for (let i = 0; i < k; i++) sink += (await t.admit({ ...STEP, now: Date.now() })).ok ? 1 : 0;
      break;
    }
    case "entry_hash": for (let i = 0; i < k; i++) sink += chainHashText(GENESIS, entryText({ ...ENTRY, facts: null, status: null, seq: i })).length; break;
    case "task_append_inside": sink += await (await openTask(env, bundle, "append")).appendMany(STEP, k); break;
    case "task_check_inside": sink += await (await openTask(env, bundle, "check")).checkMany(STEP, k); break;
    case "task_admit_inside": sink += await (await openTask(env, bundle, "inside")).admitMany(STEP, k); break;
    case "rpc_step_arg": for (let i = 0; i < k; i++) sink += await ops.take({ ...STEP, now: Date.now() }); break;
    case "task_admit_bare": {
      const t = await openTask(env, bundle, "bare");
      const { facts: _f, ...bare } = STEP;
      for (let i = 0; i < k; i++) sink += (await t.admit({ ...bare, now: Date.now() })).ok ? 1 : 0;
      break;
    }
    case "task_admit_carry": {
      const t = await openTask(env, bundle, "carry");
      for (let i = 0; i < k; i++) {
        const settles = carrySeqs === null ? [] : [{ seqs: carrySeqs, status: 200, now: Date.now(), timedOut: false }];
        const r = await t.admitAll([{ ...STEP, now: Date.now() }], settles);
        carrySeqs = r.ok ? r.seqs : null;
        sink += r.ok ? 1 : 0;
      }
      break;
    }
    case "task_admit_settle": {
      const t = await openTask(env, bundle);
      for (let i = 0; i < k; i++) {
        const r = await t.admit({ ...STEP, now: Date.now() });
        await t.settle(r.seq, 200, Date.now(), false);
        sink += 1;
      }
      break;
    }
    default: return null;
  }
  return sink;
}`;
