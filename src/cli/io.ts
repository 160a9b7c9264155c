/** What a CLI command touches of its process: the environment, the working directory, stdout, stderr, stdin. */
import { readFileSync } from "node:fs";

export interface Io {
  env: Record<string, string | undefined>;
  root: string;
  out: (s: string) => void;
  err: (s: string) => void;
  /** All of standard input (replay's `--from -`). */
  stdin?: () => string;
}

export const defaultIo = (): Io => ({
  env: process.env,
  root: process.cwd(),
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  stdin: () => readFileSync(0, "utf8"),
});
