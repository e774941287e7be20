// What the action scripts (pin.mjs, login.mjs) share: GitHub's conventions for inputs, outputs
// and workflow commands, and the registry input. No dependencies.
import { appendFileSync } from "node:fs";
import { randomBytes } from "node:crypto";

/** Unusable inputs or environment: the scripts exit with code 2. */
export class InputError extends Error {}

export function input(name) {
  return (process.env[`INPUT_${name.toUpperCase()}`] ?? "").trim();
}

/** Workflow-command escaping (GitHub toolkit's escapeData / escapeProperty). */
export const escapeData = (s) => String(s).replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
export const escapeProperty = (s) => escapeData(s).replace(/:/g, "%3A").replace(/,/g, "%2C");

/** The `registry` input as a URL (https:// when no scheme is given), without query or fragment. */
export function registryUrl(raw) {
  if (!raw) throw new InputError("input `registry` is empty: set it to Berth's URL, e.g. https://berth.example.com");
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`;
  let url;
  try {
    url = new URL(withScheme);
  } catch {
    throw new InputError(`input \`registry\` is not a URL: "${raw}"`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new InputError(`input \`registry\` must be an http(s) URL, not "${raw}"`);
  url.search = "";
  url.hash = "";
  return url;
}

/** Appends outputs to the file named by GITHUB_OUTPUT; without it prints name=value, except `secret` ones. */
export function setOutputs(outputs, { secret = [] } = {}) {
  const file = process.env.GITHUB_OUTPUT;
  for (const [name, value] of Object.entries(outputs)) {
    if (file) {
      const delimiter = `ghadelimiter_${randomBytes(12).toString("hex")}`;
      appendFileSync(file, `${name}<<${delimiter}\n${value}\n${delimiter}\n`);
    } else if (!secret.includes(name)) {
      console.log(`${name}=${value}`);
    }
  }
}

/** Hides a secret in the job log. Outside a runner there is no log to protect, and the command would print the secret. */
export function mask(secret) {
  if (secret && process.env.GITHUB_ACTIONS === "true") console.log(`::add-mask::${escapeData(secret)}`);
}
