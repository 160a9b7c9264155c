// The table `npm run bench` prints and stores in bench/results/latest.json (`table`).

/** What each measured worker row is, by its key in `http.c<N>`. */
export function labelOf(key, c) {
  switch (key) {
    case "firebreak":
      return "firebreak (workload token, no task)";
    case "firebreak_fresh_tokens":
      return "firebreak, new token per request";
    case "firebreak_tasks":
      return c === 1 ? "firebreak, one task" : `firebreak, a task per connection (${c} tasks)`;
    case "firebreak_hot_task":
      return `firebreak, one hot task (${c} connections)`;
    case "floor":
      return c === 1
        ? "floor: pass-through + 1 DO write (1 object)"
        : `floor: pass-through + 1 DO write (${c} objects)`;
    default:
      return key;
  }
}

/** The ratio column of a row: bold for the figures with a target, in parentheses for the others. */
function ratioOf(h, key) {
  if (key === "firebreak") return h.ratio.toFixed(3);
  if (key === "firebreak_tasks") return h.ratio_tasks.toFixed(3);
  if (key === "firebreak_hot_task") return `(${h.ratio_hot_task.toFixed(3)})`;
  if (key === "firebreak_fresh_tokens") return `(${h.ratio_fresh_tokens.toFixed(3)})`;
  if (key === "floor") return `(${h.ratio_floor.toFixed(3)})`;
  return "";
}

/** The task rows over the floor measured in the same rounds: bold where there is a target (c=50). */
function floorRatioOf(h, key) {
  if (key === "firebreak_tasks" && h.ratio_tasks_vs_floor !== undefined) return h.ratio_tasks_vs_floor.toFixed(3);
  if (key === "firebreak_hot_task" && h.ratio_hot_task_vs_floor !== undefined)
    return `(${h.ratio_hot_task_vs_floor.toFixed(3)})`;
  return "";
}

const ROW_ORDER = [
  "passthrough",
  "floor",
  "firebreak",
  "firebreak_fresh_tokens",
  "firebreak_tasks",
  "firebreak_hot_task",
];

