#!/usr/bin/env node
// The firebreak CLI runs its TypeScript sources through tsx: one language, no separate build step.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
