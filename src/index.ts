/**
 * Worker entry: Firebreak's own API under /_firebreak/v1 and the proxied path for everything else.
 * The bundle is compiled by `firebreak compile` (wrangler's build step) and imported as JSON.
 */
import bundleJson from "../build/bundle.json";
import { createApp } from "./app";

export default createApp(bundleJson);
export { AgentObject } from "./tasks/agent-object";
export { BundleOrderObject } from "./tasks/bundle-order-object";
export { DirectoryObject } from "./tasks/directory-object";
export { TaskObject } from "./tasks/task-object";
