// autocannon measurements, in this Node process (programmatic API). Latencies are recorded from
// autocannon's per-response event, in microseconds: its own histogram keeps whole milliseconds, too
// coarse for sub-millisecond answers. CPU time of this process and of the workerd child is read
// around each measurement, so the cost per request of each side is known.
import { readdirSync, readFileSync } from "node:fs";
import autocannon from "autocannon";

/** One autocannon run; throws (the measurement is void) unless every request was answered 2xx. */
export async function slice({
  url,
  connections,
  seconds,
  headers,
  workerdPid = null,
  overallRate,
  authorization,
  clientHeaders,
}) {
  const latenciesMs = [];
  const cpu0 = cpuNow(workerdPid);
  // `clientHeaders`: the headers of each connection, dealt round-robin (one task token per connection).
  let dealt = 0;
  const setupClient = clientHeaders && ((client) => client.setHeaders(clientHeaders[dealt++ % clientHeaders.length]));
  // `authorization`: a function giving the header value of each request (rebuilt per request).
  const requests = authorization
    ? [
        {
          method: "GET",
          setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: authorization() } }),
        },
      ]
    : undefined;
  const instance = autocannon({
    url,
    connections,
    duration: seconds,
    headers,
    pipelining: 1,
    overallRate,
    requests,
    setupClient,
  });
  const errorKinds = {};
  instance.on("reqError", (e) => {
    const kind = e?.code ?? e?.message ?? String(e);
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
  });
  instance.on("response", (_client, statusCode, _bytes, responseTimeMs) => {
    if (statusCode >= 200 && statusCode < 300) latenciesMs.push(responseTimeMs);
  });
  const r = await instance;
  const cpu1 = cpuNow(workerdPid);
  const ok = r["2xx"];
  const failed = r.non2xx + r.errors + r.timeouts + r.resets + r.mismatches;
  if (failed > 0 || ok === 0) {
    const error = new Error(
      `${url} at c=${connections}: ${ok} 2xx, ${r.non2xx} non-2xx (${JSON.stringify(r.statusCodeStats)}), ` +
        `${r.errors} errors ${JSON.stringify(errorKinds)}, ${r.timeouts} timeouts, ${r.resets} resets: the measurement is void`,
    );
    error.connectionErrorsOnly = ok > 0 && r.non2xx === 0 && r.mismatches === 0;
    throw error;
  }
  return {
    connections,
    seconds: r.duration,
    ok,
    latenciesMs,
    nodeUs: cpu1.node - cpu0.node,
    workerdUs: cpu0.workerd === null || cpu1.workerd === null ? null : cpu1.workerd - cpu0.workerd,
    otherCores: otherCores(cpu0, cpu1, r.duration),
  };
}

/** Figures of one or more slices of the same worker at the same concurrency, taken together. */
export function summarise(slices) {
  const seconds = slices.reduce((a, s) => a + s.seconds, 0);
  const ok = slices.reduce((a, s) => a + s.ok, 0);
  const nodeUs = slices.reduce((a, s) => a + s.nodeUs, 0);
  const workerdUs = slices.some((s) => s.workerdUs === null) ? null : slices.reduce((a, s) => a + s.workerdUs, 0);
  const sorted = Float64Array.from(slices.flatMap((s) => s.latenciesMs)).sort();
  const q = (p) => round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))], 3);
  return {
    connections: slices[0].connections,
    slices: slices.length,
    duration_s: round(seconds, 2),
    requests_2xx: ok,
    req_per_s: ok / seconds,
    req_per_s_by_slice: slices.map((s) => Math.round(s.ok / s.seconds)),
    latency_ms: {
      p50: q(0.5),
      p90: q(0.9),
      p99: q(0.99),
      max: round(sorted[sorted.length - 1], 3),
      mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length, 3),
    },
    cpu_us_per_request: {
      node_load_generator: round(nodeUs / ok, 1),
      workerd: workerdUs === null ? null : round(workerdUs / ok, 1),
    },
    cpu_utilisation: {
      other_processes: slices.some((s) => s.otherCores === null)
        ? null
        : round(slices.reduce((a, s) => a + s.otherCores * s.seconds, 0) / seconds, 2),
      node_load_generator: round(nodeUs / (seconds * 1e6), 2),
      workerd: workerdUs === null ? null : round(workerdUs / (seconds * 1e6), 2),
    },
  };
}

/** One slice, summarised. */
export async function measure(options) {
  return summarise([await slice(options)]);
}

const round = (x, d) => Math.round(x * 10 ** d) / 10 ** d;

