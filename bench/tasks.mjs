// The task path of the HTTP benchmark (issue 3). Tasks are started through the real API
// (`POST /_firebreak/v1/tasks` with the workload token), and their task tokens then carry the load,
// so every measured call goes through admission in the task's Durable Object. A bench that silently
// measured the no-task path would be worthless, so admission is proven twice: before measuring (a
// small cap refuses when it should, a call is counted) and after (the tasks counted at least as many
// calls as were answered 2xx, and their step logs verify).

/** test/fixtures/policies/gateway/profiles/tasks.yaml: every budget kind, caps no run reaches. */
export const BENCH_PROFILE = "bench";
/** The same file: a cap of 10 calls. */
const CAPPED_PROFILE = "basic";
const CAP = 10;
const TASKS = "/_firebreak/v1/tasks";

const bearer = (token) => ({ authorization: `Bearer ${token}` });

/** Starts one task; returns its id, its token and the headers of a call made with it. */
export async function startTask(base, workloadToken, profile = BENCH_PROFILE, scope = undefined) {
  const res = await fetch(new URL(TASKS, base), {
    method: "POST",
    headers: { ...bearer(workloadToken), "content-type": "application/json" },
    body: JSON.stringify({ profile, purpose: "npm run bench", ...(scope ? { scope } : {}) }),
  });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`starting a ${profile} task answered ${res.status}: ${text}`);
  const { task_id, task_token } = JSON.parse(text);
  return { id: task_id, headers: bearer(task_token) };
}

/** `GET /tasks/:id` with the task's own token: its counters and whether its step log verifies. */
export async function inspectTask(base, task) {
  const res = await fetch(new URL(`${TASKS}/${task.id}?limit=1`, base), { headers: task.headers });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`inspecting task ${task.id} answered ${res.status}: ${text}`);
  const view = JSON.parse(text);
  return { calls: view.counters?.calls ?? 0, logOk: view.log?.ok === true };
}

/** Starts `n` bench tasks, one after the other. */
export async function startTasks(base, workloadToken, n) {
  const tasks = [];
  for (let i = 0; i < n; i++) tasks.push(await startTask(base, workloadToken));
  return tasks;
}

/**
 * Before measuring. A `basic` task (cap of 10 calls) admits 10 calls and refuses the 11th with 403
 * `budget.exhausted`; a bench task's call is 200 `Firebreak-Decision: allow` with the pass-through's
 * body, and its task counts it. Throws on anything else.
 */
export async function checkTaskPath(url, workloadToken, passthroughBody) {
  const base = new URL("/", url);
  const capped = await startTask(base, workloadToken, CAPPED_PROFILE);
  for (let i = 1; i <= CAP + 1; i++) {
    const res = await fetch(url, { headers: capped.headers });
    const text = await res.text();
    const refused = i > CAP;
    if (!refused && (res.status !== 200 || res.headers.get("firebreak-decision") !== "allow")) {
      throw new Error(`call ${i} of a ${CAPPED_PROFILE} task answered ${res.status}: ${text}`);
    }
    if (refused && (res.status !== 403 || JSON.parse(text).reason !== "budget.exhausted")) {
      throw new Error(
        `call ${i} of a task capped at ${CAP} calls was not refused budget.exhausted: ${res.status} ${text}`,
      );
    }
  }
  const cappedView = await inspectTask(base, capped);
  if (cappedView.calls !== CAP) throw new Error(`the capped task counted ${cappedView.calls} calls, not ${CAP}`);

  const task = await startTask(base, workloadToken);
  const res = await fetch(url, { headers: task.headers });
  const body = await res.text();
  if (res.status !== 200 || res.headers.get("firebreak-decision") !== "allow") {
    throw new Error(`a ${BENCH_PROFILE} task's call answered ${res.status} (${res.headers.get("firebreak-decision")})`);
  }
  if (body !== passthroughBody) throw new Error("a task call and the pass-through answered different bodies");
  const view = await inspectTask(base, task);
  if (view.calls !== 1 || !view.logOk)
    throw new Error(`a task with one call counted ${view.calls} (log ok: ${view.logOk})`);
  // calls_2xx: the proxied calls of this check answered 2xx (the capped task's 10, the bench task's 1).
  return {
    capped_profile: CAPPED_PROFILE,
    cap: CAP,
    refused_after_cap: "budget.exhausted",
    bench_task_counted: view.calls,
    calls_2xx: CAP + 1,
  };
}

/**
 * After measuring: the calls the tasks counted against the 2xx answers measured with their tokens.
 * Every 2xx answer of a task token was admitted, so `calls_counted >= requests_2xx`; the excess is the
 * calls still in flight when a slice stopped (and any voided attempt). Throws when fewer were counted
 * (answers that bypassed admission) or a step log does not verify.
 */
export async function countAdmitted(base, tasks, requests2xx) {
  let counted = 0;
  let logsOk = 0;
  for (const t of tasks) {
    const v = await inspectTask(base, t);
    counted += v.calls;
    if (v.logOk) logsOk++;
  }
  if (counted < requests2xx) {
    throw new Error(
      `${tasks.length} task(s) counted ${counted} calls for ${requests2xx} 2xx answers: admission was bypassed`,
    );
  }
  if (logsOk !== tasks.length) throw new Error(`${tasks.length - logsOk} task step log(s) do not verify`);
  return { tasks: tasks.length, requests_2xx: requests2xx, calls_counted: counted, step_logs_verified: logsOk };
}

/** The fixture's profile whose tasks mint a GitHub App token and an OAuth token at their start. */
const MINTING_PROFILE = "minting";
const MINTING_SCOPE = { ghapp: { repositories: ["acme/api"] } };

/**
 * What a task start costs with credentials minted (issue 14): `n` starts of each profile, taking
 * turns, timed from request to answer; the token endpoints are the upstream worker's (bench/workers.mjs).
 * Each minting task is completed after, so that its revocation is not left to the measured starts.
 */
export async function timeStarts(base, workloadToken, n = 30) {
  const plain = [];
  const minting = [];
  for (let i = 0; i < n; i++) {
    let t = performance.now();
    await startTask(base, workloadToken);
    plain.push(performance.now() - t);
    t = performance.now();
    const task = await startTask(base, workloadToken, MINTING_PROFILE, MINTING_SCOPE);
    minting.push(performance.now() - t);
    const done = await fetch(new URL(`${TASKS}/${task.id}/complete`, base), { method: "POST", headers: task.headers });
    if (done.status !== 200) throw new Error(`completing a ${MINTING_PROFILE} task answered ${done.status}`);
  }
  const p50 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const round = (x) => Math.round(x * 100) / 100;
  return {
    starts: n,
    profile_plain: BENCH_PROFILE,
    profile_minting: MINTING_PROFILE,
    mints_per_start: 2,
    p50_ms_plain: round(p50(plain)),
    p50_ms_minting: round(p50(minting)),
    added_p50_ms: round(p50(minting) - p50(plain)),
  };
}
