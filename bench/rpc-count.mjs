// Durable Object round trips per call, counted inside the Firebreak worker of `npm run bench`
// (docs/benchmarks.md, "Round trips per task call"). src/ is not touched: bench/workers.mjs bundles
// `countingEntry()` instead of wrangler.toml's `main`. That entry imports the real worker's default
// export, re-exports its Durable Object classes unchanged (`export *`), and wraps `fetch`:
//
//   - every request gets its own copy of `env` in which each Durable Object namespace (TASKS, AGENTS,
//     DIRECTORY: every binding of wrangler.toml's [[durable_objects.bindings]]) is a Proxy; a stub it
//     gives (`getByName(name)`, `get(id)`) is a Proxy too, which counts every method called on it;
//   - each call is put in one of three phases, against the moment the real fetch's promise resolves
//     (the answer): `before` (made and finished before the answer: the answer could wait for it),
//     `unawaited` (made before the answer, finished after it: the answer did not wait for it) and
//     `after` (made after the answer, e.g. by work handed to ctx.waitUntil once the answer was out);
//   - the counts go to the request's row: the name set last by `POST /__bench/rpc-counts?row=<name>`
//     when the request arrived (bench/run.mjs sets it before each slice), so a call made later in the
//     background still counts for the row of the request that made it. `GET /__bench/rpc-counts`
//     answers every row's counts and the number of requests answered in it. Module-level counters of
//     one isolate (the `firebreak` worker; `firebreak-fresh` runs the same script, its counts unread).
//
// The Durable Objects are not wrapped: a call an object makes to another object would not be counted.
// None of src/tasks/*-object.ts uses its env today (checked with grep when this was written).

const ROUTE = "/__bench/rpc-counts";

/** The bench entry (esbuild stdin, after bundleFirebreak's `export * from main`): the real worker, counted. */
export function countingEntry(mainPath, selfPath, bindings) {
  return (
    `import worker from ${JSON.stringify(mainPath)};\n` +
    `import { countingWorker } from ${JSON.stringify(selfPath)};\n` +
    `export default countingWorker(worker, ${JSON.stringify(bindings)});\n`
  );
}

// ----------------------------------------------------------------------- inside workerd (bundled)

/** `worker`: the real default export (a Hono app: `fetch(request, env, ctx)`). */
export function countingWorker(worker, bindings) {
  const rows = new Map();
  const rowNamed = (name) => {
    let row = rows.get(name);
    if (row === undefined) {
      row = { requests: 0, status_2xx: 0, calls: {} };
      rows.set(name, row);
    }
    return row;
  };
  let current = rowNamed("untagged");

  const slotOf = (row, binding, method) => {
    if (row.calls[binding] === undefined) row.calls[binding] = {};
    const b = row.calls[binding];
    if (b[method] === undefined) b[method] = { before: 0, unawaited: 0, after: 0 };
    return b[method];
  };

  /** A stub whose method calls are counted for request `req` (an RPC property read alone is not a call). */
  const countedStub = (stub, binding, req) =>
    new Proxy(stub, {
      get(target, prop) {
        const value = target[prop];
        if (typeof value !== "function" || typeof prop !== "string") return value;
        return (...args) => {
          const slot = slotOf(req.row, binding, prop);
          if (req.answered) {
            slot.after++;
            return Reflect.apply(value, target, args);
          }
          const result = Reflect.apply(value, target, args);
          // Registered before the caller's own handlers (rpcCall's Promise.resolve), so it runs first.
          const done = () => {
            if (req.answered) slot.unawaited++;
            else slot.before++;
          };
          Promise.resolve(result).then(done, done);
          return result;
        };
      },
    });

  const countedNamespace = (ns, binding, req) =>
    new Proxy(ns, {
      get(target, prop) {
        if (prop === "getByName") return (name, opts) => countedStub(target.getByName(name, opts), binding, req);
        if (prop === "get") return (id, opts) => countedStub(target.get(id, opts), binding, req);
        const value = target[prop];
        return typeof value === "function" ? value.bind(target) : value;
      },
    });

  const control = (request) => {
    const url = new URL(request.url);
    if (request.method === "POST") {
      const name = url.searchParams.get("row") ?? "untagged";
      current = rowNamed(name);
      return Response.json({ row: name });
    }
    return Response.json({ rows: Object.fromEntries(rows) });
  };

  return {
    fetch(request, env, ctx) {
      if (request.url.includes(ROUTE)) return control(request);
      const req = { row: current, answered: false };
      // Own properties, as the real env's: src/env.ts bindingOf reads secrets with Object.hasOwn.
      const counted = { ...env };
      for (const b of bindings) if (env[b]) counted[b] = countedNamespace(env[b], b, req);
      return Promise.resolve(worker.fetch(request, counted, ctx)).then(
        (response) => {
          req.answered = true;
          req.row.requests++;
          if (response.status >= 200 && response.status < 300) req.row.status_2xx++;
          return response;
        },
        (e) => {
          req.answered = true;
          req.row.requests++;
          throw e;
        },
      );
    },
  };
}

// ------------------------------------------------------------------------ in bench/run.mjs (Node)

/** Tags the requests that arrive from now on with row `row`. */
export async function tagRow(workerUrl, row) {
  const res = await fetch(new URL(`${ROUTE}?row=${encodeURIComponent(row)}`, workerUrl), { method: "POST" });
  if (res.status !== 200) throw new Error(`${ROUTE} answered ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
}

/** Every row's counts, as the worker holds them. */
export async function readCounts(workerUrl) {
  const res = await fetch(new URL(ROUTE, workerUrl));
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${ROUTE} answered ${res.status}: ${text}`);
  return JSON.parse(text).rows;
}

const r3 = (x) => Math.round(x * 1000) / 1000;

/**
 * One row's counts as figures per answered request: round trips before the answer, unawaited, after,
 * in all, by binding and by method. `null` when the row saw no request.
 */
export function perCall(row) {
  if (!row || row.requests === 0) return null;
  const n = row.requests;
  const sum = { before: 0, unawaited: 0, after: 0 };
  const byBinding = {};
  for (const [binding, methods] of Object.entries(row.calls)) {
    const b = { before: 0, unawaited: 0, after: 0 };
    const byMethod = {};
    for (const [method, c] of Object.entries(methods)) {
      for (const k of Object.keys(b)) b[k] += c[k];
      byMethod[method] = { before: r3(c.before / n), unawaited: r3(c.unawaited / n), after: r3(c.after / n) };
    }
    for (const k of Object.keys(sum)) sum[k] += b[k];
    byBinding[binding] = {
      before: r3(b.before / n),
      unawaited: r3(b.unawaited / n),
      after: r3(b.after / n),
      total: r3((b.before + b.unawaited + b.after) / n),
      methods: byMethod,
    };
  }
  return {
    requests: n,
    requests_2xx: row.status_2xx,
    before_answer: r3(sum.before / n),
    unawaited: r3(sum.unawaited / n),
    after_answer: r3(sum.after / n),
    total: r3((sum.before + sum.unawaited + sum.after) / n),
    by_binding: byBinding,
  };
}
