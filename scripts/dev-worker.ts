/**
 * `npm start`'s worker (wrangler.toml's [env.dev] `main`): src/index.ts with the dev bundle, which
 * `firebreak build --dev` writes to build/dev/bundle.json. A file of its own, so that a `firebreak compile`
 * or an `npm test` (both write build/bundle.json) never replaces what a running `npm start` serves.
 * The Durable Object classes are the ones src/index.ts exports (test/unit/dev-bundle.test.ts checks).
 */
import devBundle from "../build/dev/bundle.json";
import { createApp } from "../src/app";

export default createApp(devBundle);
export { AgentObject } from "../src/tasks/agent-object";
export { BundleOrderObject } from "../src/tasks/bundle-order-object";
export { DirectoryObject } from "../src/tasks/directory-object";
export { TaskObject } from "../src/tasks/task-object";
