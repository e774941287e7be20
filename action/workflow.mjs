// What the action scripts (pin.mjs, login.mjs) share: GitHub's conventions for inputs, outputs
// and workflow commands, and the registry input. No dependencies.
import { appendFileSync, readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { resolve as resolvePath } from "node:path";

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

/** Node's codes for a certificate it does not trust: retrying cannot help, an input can. */
const UNTRUSTED_CERTIFICATE = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT", "SELF_SIGNED_CERT_IN_CHAIN", "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "CERT_HAS_EXPIRED", "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** For a fetch error caused by an untrusted certificate: what to say, naming the inputs that fix it. */
export function untrustedCertificate(error, registry) {
  const code = error?.cause?.code;
  if (!UNTRUSTED_CERTIFICATE.has(code)) return undefined;
  return (
    `cannot reach ${registry}: ${code}: its TLS certificate is not trusted. Give the action \`ca:\` ` +
    "(a PEM file with the registry's certificate or its CA), or `insecure: true` for a test registry " +
    "(e.g. a local `npm start`, whose certificate is self-signed)"
  );
}

/**
 * The `ca` and `insecure` inputs. Node reads extra CA certificates (NODE_EXTRA_CA_CERTS) only
 * when it starts, so with `ca` the script (`scriptPath`) runs itself again with it set: the
 * exit code of that run is returned, and the caller exits with it. Undefined: go on here.
 */
export function applyTrustInputs(scriptPath) {
  const raw = input("insecure").toLowerCase();
  if (raw !== "" && raw !== "true" && raw !== "false") throw new InputError(`input \`insecure\` must be true or false, not "${input("insecure")}"`);
  const insecure = raw === "true";
  const ca = input("ca");
  if (insecure && ca) throw new InputError("give either `ca` (trust that certificate) or `insecure: true` (check none), not both");
  if (insecure) {
    // Node's fetch has no per-request switch; this covers every connection of this process.
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
    console.log("::warning title=Berth::insecure: true — the registry's TLS certificate is not checked");
    return undefined;
  }
  if (!ca) return undefined;
  const path = resolvePath(ca);
  if (process.env.NODE_EXTRA_CA_CERTS === path) return undefined;
  let pem;
  try {
    pem = readFileSync(path, "utf8");
  } catch (error) {
    throw new InputError(`input \`ca\`: cannot read ${path}: ${error.code || error.message}`);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new InputError(`input \`ca\`: ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  const child = spawnSync(process.execPath, [scriptPath], { stdio: "inherit", env: { ...process.env, NODE_EXTRA_CA_CERTS: path } });
  return child.status ?? 1;
}
