/** Bindings of the Firebreak worker (wrangler.toml); service credentials are secrets named by the bundle. */
export interface Env {
  /** Analytics Engine dataset: one data point per decision (docs/analytics.md). */
  DECISIONS?: AnalyticsEngineDataset;
  /** `<service>.<GATEWAY_DOMAIN>` routes by host; empty: path routing only. */
  GATEWAY_DOMAIN?: string;
}
