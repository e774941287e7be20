// Starts Debian's docker-registry (distribution 2.8.2) on 127.0.0.1 with a generated config.
import { spawn } from "node:child_process";
import { openSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

export const REGISTRY_BINARY = process.env.BERTH_DOCKER_REGISTRY ?? "/usr/bin/docker-registry";

/** A port that was free a moment ago (loopback only). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * auth: undefined (open) | { htpasswd: path } | { token: { realm, service, issuer, rootcertbundle } }
 * Returns { url, port, stop(), log } once GET /v2/ answers.
 */
export async function startRegistry({ name, dir, storage, auth }) {
  const port = await freePort();
  const lines = [
    "version: 0.1",
    "log:",
    "  level: warn",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${storage}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    `  secret: berth-test-${name}`,
  ];
  if (auth?.htpasswd) {
    lines.push("auth:", "  htpasswd:", "    realm: berth-test", `    path: ${auth.htpasswd}`);
  } else if (auth?.token) {
    const t = auth.token;
    lines.push("auth:", "  token:", `    realm: ${t.realm}`, `    service: ${t.service}`, `    issuer: ${t.issuer}`, `    rootcertbundle: ${t.rootcertbundle}`);
  }
  const config = join(dir, `registry-${name}.yml`);
  writeFileSync(config, lines.join("\n") + "\n");
  const logPath = join(dir, `registry-${name}.log`);
  const out = openSync(logPath, "a");
  const child = spawn(REGISTRY_BINARY, ["serve", config], { stdio: ["ignore", out, out] });
  let exited = false;
  // Never outlive the test run, even when teardown does not get to run.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  child.on("exit", () => {
    exited = true;
    process.off("exit", killOnExit);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (exited) throw new Error(`docker-registry ${name} exited:\n${readFileSync(logPath, "utf8")}`);
    try {
      const response = await fetch(`${url}/v2/`);
      if (response.status === 200 || response.status === 401) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`docker-registry ${name} did not start:\n${readFileSync(logPath, "utf8")}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    name,
    url,
    port,
    pid: child.pid,
    logPath,
    stop: () =>
      new Promise((resolve) => {
        if (exited) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
        setTimeout(() => {
          if (!exited) child.kill("SIGKILL");
        }, 3000).unref();
      }),
  };
}
