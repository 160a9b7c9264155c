/**
 * What a CLI command printed: console.log lines in `out`, console.error lines in `err` (and, with
 * `stdout`, process.stdout.write chunks in `out` too), emptied before each test and restored after it.
 * Call it at the top of a test file; the arrays stay the same objects, so `err.length = 0` clears one.
 */
import { afterEach, beforeEach, vi } from "vitest";

export function captureConsole(opts: { stdout?: boolean } = {}): { out: string[]; err: string[] } {
  const seen = { out: [] as string[], err: [] as string[] };
  beforeEach(() => {
    seen.out.length = 0;
    seen.err.length = 0;
    vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void seen.out.push(a.join(" ")));
    vi.spyOn(console, "error").mockImplementation((...a: unknown[]) => void seen.err.push(a.join(" ")));
    if (opts.stdout)
      vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => {
        seen.out.push(String(s));
        return true;
      });
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  return seen;
}
