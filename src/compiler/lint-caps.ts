/**
 * Defaults of the caps in `lint.caps` of policies/firebreak.yaml: the lint applies them, the JSON
 * Schema publishes them. A module of its own, so that the schema imports nothing the compiler's
 * source reader imports back.
 */
export const DEFAULT_CAPS = { task_ttl: 900, task_lifetime: 14_400, calls: 500, calls_per_minute: 120 } as const;
