/**
 * Conditions whose value does not depend on the call: `true`, `1 == 1`, `x || true`, `!false`. A
 * part of a condition that names no variable is evaluated as it stands (with the worker's own CEL);
 * `||`, `&&`, `!` and `?:` fold around it. Anything else is "depends on the call": the lint never
 * guesses about a condition it cannot prove constant.
 */
import { celEnvironment } from "../policy/cel";

interface Node {
  op: string;
  args: unknown;
  start?: number;
  end?: number;
}

const isNode = (v: unknown): v is Node =>
  typeof v === "object" && v !== null && typeof (v as Node).op === "string" && "args" in v;

/** Condition -> its constant value: ten thousand rules repeat a few hundred conditions. */
const known = new Map<string, boolean | null>();

/** true or false when the condition always has that value, null when it depends on the call. */
export function constantCondition(expr: string): boolean | null {
  let value = known.get(expr);
  if (value === undefined) {
    value = constantOf(astOf(expr), expr);
    if (known.size > 10_000) known.clear();
    known.set(expr, value);
  }
  return value;
}

function astOf(expr: string): unknown {
  let ast: unknown;
  try {
    ast = (celEnvironment().parse(expr) as unknown as { ast: unknown }).ast;
  } catch {
    return null;
  }
  return ast;
}

function constantOf(node: unknown, expr: string): boolean | null {
  if (!isNode(node)) return null;
  const args = Array.isArray(node.args) ? node.args : [];
  switch (node.op) {
    case "||": {
      const parts = args.map((a) => constantOf(a, expr));
      if (parts.includes(true)) return true;
      return parts.length > 0 && parts.every((p) => p === false) ? false : null;
    }
    case "&&": {
      const parts = args.map((a) => constantOf(a, expr));
      if (parts.includes(false)) return false;
      return parts.length > 0 && parts.every((p) => p === true) ? true : null;
    }
    case "!_": {
      const inner = constantOf(Array.isArray(node.args) ? node.args[0] : node.args, expr);
      return inner === null ? null : !inner;
    }
    case "?:": {
      const [test, yes, no] = args.map((a) => constantOf(a, expr));
      if (test === true) return yes ?? null;
      if (test === false) return no ?? null;
      return yes !== undefined && yes !== null && yes === no ? yes : null;
    }
    default:
      return namesVariable(node) ? null : evaluated(node, expr);
  }
}

function namesVariable(node: unknown): boolean {
  const stack: unknown[] = [node];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) stack.push(...v);
    else if (isNode(v)) {
      // `id`: a variable (macros such as has, all and exists read or bind one by its id).
      if (v.op === "id") return true;
      stack.push(v.args);
    }
  }
  return false;
}

/** The value of a part that names no variable, when it is a bool. */
function evaluated(node: Node, expr: string): boolean | null {
  if (node.op === "value") return typeof node.args === "boolean" ? node.args : null;
  if (node.start === undefined || node.end === undefined) return null;
  try {
    const value = celEnvironment().parse(expr.slice(node.start, node.end))({});
    return typeof value === "boolean" ? value : null;
  } catch {
    return null;
  }
}
