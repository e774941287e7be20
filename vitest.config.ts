import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [
    cloudflareTest({
      main: "./src/index.ts",
      wrangler: { configPath: "./wrangler.toml" },
      // A short grace window so lifecycle tests can watch releases and deletions happen (test/lifecycle).
      // Retention policies for the repositories test/lifecycle/retention.test.ts uses (retain/…).
      miniflare: {
        bindings: {
          // The existing suites test the registry, not access control: they run open, explicitly.
          // test/auth calls the Worker with AUTH_MODE=required in its own env.
          AUTH_MODE: "open",
          BLOB_GRACE_SECONDS: "3",
          // test/v2/upload-sessions.test.ts waits for a stalled body to time out.
          BODY_IDLE_TIMEOUT_SECONDS: "2",
          // test/upstream/cache-fill.test.ts watches a fill give up: 3 attempts (2 s, 4 s backoff), not 6.
          FILL_RETRIES: "2",
          RETENTION_POLICIES: JSON.stringify([
            { repositories: "retain/keep/**", keepTags: [{ pattern: "build-*", keep: 2 }], deleteUntaggedAfter: "0s" },
            { repositories: "retain/**", deleteUntaggedAfter: 0 },
            { repositories: "docker.io/retain/**", evictUnpulledAfter: "30d" },
          ]),
        },
      },
    }),
  ],
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // Real upstream registries (docker-registry, token server, fault proxies) for the upstream client tests.
    // A local GitHub-like OIDC issuer (discovery + JWKS on loopback) for test/auth/github-oidc.test.ts.
    globalSetup: ["./test/upstream/global-setup.mjs", "./test/oidc/global-setup.mjs"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
