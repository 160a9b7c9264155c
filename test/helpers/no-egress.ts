/**
 * Setup file of the workers project: after each test file, no outbound request may have gone to a
 * host the fake upstream does not stand in for. Unmocked egress fails the run; it never reaches the
 * internet (test/helpers/upstream.ts refuses it).
 */
import { afterAll, expect } from "vitest";

afterAll(async () => {
  const unmocked = (await (await fetch("http://recorder.test/unmocked")).json()) as string[];
  expect(unmocked, "outbound requests to hosts no fake stands in for").toEqual([]);
});
