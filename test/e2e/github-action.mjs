// Running a composite action's script the way a runner does: the step's `run:` line under bash,
// outputs read back from the GITHUB_OUTPUT file. Shared by action.test.mjs and login.test.mjs.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

/** The `run:` command of the (single) composite step in an action.yml. */
export function runLine(actionYml) {
  const match = /^\s+run:\s*(.+)$/m.exec(readFileSync(actionYml, "utf8"));
  assert.ok(match, `${actionYml} has a run: line`);
  return match[1].trim();
}

/** Outputs written with GitHub's `name<<DELIMITER` convention. */
export function parseOutputs(text) {
  const outputs = {};
  const pattern = /^([A-Za-z0-9_-]+)<<(\S+)\n([\s\S]*?)\n\2$/gm;
  let match;
  while ((match = pattern.exec(text))) outputs[match[1]] = match[3];
  return outputs;
}
