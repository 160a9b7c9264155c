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
    // Added: ReDoS protection. cel-js runs matches() with a backtracking JS RegExp, so every pattern
    // must be a literal the compiler can prove safe (see "CEL conditions" in docs/policy-format.md).
    return checkMatchesCalls((celEnvironment().parse(expr) as unknown as { ast: unknown }).ast);
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** A cel-js AST node: `{ op, args }`, where args nest nodes, arrays of nodes and plain values. */
interface CelNode {
  op: string;
  args: unknown;
}

const isNode = (v: unknown): v is CelNode =>
  typeof v === "object" && v !== null && typeof (v as CelNode).op === "string" && "args" in v;

/**
 * Walks the parsed AST and checks the pattern of every `x.matches(p)` (op `rcall`) and `matches(x, p)`
 * (op `call`): it must be a string literal that `regexProblem` accepts. Returns the first problem.
 */
export function checkMatchesCalls(ast: unknown): string | null {
  const stack: unknown[] = [ast];
  while (stack.length > 0) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      stack.push(...v);
      continue;
    }
    if (!isNode(v)) continue;
    const args = v.args;
    if ((v.op === "rcall" || v.op === "call") && Array.isArray(args) && args[0] === "matches") {
      // rcall: [name, receiver, [pattern]]; call: [name, [subject, pattern]].
      const list = v.op === "rcall" ? args[2] : args[1];
      const pattern = Array.isArray(list) ? list[list.length - 1] : undefined;
      if (!isNode(pattern) || pattern.op !== "value" || typeof pattern.args !== "string") {
        return 'the pattern of matches() must be a string literal, e.g. resource.matches("^repo:acme/[a-z-]+$"): move the variable part to the left of .matches()';
      }
      const bad = regexProblem(pattern.args);
      if (bad) return `matches(${JSON.stringify(pattern.args)}): ${bad}`;
    }
    if (Array.isArray(args)) stack.push(...args);
    else if (typeof args === "object" && args !== null) stack.push(args);
  }
  return null;
}

/**
 * Why a regular expression could backtrack catastrophically in a JS (backtracking) engine, or null.
 * Refused: backreferences, lookaround, and a repeated group (`*`, `+`, `{n,}`, `{n,m}` with m > 1)
 * that itself contains a quantifier or an alternation: `(a+)+`, `(a*)*`, `(a|aa)+`, `(.*a){3}`.
 */
export function regexProblem(pattern: string): string | null {
  try {
    new RegExp(pattern);
  } catch {
    return INVALID_REGEX;
  }
  const scan: Scan = { pattern, i: 0, top: { quantified: false, alternation: false }, outer: [], last: null };
  while (scan.i < pattern.length) {
    const problem = step(scan);
    if (problem !== null) return problem;
  }
  return null;
}

const INVALID_REGEX = "is not a valid regular expression: fix its syntax";

/** A group of the pattern: whether it contains a quantifier or an alternation (so far). */
interface Frame {
  quantified: boolean;
  alternation: boolean;
}

/** How far `regexProblem` has read its pattern. */
interface Scan {
  pattern: string;
  i: number;
  /** The group being read (at first the whole pattern), and the groups around it, innermost last. */
  top: Frame;
  outer: Frame[];
  /** The atom a following quantifier applies to: a closed group (with what it contains) or anything else. */
  last: Frame | "atom" | null;
}

/** Reads one token at `s.i` (an escape, a class, a group's opening or end, `|`, a quantifier or a character). */
function step(s: Scan): string | null {
  switch (s.pattern[s.i]) {
    case "\\":
      return readEscape(s);
    case "[":
      skipClass(s);
      return null;
    case "(":
      return openGroup(s);
    case ")":
      return closeGroup(s);
    case "|":
      s.top.alternation = true;
      s.i++;
      s.last = null;
      return null;
    default:
      return quantifierOrAtom(s);
  }
}

function readEscape(s: Scan): string | null {
  const n = s.pattern[s.i + 1] ?? "";
  if (/[1-9]/.test(n) || s.pattern.startsWith("k<", s.i + 1)) {
    return `uses a backreference (\\${n}${n === "k" ? "<" : ""}): remove it, patterns must not refer back to a group`;
  }
  s.i += 2;
  s.last = "atom";
  return null;
}

/** A character class is one atom; `]` right after `[` or `[^` closes it (JS: empty / any class). */
function skipClass(s: Scan): void {
  const { pattern } = s;
  let j = s.i + 1;
  if (pattern[j] === "^") j++;
  while (j < pattern.length && pattern[j] !== "]") j += pattern[j] === "\\" ? 2 : 1;
  s.i = j + 1;
  s.last = "atom";
}

function openGroup(s: Scan): string | null {
  const { pattern, i } = s;
  const look = /^\(\?(<=|<!|=|!)/.exec(pattern.slice(i));
  if (look) {
    return `uses lookaround "${look[0]}": remove it, or split the test into several matches() joined with && and !`;
  }
  s.outer.push(s.top);
  s.top = { quantified: false, alternation: false };
  // Skip the group's opening: `(`, `(?:` or `(?<name>`.
  s.i = !pattern.startsWith("(?", i) ? i + 1 : pattern.startsWith("(?<", i) ? pattern.indexOf(">", i) + 1 : i + 3;
  s.last = null;
  return null;
}

function closeGroup(s: Scan): string | null {
  const parent = s.outer.pop();
  // `new RegExp` refused an unbalanced `)`; should this scan ever disagree with it, refuse the pattern.
  if (parent === undefined) return INVALID_REGEX;
  parent.quantified ||= s.top.quantified;
  parent.alternation ||= s.top.alternation;
  s.last = s.top;
  s.top = parent;
  s.i++;
  return null;
}

function quantifierOrAtom(s: Scan): string | null {
  const q = /^(?:[*+?]|\{(\d+)(,(\d*))?\})\??/.exec(s.pattern.slice(s.i));
  const { last } = s;
  if (q === null || last === null) {
    s.i++;
    s.last = "atom";
    return null;
  }
  // The most times the quantifier repeats its atom: `?`, `{0,1}` and `{1}` do not repeat.
  let max = q[0][0] === "?" ? 1 : Number.POSITIVE_INFINITY;
  if (q[0][0] === "{") max = q[2] === undefined ? Number(q[1]) : q[3] === "" ? max : Number(q[3]);
  if (max > 1 && typeof last === "object" && (last.quantified || last.alternation)) {
    return `repeats a group that contains a quantifier or an alternation (nested quantifiers, e.g. "(a+)+", "(a|aa)+", "(.*a){3}"): remove the inner quantifier or the repetition of the group (e.g. "(a+)+" -> "a+", "(a|b)+" -> "[ab]+")`;
  }
  s.top.quantified = true;
  s.i += q[0].length;
  s.last = null;
  return null;
}
