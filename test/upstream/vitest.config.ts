// Runs the upstream tests with the real peers (docker-registry ×3, token server, proxies) that
// global-setup.mjs starts. From the repository root: npx vitest run --config test/upstream/vitest.config.ts
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [cloudflareTest({ main: "./src/index.ts", wrangler: { configPath: "./wrangler.toml" } })],
  test: {
    include: ["test/upstream/**/*.test.ts"],
    globalSetup: ["./test/upstream/global-setup.mjs"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
