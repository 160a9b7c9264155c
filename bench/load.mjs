// One autocannon measurement, in this Node process (programmatic API). Latencies are recorded from
// autocannon's per-response event, in microseconds: its own histogram keeps whole milliseconds, too
// coarse for sub-millisecond answers.
import { readdirSync, readFileSync } from "node:fs";
import autocannon from "autocannon";

export async function measure({ url, connections, seconds, headers, workerdPid = null }) {
  const latenciesMs = [];
  const cpu0 = cpuNow(workerdPid);
  const instance = autocannon({ url, connections, duration: seconds, headers, pipelining: 1 });
  instance.on("response", (_client, statusCode, _bytes, responseTimeMs) => {
    if (statusCode >= 200 && statusCode < 300) latenciesMs.push(responseTimeMs);
  });
  const r = await instance;
  const cpu1 = cpuNow(workerdPid);
  const ok = r["2xx"];
  const failed = r.non2xx + r.errors + r.timeouts + r.resets + r.mismatches;
  if (failed > 0 || ok === 0) {
    throw new Error(
      `${url} at c=${connections}: ${ok} 2xx, ${r.non2xx} non-2xx (${JSON.stringify(r.statusCodeStats)}), ` +
        `${r.errors} errors, ${r.timeouts} timeouts, ${r.resets} resets: the measurement is void`,
    );
  }
  const sorted = Float64Array.from(latenciesMs).sort();
  const q = (p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  return {
    connections,
    duration_s: r.duration,
    requests_2xx: ok,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    req_per_s: ok / r.duration,
    latency_ms: {
      p50: round(q(0.5), 3),
      p90: round(q(0.9), 3),
      p99: round(q(0.99), 3),
      max: round(sorted[sorted.length - 1], 3),
      mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length, 3),
    },
    cpu_us_per_request: {
      node_load_generator: round((cpu1.node - cpu0.node) / ok, 1),
      workerd: cpu0.workerd === null || cpu1.workerd === null ? null : round((cpu1.workerd - cpu0.workerd) / ok, 1),
    },
    cpu_utilisation: {
      other_processes: otherCores(cpu0, cpu1, r.duration),
      node_load_generator: round((cpu1.node - cpu0.node) / (r.duration * 1e6), 2),
      workerd:
        cpu0.workerd === null || cpu1.workerd === null
          ? null
          : round((cpu1.workerd - cpu0.workerd) / (r.duration * 1e6), 2),
    },
    autocannon: {
      requests_per_s_mean: r.requests.average,
      requests_per_s_stddev: r.requests.stddev,
      latency_ms_whole: { p50: r.latency.p50, p99: r.latency.p99, mean: r.latency.average },
    },
  };
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
