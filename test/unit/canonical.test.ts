/** Canonical path segments (route stage): every refusal, and RFC 3986 normalisation of what passes. */
import { describe, expect, it } from "vitest";
import { canonicalSegment, percentDecode } from "../../src/request/route";

describe("percentDecode", () => {
  it.each([
    ["plain", "plain"],
    ["a+b", "a+b"],
    ["%41", "A"],
    ["%6d%6D", "mm"],
    ["%20", " "],
    ["%25", "%"],
    ["%2541", "%41"],
    ["%C3%A9", "é"],
    ["%c3%a9", "é"],
    ["%E2%82%AC", "€"],
    ["%F0%9F%98%80", "😀"],
    ["", ""],
  ])("%j -> %j", (raw, decoded) => {
    expect(percentDecode(raw)).toBe(decoded);
  });

  it.each([
    ["%", "a lone %"],
    ["100%", "a trailing %"],
    ["%4", "one hex digit"],
    ["%zz", "not hex"],
    ["%G1", "not hex"],
    ["%%41", "% before an escape"],
    ["%C3", "a truncated UTF-8 sequence"],
    ["%C3%28", "an invalid continuation byte"],
    ["%FF", "an invalid UTF-8 byte"],
    ["%C0%AF", "an overlong encoding"],
    ["%ED%A0%80", "a UTF-16 surrogate"],
    ["%F4%90%80%80", "a code point beyond U+10FFFF"],
  ])("refuses %j (%s)", (raw) => {
    expect(percentDecode(raw)).toBeNull();
  });
});

describe("canonicalSegment: refusals", () => {
  it.each([
    ["", "route.empty_segment", undefined],
    ["a;b", "route.path_parameter", undefined],
    [";", "route.path_parameter", undefined],
    ["a\\b", "route.encoded_slash", "backslash"],
    ["%", "route.bad_encoding", undefined],
    ["%zz", "route.bad_encoding", undefined],
    ["%C3", "route.bad_encoding", undefined],
    ["%ED%A0%80", "route.bad_encoding", undefined],
    ["a%2Fb", "route.encoded_slash", undefined],
    ["a%2fb", "route.encoded_slash", undefined],
    ["a%5Cb", "route.encoded_slash", undefined],
    ["a%5cb", "route.encoded_slash", undefined],
    // encoded more than once: a slash to anything that decodes twice (or three times)
    ["a%252Fb", "route.encoded_slash", undefined],
    ["a%255cb", "route.encoded_slash", undefined],
    ["a%25252Fb", "route.encoded_slash", undefined],
    [".", "route.dot_segment", undefined],
    ["..", "route.dot_segment", undefined],
    ["%2E", "route.dot_segment", undefined],
    ["%2e%2E", "route.dot_segment", undefined],
    [".%2e", "route.dot_segment", undefined],
    ["%252E", "route.dot_segment", undefined],
    ["%252E%252e", "route.dot_segment", undefined],
    ["a%3Bb", "route.path_parameter", "encoded"],
    ["a%3bb", "route.path_parameter", "encoded"],
    ["a%00b", "route.control_character", "encoded"],
    ["a%0Ab", "route.control_character", "encoded"],
    ["a%0db", "route.control_character", "encoded"],
    ["a%1Fb", "route.control_character", "encoded"],
    ["a%7Fb", "route.control_character", "encoded"],
  ])("%j -> %s", (raw, reason, detail) => {
    const r = canonicalSegment(raw);
    expect(r).toMatchObject({ ok: false, reason });
    if (detail !== undefined) expect(r).toMatchObject({ detail });
  });
});

describe("canonicalSegment: normalisation", () => {
  it.each([
    // unreserved characters are decoded
    ["%6d", "m"],
    ["%6D", "m"],
    ["%6Derge", "merge"],
    ["%7e", "~"],
    ["%7E", "~"],
    ["%41%5a%30%39", "AZ09"],
    ["%2d%5f", "-_"],
    ["a%2eb", "a.b"],
    ["...", "..."],
    // other escapes stay escaped, upper-case
    ["%c3%a9", "%C3%A9"],
    ["%C3%A9", "%C3%A9"],
    ["caf%c3%a9", "caf%C3%A9"],
    ["%20", "%20"],
    ["a%25b", "a%25b"],
    ["%3f", "%3F"],
    ["%23", "%23"],
    ["%e2%82%ac", "%E2%82%AC"],
  ])("%j -> %j", (raw, canonical) => {
    expect(canonicalSegment(raw)).toEqual({ ok: true, value: canonical });
  });

  it.each(["plain", "chat.postMessage", "a-b_c~d.e", "v1.2.3", "a!$&'()*+,=:@b", "main...feature"])(
    "%j without escapes is kept as sent",
    (raw) => {
      expect(canonicalSegment(raw)).toEqual({ ok: true, value: raw });
    },
  );

  it("sub-delims, ':' and '@' sent raw stay raw next to escapes", () => {
    expect(canonicalSegment("a!$&'()*+,=:@%6d")).toEqual({ ok: true, value: "a!$&'()*+,=:@m" });
  });

  it("escaped sub-delims stay escaped and raw characters stay raw (RFC 3986 6.2.2)", () => {
    expect(canonicalSegment("%2b%3a%40")).toEqual({ ok: true, value: "%2B%3A%40" });
    expect(canonicalSegment("a|b%41")).toEqual({ ok: true, value: "a|bA" });
    expect(canonicalSegment("a+b%2B")).toEqual({ ok: true, value: "a+b%2B" });
  });

  it("the canonical form is a fixed point", () => {
    for (const raw of ["%6d", "%c3%a9", "a%2eb", "%7e%20x", "a!%41"]) {
      const once = canonicalSegment(raw);
      expect(once.ok).toBe(true);
      if (once.ok) expect(canonicalSegment(once.value)).toEqual(once);
    }
  });

  it("differently encoded spellings of the same name canonicalise to one value", () => {
    const values = ["merge", "%6derge", "%6Derge", "m%65rg%65", "%6D%65%72%67%65"].map((s) => canonicalSegment(s));
    for (const v of values) expect(v).toEqual({ ok: true, value: "merge" });
  });
});