/** CPU time (user + system, microseconds) of this process and of the workerd child, for per-request cost. */
export function findWorkerdPid() {
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (comm === "workerd" && ppid === process.pid) return Number(d);
    } catch {
      // the process went away
    }
  }
  return null;
}

const TICK_US = 1e6 / 100; // USER_HZ is 100 on Linux

export function cpuNow(workerdPid) {
  const self = process.cpuUsage();
  let workerd = null;
  if (workerdPid !== null) {
    try {
      const stat = readFileSync(`/proc/${workerdPid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      workerd = (Number(f[11]) + Number(f[12])) * TICK_US; // utime, stime
    } catch {
      workerd = null;
    }
  }
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const busy = (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) * TICK_US; // user nice system irq softirq steal
  return { node: self.user + self.system, workerd, busy };
}

/** Cores used by processes other than this one and workerd (other sessions, the OS) between two cpuNow(). */
export function otherCores(a, b, seconds) {
  if (a.workerd === null || b.workerd === null) return null;
  const other = b.busy - a.busy - (b.node - a.node) - (b.workerd - a.workerd);
  return Math.max(0, Math.round((other / (seconds * 1e6)) * 100) / 100);
}

/** Waits (up to maxSeconds) for a second during which other processes use less than `cores`. */
export async function waitForQuiet(workerdPid, cores = 0.15, maxSeconds = 30) {
  for (let waited = 0; waited < maxSeconds; waited++) {
    const a = cpuNow(workerdPid);
    await new Promise((r) => setTimeout(r, 1000));
    const o = otherCores(a, cpuNow(workerdPid), 1);
    if (o === null || o < cores) return waited;
  }
  return maxSeconds;
}

/** `--name value` from the command line, or `d` (a string: the caller converts). */
export function cliArg(name, d) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : d;
}

export function median(xs) {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

/**
 * The fixed-load comparison of bench/ablate.mjs and bench/taskcost.mjs: every row ({ row, url, opts })
 * measured in turn, `rounds` times, at `rate` req/s offered over `connections`. A slice during which
 * other processes used more than 0.25 core is measured again, at most twice, from 90 s of waiting in all.
 * Returns each row's slices, in order.
 */
export async function rotate(rows, { rounds, seconds, rate, workerdPid, connections = 50 }) {
  const results = Object.fromEntries(rows.map((r) => [r.row, []]));
  let quietBudget = 90;
  for (let round = 0; round < rounds; round++) {
    for (const r of rows) {
      let m;
      for (let attempt = 1; attempt <= 3; attempt++) {
        m = await measure({ url: r.url, connections, seconds, ...r.opts, workerdPid, overallRate: rate });
        if ((m.cpu_utilisation.other_processes ?? 0) <= 0.25 || quietBudget <= 0) break;
        quietBudget -= await waitForQuiet(workerdPid, 0.15, Math.min(10, quietBudget));
      }
      results[r.row].push(m);
    }
  }
  return results;
}

/** Prints rotate()'s medians over rounds, each row's CPU against row `reference`; returns the medians. */
export function printRotation(results, { reference, whatOf, verbose = false }) {
  const cpuOf = (row) => median(results[row].map((m) => m.cpu_us_per_request.workerd));
  const ref = cpuOf(reference);
  const width = Math.max(18, ...Object.keys(results).map((r) => r.length));
  console.log(`${"worker".padEnd(width)}  req/s   workerd CPU us/req   vs ${reference}   other load   what`);
  for (const [row, ms] of Object.entries(results)) {
    const cpu = cpuOf(row);
    const rps = median(ms.map((m) => m.req_per_s));
    const delta = row === reference ? "" : `${cpu - ref >= 0 ? "+" : ""}${(cpu - ref).toFixed(0)}`;
    const other = Math.max(...ms.map((m) => m.cpu_utilisation.other_processes ?? 0)).toFixed(2);
    console.log(
      `${row.padEnd(width)} ${rps.toFixed(0).padStart(6)}   ${cpu.toFixed(0).padStart(18)}   ` +
        `${delta.padStart(reference.length + 3)}   ${other.padStart(10)}   ${whatOf(row)}`,
    );
  }
  if (verbose) {
    for (const [row, ms] of Object.entries(results)) {
      console.log(`  ${row.padEnd(width)} ${ms.map((m) => m.cpu_us_per_request.workerd.toFixed(0)).join(" ")}`);
    }
  }
  return Object.fromEntries(Object.keys(results).map((r) => [r, cpuOf(r)]));
}
