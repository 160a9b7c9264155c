import { generateKeyPairSync } from "node:crypto";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import keys from "./test/fixtures/keys.json" with { type: "json" };
import { outbound } from "./test/helpers/upstream.ts";

/** Canary credentials: tests assert they reach the upstream and never appear anywhere else. */
export const CANARY = {
  GITHUB_TOKEN: "canary-gh-7f3a9c2e1b",
  SLACK_BOT_TOKEN: "canary-slack-5d8e2a6f0c",
  STRIPE_SECRET_KEY: "canary-stripe-9b1c4e7a3d",
  // The approval webhook URL is a secret too (a Slack incoming webhook carries its token in the path).
  FIREBREAK_APPROVAL_WEBHOOK: "https://hooks.test.example/services/T0/B0/canary-webhook-4e1f9a",
};

/** A task signing key for this run only (tests that need another bind their own through app.fetch's env). */
const TASK_KEY = {
  ...generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }),
  kid: "test-task-key",
  alg: "EdDSA",
};

/**
 * A bundle signing key for this run only (test/integration/signed-bundles.test.ts): its public half is
 * the trusted FIREBREAK_BUNDLE_KEYS; the private half reaches that test as a binding, the way an operator's
 * key stays outside the worker's configuration. The KV namespace that test pushes to is BUNDLES_TEST, bound
 * as BUNDLES only in its own requests, so every other test runs on its built-in bundle as a deploy does.
 */
const BUNDLE_KEY = { ...generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }), kid: "test-bundle-key" };
const { d: _d, ...BUNDLE_PUBLIC_KEY } = BUNDLE_KEY;

export default defineConfig({
  test: {
    globalSetup: ["./test/helpers/global-setup.ts"],
    // The JSON report lets .ci/run print one plain "N passed, N failed" line.
    reporters: ["default", ["json", { outputFile: "build/test-results.json" }]],
    projects: [
      {
        // Pure stages, the compiler and the CLI: plain Node.
        test: {
          name: "node",
          include: ["test/unit/**/*.test.ts", "test/compiler/**/*.test.ts", "test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        // The worker inside workerd, every outbound fetch caught by the recording fake upstream.
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                ...CANARY,
                GATEWAY_DOMAIN: "gw.test.example",
                GATEWAY_ORIGIN: "https://firebreak.test.example",
                FIREBREAK_TASK_KEY: JSON.stringify(TASK_KEY),
                TEST_ISSUER_JWKS: JSON.stringify({ keys: [keys.es256.public] }),
                // The fake GitHub App's key and the fake OAuth client's secret (test/helpers/token-servers.ts).
                GITHUB_APP_KEY: JSON.stringify(keys.rs256.private),
                OAUTH_CLIENT_SECRET: "canary-oauth-client-3c7d1e",
                FIREBREAK_BUNDLE_KEYS: JSON.stringify({ keys: [BUNDLE_PUBLIC_KEY] }),
                TEST_BUNDLE_SIGNING_KEY: JSON.stringify(BUNDLE_KEY),
              },
              kvNamespaces: ["BUNDLES_TEST"],
              outboundService: outbound,
            },
          }),
        ],
        test: {
          name: "workers",
          include: ["test/integration/**/*.test.ts"],
          setupFiles: ["./test/helpers/no-egress.ts"],
          testTimeout: 20_000,
        },
      },
    ],
  },
});
