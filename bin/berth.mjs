#!/usr/bin/env node
// berth — the command-line side of Berth. `berth push <source> <destination>` copies an image
// into a registry in chunks that fit a Cloudflare plan's request body limit (see README,
// "Pushing big layers: berth push"). Node 20, no dependencies.

import { parsePushArgs, USAGE } from "../cli/args.mjs";
import { UsageError } from "../cli/errors.mjs";
import { push } from "../cli/push.mjs";

const [command, ...rest] = process.argv.slice(2);

async function main() {
  if (!command || command === "-h" || command === "--help" || command === "help") {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  if (command !== "push") throw new UsageError(`unknown command "${command}" (berth push … is the one there is)`);
  const options = parsePushArgs(rest);
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const digest = await push(options);
  process.stdout.write(`${digest}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    if (error instanceof UsageError) {
      process.stderr.write(`berth: ${error.message}\nRun "berth push --help" for usage.\n`);
      process.exit(2);
    }
    process.stderr.write(`berth push: error: ${error.message}\n`);
    if (process.env.BERTH_DEBUG) process.stderr.write(`${error.stack}\n`);
    process.exit(1);
  },
);
