/**
 * The CEL environment for rule conditions, shared by the compiler (type checks) and the worker
 * (evaluation). Library choice and measurements: docs/decisions/cel.md.
 */
import { Environment } from "@marcbachmann/cel-js";

export const CEL_VARIABLES = {
  agent: "map<string, dyn>",
  action: "map<string, dyn>",
  resource: "string",
  request: "map<string, dyn>",
  task: "map<string, dyn>",
  now: "google.protobuf.Timestamp",
} as const;

let shared: Environment | undefined;

export function celEnvironment(): Environment {
  if (!shared) {
    let env = new Environment({
      unlistedVariablesAreDyn: false,
      limits: { maxAstNodes: 2000, maxDepth: 50, maxListElements: 500, maxMapEntries: 500, maxCallArguments: 16 },
    });
    for (const [name, type] of Object.entries(CEL_VARIABLES)) env = env.registerVariable(name, type);
    shared = env;
  }
  return shared;
}

export interface CelContext {
  agent: Record<string, unknown>;
  action: Record<string, unknown>;
  resource: string;
  request: Record<string, unknown>;
  task: Record<string, unknown>;
  now: Date;
}

export type Condition = (ctx: CelContext) => unknown;

/** Parses a condition once; evaluation then costs about a microsecond. */
export function compileCondition(expr: string): Condition {
  const parsed = celEnvironment().parse(expr);
  return (ctx) => parsed(ctx as unknown as Record<string, unknown>);
}

/** Type-checks a condition against the declared variables; returns an error message or null. */
export function checkCondition(expr: string): string | null {
  try {
    const result = celEnvironment().check(expr);
    if (!result.valid) return result.error?.message ?? "invalid expression";
    if (result.type !== "bool" && result.type !== "dyn") {
      return `the condition must be a bool, but it is a ${result.type}`;
    }
    return null;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}
