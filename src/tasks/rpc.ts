/** Durable Object calls bounded in time: every caller of an object (gateway, API, directory, dashboard) uses these. */
import { withTimeout } from "../core/timeout";

export const TASK_RPC_TIMEOUT_MS = 5000;

/**
 * A Durable Object call bounded by TASK_RPC_TIMEOUT_MS. RPC results are thenables of a union, so the
 * caller names the plain type T.
 */
export function rpcCall<T>(p: PromiseLike<unknown>): Promise<T> {
  return withTimeout(Promise.resolve(p) as Promise<T>, TASK_RPC_TIMEOUT_MS);
}
