/** CEL conditions: compile-time checks, including the ReDoS guard on matches(). */
import { describe, expect, it } from "vitest";
import { celEnvironment, checkCondition, checkMatchesCalls, regexProblem } from "../../src/policy/cel";

describe("checkCondition", () => {
  it.each([
    'resource.startsWith("repo:acme/")',
    'has(request.args.channel) && request.args.channel == "C0TRIAGE01"',
    'action.risk in ["high", "critical"] && !(agent.sub in ["a", "b"])',
    "request.args.amount > 50000",
    'now.getHours("UTC") >= 9',
  ])("accepts %s", (expr) => {
    expect(checkCondition(expr)).toBeNull();
  });

  it.each([
    ['resource.startsWith("a"', "Expected"],
    ['agnet.sub == "x"', "Unknown variable: agnet"],
    ["resource + 1", "no such overload"],
    ["resource", "must be a bool, but it is a string"],
    ["1 + 2", "must be a bool, but it is a int"],
  ])("refuses %s", (expr, message) => {
    expect(checkCondition(expr)).toContain(message);
  });
});

describe("matches(): the pattern", () => {
  it.each([
    'resource.matches("^repo:acme/[a-z0-9-]+$")',
    'request.path.matches(r"^/v\\d+/")',
    'request.args.ref.matches("^(heads|tags)/")',
    '"pii" in action.data && !resource.matches("^channel:C0[0-9A-Z]+$")',
    '[1, 2].exists(x, resource.matches("^item:(-[0-9]+)?$"))',
  ])("accepts %s", (expr) => {
    expect(checkCondition(expr)).toBeNull();
  });

  it.each([
    "resource.matches(request.args.pattern)",
    'resource.matches("^" + agent.sub)',
    "resource.matches(agent.sub)",
    "[1].exists(x, resource.matches(request.path))",
    "true ? resource.matches(resource) : false",
  ])("must be a string literal: %s", (expr) => {
    expect(checkCondition(expr)).toContain("the pattern of matches() must be a string literal");
  });

  it("refuses an unsafe pattern anywhere in the expression", () => {
    expect(checkCondition('resource != "" && (agent.sub == "x" || resource.matches("(a+)+$"))')).toContain(
      'matches("(a+)+$"): repeats a group',
    );
    expect(checkCondition('{"k": resource.matches("a(?=b)")}["k"]')).toContain("uses lookaround");
    expect(checkCondition('[1].all(x, request.path.matches("(x)\\\\1"))')).toContain("backreference");
  });

  it("walks both call forms of the cel-js AST", () => {
    // `matches(s, p)` does not type-check in cel-js today, so exercise the walker on the parsed AST.
    const ast = (e: string) => (celEnvironment().parse(e) as unknown as { ast: unknown }).ast;
    expect(checkMatchesCalls(ast('matches(resource, "(a*)*")'))).toContain("repeats a group");
    expect(checkMatchesCalls(ast("matches(resource, request.path)"))).toContain("must be a string literal");
    expect(checkMatchesCalls(ast('matches(resource, "^a$")'))).toBeNull();
    expect(checkMatchesCalls(ast('resource.startsWith("(a+)+")'))).toBeNull();
  });
});

describe("regexProblem", () => {
  it.each([
    "^repo:acme/[a-z-]+$",
    "^channel:C0[0-9A-Z]+$",
    "\\d+\\.\\d+",
    "(ab)+",
    "(?:ab)*",
    "(a+)?",
    "(a|b)?",
    "(ab){2}",
    "(a){1}",
    "(a+){0,1}",
    "[(]+",
    "[\\]]+",
    "\\(a+\\)+",
    "a{2,}b*c?",
    "^(heads|tags)/",
    "\\0",
    "a{",
  ])("accepts %j", (pattern) => {
    expect(regexProblem(pattern)).toBeNull();
  });

  it.each([
    ["(a+)+", "nested"],
    ["(a*)*", "nested"],
    ["(a|aa)+", "nested"],
    ["(.*a){3}", "nested"],
    ["(a?){30}", "nested"],
    ["((a)+)+", "nested"],
    ["(x(a|b))+", "nested"],
    ["(?<n>a+)*", "nested"],
    ["(?:a+)+", "nested"],
    ["(a{2,})+", "nested"],
    ["(a+){2,5}", "nested"],
    ["^(\\w+\\s?)*$", "nested"],
    ["(a)\\1", "backreference"],
    ["(a)(b)\\2", "backreference"],
    ["\\9", "backreference"],
    ["(?<x>a)\\k<x>", "backreference"],
    ["a(?=b)", "lookaround"],
    ["a(?!b)", "lookaround"],
    ["(?<=a)b", "lookaround"],
    ["(?<!a)b", "lookaround"],
    ["(", "not a valid regular expression"],
    ["a**", "not a valid regular expression"],
  ])("refuses %j (%s)", (pattern, kind) => {
    const problem = regexProblem(pattern);
    expect(problem).not.toBeNull();
    const expected = {
      nested: "repeats a group that contains a quantifier or an alternation",
      backreference: "uses a backreference",
      lookaround: "uses lookaround",
      "not a valid regular expression": "is not a valid regular expression",
    }[kind];
    expect(problem).toContain(expected);
  });

  it("every refusal says what to change", () => {
    for (const p of ["(a+)+", "(a)\\1", "a(?=b)", "("]) expect(regexProblem(p)).toMatch(/: (remove|fix)/);
  });
});
