// The command line of `berth push`, parsed into options (flags may come before or after the
// two positional arguments; skopeo's spellings of the TLS and credential flags are accepted).

import { parseCreds } from "./credentials.mjs";
import { UsageError } from "./errors.mjs";
import { parseDestination, parseSource } from "./reference.mjs";
import { parsePlatform } from "./push.mjs";

export const USAGE = `Usage: berth push [options] <source> <destination>

Copies an image into a registry, every blob in chunks no larger than the registry's
OCI-Chunk-Max-Length (so layers bigger than a Cloudflare plan's request body limit fit),
resuming a chunk after a dropped connection. Prints the pushed digest on stdout.

Sources (skopeo's names):
  oci:<dir>[:<ref>]                 an OCI image layout
  oci-archive:<file>[:<ref>]        the same in a tar ("podman save --format oci-archive")
  docker-archive:<file>[:<ref>]     a "docker save" / "podman save" tarball (:@<n> picks by position)
  docker://<host>/<repo>[:<tag>|@<digest>]   an image in a registry
Destination: [docker://]<host>/<repo>[:<tag>|@<digest>] (tag defaults to latest)

Options:
  --insecure               accept self-signed certificates and plain http (both ends)
  --src-insecure, --dest-insecure   the same for one end (also --src-tls-verify=false, --dest-tls-verify=false)
  --creds <user:pass>      destination credentials (default: docker/podman/skopeo credential files)
  --src-creds <user:pass>  source registry credentials
  --authfile <file>        read credentials from this auth.json / config.json only
  --all                    push every platform of a multi-platform index (the default)
  --platform <os/arch[/variant]>   push only this platform's image of an index
  --format <v2s2|oci>      manifest format for docker-archive sources (default v2s2, as skopeo)
  --jobs <n>               blobs uploaded at once (default 3)
  --chunk-size <bytes>     largest chunk to send (default: the registry's OCI-Chunk-Max-Length,
                           else 64MiB); accepts k, m, g, KiB, MiB, GiB, MB, GB suffixes
  --retries <n>            retries of a failed request or chunk (default 5)
  -q, --quiet              no progress output (errors and the digest only)
  -h, --help               this help
`;

const UNITS = { "": 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3 };

/** `64MiB`, `100MB`, `5242880` → bytes. */
export function parseSize(text) {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = match && UNITS[match[2].toLowerCase()];
  if (!match || !unit) throw new UsageError(`not a size: "${text}" (e.g. 95MB, 64MiB, 5242880)`);
  const bytes = Math.floor(Number(match[1]) * unit);
  if (bytes < 1) throw new UsageError(`size must be positive: "${text}"`);
  return bytes;
}

function positiveInt(text, flag) {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} needs a whole number, not "${text}"`);
  return n;
}

function falseFlag(value, flag) {
  if (value === "false") return true;
  if (value === "true") return false;
  throw new UsageError(`${flag} takes true or false`);
}

/** argv after `push` → options, or {help: true}. */
export function parsePushArgs(argv) {
  const options = { srcInsecure: false, destInsecure: false, jobs: 3, retries: 5, format: "v2s2", quiet: false };
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("-") || arg === "-") {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) throw new UsageError(`${flag} needs a value`);
      return argv[++i];
    };
    switch (flag) {
      case "-h":
      case "--help":
        return { help: true };
      case "--insecure":
        options.srcInsecure = options.destInsecure = true;
        break;
      case "--src-insecure":
        options.srcInsecure = true;
        break;
      case "--dest-insecure":
        options.destInsecure = true;
        break;
      case "--tls-verify":
        options.srcInsecure = options.destInsecure = falseFlag(value(), flag);
        break;
      case "--src-tls-verify":
        options.srcInsecure = falseFlag(value(), flag);
        break;
      case "--dest-tls-verify":
        options.destInsecure = falseFlag(value(), flag);
        break;
      case "--creds":
      case "--dest-creds":
        options.creds = parseCreds(value());
        break;
      case "--src-creds":
        options.srcCreds = parseCreds(value());
        break;
      case "--authfile":
        options.authfile = value();
        break;
      case "--all":
      case "-a":
        options.platform = undefined;
        break;
      case "--platform":
        options.platform = parsePlatform(value());
        break;
      case "--format": {
        const format = value();
        if (format !== "v2s2" && format !== "oci") throw new UsageError(`--format is v2s2 or oci, not "${format}"`);
        options.format = format;
        break;
      }
      case "--jobs":
      case "-j":
        options.jobs = Math.max(1, positiveInt(value(), flag));
        break;
      case "--chunk-size":
        options.chunkBytes = parseSize(value());
        break;
      case "--retries":
        options.retries = positiveInt(value(), flag);
        break;
      case "-q":
      case "--quiet":
        options.quiet = true;
        break;
      default:
        throw new UsageError(`unknown option ${flag}`);
    }
  }
  if (positional.length !== 2) throw new UsageError(`expected <source> <destination>, got ${positional.length} argument(s)`);
  options.source = parseSource(positional[0]);
  options.destination = parseDestination(positional[1]);
  return options;
}
