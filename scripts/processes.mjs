// Process and port helpers shared by `npm start` (scripts/start.mjs), the e2e runner and bench/.

import { createServer } from "node:net";

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

export function groupAlive(pid) {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stop a detached child and its whole process group: SIGTERM, then SIGKILL after graceMs. */
export async function killGroup(pid, graceMs = 5000) {
  if (!pid || !groupAlive(pid)) return;
  try {
    process.kill(-pid, "SIGTERM");
  } catch {
    // already gone
  }
  const until = Date.now() + graceMs;
  while (Date.now() < until && groupAlive(pid)) await new Promise((r) => setTimeout(r, 100));
  if (groupAlive(pid)) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
    const until2 = Date.now() + 5000;
    while (Date.now() < until2 && groupAlive(pid)) await new Promise((r) => setTimeout(r, 100));
  }
}
