// Parses WWW-Authenticate (RFC 9110 §11.6.1): one or more challenges, each a scheme followed by
// either a token68 or comma-separated auth-params whose values are tokens or quoted strings
// (with backslash escapes; commas inside quotes belong to the value). Several header lines
// joined with ", " (as Headers.get does) parse as one list.

export interface Challenge {
  /** Lowercased auth scheme: "bearer", "basic", … */
  scheme: string;
  /** Parameter names lowercased; values unquoted and unescaped. */
  params: Record<string, string>;
  token68?: string;
}

export interface BearerChallenge {
  realm: string;
  service?: string;
  scope?: string;
  error?: string;
}

export class WwwAuthenticateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WwwAuthenticateError";
  }
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68_CHAR = /[A-Za-z0-9\-._~+/]/;

export function parseWwwAuthenticate(header: string): Challenge[] {
  const parser = new Parser(header);
  return parser.challenges();
}

/** The first Bearer challenge that names a realm. */
export function bearerChallenge(challenges: Challenge[]): BearerChallenge | undefined {
  for (const challenge of challenges) {
    if (challenge.scheme !== "bearer") continue;
    const { realm, service, scope, error } = challenge.params;
    if (!realm) continue;
    const result: BearerChallenge = { realm };
    if (service !== undefined) result.service = service;
    if (scope !== undefined) result.scope = scope;
    if (error !== undefined) result.error = error;
    return result;
  }
  return undefined;
}

export function hasScheme(challenges: Challenge[], scheme: string): boolean {
  const wanted = scheme.toLowerCase();
  return challenges.some((challenge) => challenge.scheme === wanted);
}

class Parser {
  private i = 0;

  constructor(private readonly s: string) {}

  challenges(): Challenge[] {
    const out: Challenge[] = [];
    for (;;) {
      this.skip(/[\s,]/);
      if (this.i >= this.s.length) return out;
      const scheme = this.token();
      if (!scheme) throw new WwwAuthenticateError(`expected an auth scheme at offset ${this.i} in "${this.s}"`);
      const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
      out.push(challenge);
      this.skip(/[ \t]/);
      const token68 = this.token68();
      if (token68 !== undefined) challenge.token68 = token68;
      else this.params(challenge);
    }
  }

  /** A token68 is only one when nothing but a comma or the end follows it. */
  private token68(): string | undefined {
    const start = this.i;
    let j = start;
    while (j < this.s.length && TOKEN68_CHAR.test(this.s[j]!)) j++;
    if (j === start) return undefined;
    while (this.s[j] === "=") j++;
    let k = j;
    while (this.s[k] === " " || this.s[k] === "\t") k++;
    if (k < this.s.length && this.s[k] !== ",") return undefined;
    this.i = j;
    return this.s.slice(start, j);
  }

  private params(challenge: Challenge): void {
    for (;;) {
      this.skip(/[\s,]/);
      if (this.i >= this.s.length) return;
      const nameStart = this.i;
      const name = this.token();
      if (!name) throw new WwwAuthenticateError(`expected a parameter name at offset ${this.i} in "${this.s}"`);
      this.skip(/[ \t]/);
      if (this.s[this.i] !== "=") {
        // A token not followed by "=" starts the next challenge.
        this.i = nameStart;
        return;
      }
      this.i++;
      this.skip(/[ \t]/);
      const value = this.s[this.i] === '"' ? this.quoted() : this.bare();
      const key = name.toLowerCase();
      if (!(key in challenge.params)) challenge.params[key] = value;
    }
  }

  private quoted(): string {
    const start = this.i;
    this.i++; // opening quote
    let value = "";
    while (this.i < this.s.length) {
      const ch = this.s[this.i]!;
      if (ch === "\\") {
        if (this.i + 1 >= this.s.length) break;
        value += this.s[this.i + 1];
        this.i += 2;
      } else if (ch === '"') {
        this.i++;
        return value;
      } else {
        value += ch;
        this.i++;
      }
    }
    throw new WwwAuthenticateError(`unterminated quoted string at offset ${start} in "${this.s}"`);
  }

  /** Unquoted values should be tokens; servers also send bare URLs, so read up to a comma or space. */
  private bare(): string {
    const start = this.i;
    while (this.i < this.s.length && !/[\s,"]/.test(this.s[this.i]!)) this.i++;
    return this.s.slice(start, this.i);
  }

  private token(): string {
    const start = this.i;
    while (this.i < this.s.length && TCHAR.test(this.s[this.i]!)) this.i++;
    return this.s.slice(start, this.i);
  }

  private skip(chars: RegExp): void {
    while (this.i < this.s.length && chars.test(this.s[this.i]!)) this.i++;
  }
}
