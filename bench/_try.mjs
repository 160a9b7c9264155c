import { register } from "tsx/esm/api";

register();
const { runMicro } = await import("/work/main/bench/micro.mjs");
const r = await runMicro("/work/main", process.argv.slice(2).map(Number));
for (const [k, v] of Object.entries(r)) console.log(k, v._rounds, v.decide_us.p50, v.classify_us.p50);
