#!/usr/bin/env node
// npm run hash-password            — asks for the password (not echoed), prints its hash
// echo -n secret | npm run -s hash-password   — reads it from stdin
//
// The hash goes into AUTH_USERS (passwordHash) or a secret named by passwordHashSecret.
// Same format and parameters as src/auth/password.ts: PBKDF2-HMAC-SHA256, 100 000
// iterations (the most Cloudflare Workers allow), 16-byte random salt.

import { pbkdf2Sync, randomBytes } from "node:crypto";

const ITERATIONS = 100_000;

async function readPassword() {
  if (!process.stdin.isTTY) {
    const chunks = [];
    for await (const chunk of process.stdin) chunks.push(chunk);
    return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
  }
  process.stderr.write("Password: ");
  process.stdin.setRawMode(true);
  let password = "";
  for await (const chunk of process.stdin) {
    for (const char of chunk.toString("utf8")) {
      if (char === "\r" || char === "\n") {
        process.stdin.setRawMode(false);
        process.stderr.write("\n");
        return password;
      }
      if (char === "\u0003") process.exit(130);
      if (char === "\u007f") password = password.slice(0, -1);
      else password += char;
    }
  }
  return password;
}

const password = await readPassword();
if (password.length < 12) {
  console.error("hash-password: use at least 12 characters");
  process.exit(1);
}
const salt = randomBytes(16);
const hash = pbkdf2Sync(password, salt, ITERATIONS, 32, "sha256");
console.log(`pbkdf2-sha256$${ITERATIONS}$${salt.toString("base64")}$${hash.toString("base64")}`);
