// The two kinds of failure `berth push` reports: a wrong command line (exit 2, with usage) and
// a registry or source that refused or broke (exit 1, with the registry's own OCI error).

import { readBody } from "./http.mjs";

export class UsageError extends Error {
  constructor(message) {
    super(message);
    this.name = "UsageError";
  }
}

/** An HTTP answer the push cannot go on from; `status` and the OCI `code` when the body had one. */
export class RegistryError extends Error {
  constructor(message, { status, code } = {}) {
    super(message);
    this.name = "RegistryError";
    this.status = status;
    this.code = code;
  }
}

/** `<what>: 413 SIZE_INVALID: <message>` from a response, reading at most 64 KiB of its body. */
export async function registryError(what, response) {
  let code;
  let detail = "";
  try {
    const text = (await readBody(response, 64 * 1024)).toString("utf8");
    try {
      const first = JSON.parse(text).errors?.[0];
      if (first) {
        code = first.code;
        detail = `${first.code}: ${first.message ?? ""}`;
      }
    } catch {
      detail = text.trim().slice(0, 300);
    }
  } catch {
    // no readable body
  }
  return new RegistryError(`${what}: HTTP ${response.status}${detail ? ` ${detail}` : ""}`, { status: response.status, code });
}