export function table(o, concurrency, ruleCounts) {
  const lines = [];
  if (o.http) {
    lines.push(
      "| concurrency | worker | req/s | p50 ms | p99 ms | workerd CPU us/req | Firebreak / pass-through | Firebreak / floor |",
    );
    lines.push("|---|---|---:|---:|---:|---:|---:|---:|");
    for (const c of concurrency) {
      const h = o.http[`c${c}`];
      for (const key of ROW_ORDER.filter((k) => h[k])) {
        const m = h[key];
        lines.push(
          `| ${c} | ${labelOf(key, c)} | ${m.req_per_s.toFixed(0)} | ${m.latency_ms.p50.toFixed(3)} | ` +
            `${m.latency_ms.p99.toFixed(3)} | ${m.cpu_us_per_request.workerd ?? "n/a"} | ${ratioOf(h, key)} | ` +
            `${floorRatioOf(h, key)} |`,
        );
      }
    }
    lines.push("");
  }
  const rt = o.http?.do_round_trips;
  if (rt) {
    lines.push(
      "| concurrency | task row | requests | DO round trips per call before the answer | unawaited | after | in all | by binding: method before/unawaited/after |",
    );
    lines.push("|---|---|---:|---:|---:|---:|---:|---|");
    for (const c of concurrency) {
      for (const key of ["firebreak_tasks", "firebreak_hot_task"]) {
        const f = rt[`c${c}`]?.[key];
        if (!f) continue;
        const by = Object.entries(f.by_binding)
          .flatMap(([b, x]) =>
            Object.entries(x.methods).map(([m, n]) => `${b}.${m} ${n.before}/${n.unawaited}/${n.after}`),
          )
          .join(", ");
        lines.push(
          `| ${c} | ${labelOf(key, c)} | ${f.requests} | ${f.before_answer} | ${f.unawaited} | ${f.after_answer} | ` +
            `${f.total} | ${by || "none"} |`,
        );
      }
    }
    lines.push("");
  }
  if (o.bundle) {
    const b = o.bundle;
    lines.push("| shipped bundle | actions | KiB | gzip KiB | cold load ms | load p50 ms | compile ms |");
    lines.push("|---|---:|---:|---:|---:|---:|---:|");
    lines.push(
      `| ${b.services} services | ${b.actions} | ${(b.bytes / 1024).toFixed(0)} | ${(b.gzip_bytes / 1024).toFixed(0)} | ` +
        `${b.load_ms.cold} | ${b.load_ms.p50} | ${b.compile_ms} |`,
    );
    lines.push("");
  }
  if (o.micro) {
    lines.push(
      "| rules | classify+decide p50 us | classify p50 us | decide p50 us | rules scanned (sub + any) | compile ms |",
    );
    lines.push("|---:|---:|---:|---:|---:|---:|");
    for (const n of ruleCounts) {
      const m = o.micro[String(n)];
      lines.push(
        `| ${n} | ${m.classify_decide_us.p50.toFixed(3)} | ${m.classify_us.p50.toFixed(3)} | ${m.decide_us.p50.toFixed(3)} | ` +
          `${m.scanned_for_request.by_sub} + ${m.scanned_for_request.any} | ${m.compile_ms.toFixed(0)} |`,
      );
    }
    lines.push("");
  }
  const t = [];
  if (o.http) {
    t.push(
      `ratio at c=50 ${o.throughput_ratio_c50.toFixed(3)} (target >= ${o.targets.throughput_ratio_c50_min}: ` +
        `${yes(o.targets_met.throughput_ratio_c50)}; by workerd CPU per request ${o.cpu_ratio_c50.toFixed(3)}: ` +
        `Firebreak adds ${o.firebreak_added_workerd_cpu_us_c50} us)`,
    );
    if (o.throughput_ratio_c50_tasks !== undefined) {
      t.push(
        `ratio with a task per connection at c=50 ${o.throughput_ratio_c50_tasks.toFixed(3)} ` +
          `(target >= ${o.targets.throughput_ratio_c50_tasks_min}: ${yes(o.targets_met.throughput_ratio_c50_tasks)}; ` +
          `by workerd CPU per request ${o.cpu_ratio_c50_tasks.toFixed(3)}: admission adds ` +
          `${o.tasks_added_workerd_cpu_us_c50} us to Firebreak's path; one hot task ` +
          `${o.throughput_ratio_c50_hot_task.toFixed(3)})`,
      );
    }
    if (o.throughput_ratio_c50_tasks_vs_floor !== undefined) {
      t.push(
        `ratio with a task per connection over the floor at c=50 ${o.throughput_ratio_c50_tasks_vs_floor.toFixed(3)} ` +
          `(target >= ${o.targets.throughput_ratio_c50_tasks_vs_floor_min}: ` +
          `${yes(o.targets_met.throughput_ratio_c50_tasks_vs_floor)}; by workerd CPU per request ` +
          `${o.cpu_ratio_c50_tasks_vs_floor.toFixed(3)}: the task path adds ${o.tasks_over_floor_workerd_cpu_us_c50} us ` +
          `over the floor, the floor ${o.floor_added_workerd_cpu_us_c50} us over the pass-through)`,
      );
    }
    if (o.do_round_trips_per_task_call !== undefined) {
      const rows = Object.keys(o.do_round_trips_per_task_call)
        .map((k) => `${k} ${o.do_round_trips_per_task_call[k]} (${o.do_round_trips_per_task_call_total[k]} in all)`)
        .join(", ");
      t.push(
        `Durable Object round trips per task call before the answer: ${rows} ` +
          `(target <= ${o.targets.do_round_trips_per_task_call_max}: ${yes(o.targets_met.do_round_trips_per_task_call)})`,
      );
    }
  }
  if (o.micro) {
    t.push(
      `classify+decide p50 at 1,000 rules ${o.decide_us_p50["1000"]} us (target <= 5: ${yes(o.targets_met.decide_us_p50_at_1000)})`,
    );
    t.push(`10,000 / 10 rules ${o.decide_10000_over_10}x (target <= 1.2: ${yes(o.targets_met.decide_10000_over_10)})`);
    t.push(`compile at 10,000 rules ${o.compile_ms_10000} ms (target <= 1000: ${yes(o.targets_met.compile_ms_10000)})`);
  }
  lines.push(`Targets: ${t.join("; ")}`);
  return lines.join("\n");
}

function yes(b) {
  return b ? "met" : "NOT met";
}

export function round(x, d) {
  return Math.round(x * 10 ** d) / 10 ** d;
}
