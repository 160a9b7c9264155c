/** Stage 4 around the evaluator: which actions make the gateway fetch the task's state first. */
import { describe, expect, it } from "vitest";
import { loadBundle } from "../../src/policy/load";
import { readsTaskState } from "../../src/request/decide";
import gatewayBundle from "../.generated/gateway.json" with { type: "json" };

const bundle = loadBundle(gatewayBundle);
const action = (name: string) => {
  const i = bundle.actionIndex.get(name);
  if (i === undefined) throw new Error(name);
  return i;
};

describe("readsTaskState", () => {
  it("is true only for actions a rule reading task.calls/services/labels_read can decide", () => {
    // Rules lookups-early-in-a-task, counted-reads and counted-render-later (gateway fixture) read task.calls.
    expect(readsTaskState(bundle, action("slack:users.info"))).toBe(true);
    expect(readsTaskState(bundle, action("github:issues.get"))).toBe(false);
    expect(readsTaskState(bundle, action("github:pulls.merge"))).toBe(false);
    const reading = bundle.spec.actions.filter((_, i) => readsTaskState(bundle, i)).map((a) => a.name);
    expect(reading).toEqual(["github:user.get", "github:markdown.render", "slack:users.info"]);
  });
});
