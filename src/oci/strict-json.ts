// A strict JSON checker. JSON.parse keeps the last of two equal keys and
// accepts any nesting; Go clients (docker, containerd, skopeo, podman) also
// keep the last duplicate but match struct fields case-insensitively. Bytes
// that two readers can see differently must be refused before they are
// stored, so this walks the text once (RFC 8259 grammar) and reports:
//   - a leading byte-order mark (Go refuses it; TextDecoder silently drops it),
//   - a key that appears twice in one object,
//   - nesting deeper than `maxDepth`,
// and hands every object's keys to `onObject` for policies such as "no key
// may equal a known field in another case" (manifest.ts). It does not build
// values: once this passes, JSON.parse gives the one reading there is.

export type JsonPath = ReadonlyArray<string | number>;

export interface StrictJsonOptions {
  maxDepth: number;
  /** Called once per object, after its keys were read; throw to refuse. */
  onObject?: (path: JsonPath, keys: readonly string[]) => void;
}

export class StrictJsonError extends Error {
  constructor(
    message: string,
    readonly path: JsonPath,
  ) {
    super(message);
    this.name = "StrictJsonError";
  }
}

/** `$.layers[2].digest` style, for messages. */
export function formatJsonPath(path: JsonPath): string {
  return path.reduce<string>((out, part) => (typeof part === "number" ? `${out}[${part}]` : /^[A-Za-z_$][\w$]*$/.test(part) ? `${out}.${part}` : `${out}[${JSON.stringify(part)}]`), "$");
}

const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** Throws StrictJsonError unless `text` is one JSON value that every reader reads the same way. */
export function checkStrictJson(text: string, options: StrictJsonOptions): void {
  if (text.charCodeAt(0) === 0xfeff) throw new StrictJsonError("starts with a byte-order mark", []);
  let at = 0;
  const path: (string | number)[] = [];

  const fail = (message: string): never => {
    throw new StrictJsonError(`${message} at offset ${at}`, [...path]);
  };
  const skipWhitespace = () => {
    while (at < text.length && WHITESPACE.has(text.charCodeAt(at))) at++;
  };
  const expect = (literal: string) => {
    if (text.startsWith(literal, at)) at += literal.length;
    else fail(`invalid token`);
  };

  /** Reads a string starting at its opening quote; returns its decoded value only when asked (keys). */
  const readString = (decode: boolean): string => {
    const start = at;
    at++; // opening quote
    let escaped = false;
    for (;;) {
      if (at >= text.length) fail("unterminated string");
      const c = text.charCodeAt(at);
      if (c === 0x22) break;
      if (c < 0x20) fail("control character in string");
      if (c === 0x5c) {
        escaped = true;
        const next = text[at + 1];
        if (next === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(at + 2, at + 6))) fail("invalid \\u escape");
          at += 6;
        } else if (next !== undefined && '"\\/bfnrt'.includes(next)) {
          at += 2;
        } else {
          fail("invalid escape");
        }
        continue;
      }
      at++;
    }
    at++; // closing quote
    if (!decode) return "";
    const raw = text.slice(start, at);
    return escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
  };

  const readNumber = () => {
    NUMBER.lastIndex = at;
    if (!NUMBER.test(text)) fail("invalid number");
    at = NUMBER.lastIndex;
  };

  const readValue = (depth: number): void => {
    skipWhitespace();
    const c = text[at];
    if (c === "{" || c === "[") {
      if (depth >= options.maxDepth) fail(`nesting deeper than ${options.maxDepth} levels`);
      if (c === "{") readObject(depth + 1);
      else readArray(depth + 1);
      return;
    }
    if (c === '"') return void readString(false);
    if (c === "t") return expect("true");
    if (c === "f") return expect("false");
    if (c === "n") return expect("null");
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return readNumber();
    fail(c === undefined ? "unexpected end of input" : "invalid token");
  };

  const readObject = (depth: number): void => {
    at++; // {
    const keys: string[] = [];
    const seen = new Set<string>();
    skipWhitespace();
    if (text[at] === "}") {
      at++;
      options.onObject?.(path, keys);
      return;
    }
    for (;;) {
      skipWhitespace();
      if (text[at] !== '"') fail("expected a key");
      const key = readString(true);
      if (seen.has(key)) fail(`duplicate key ${JSON.stringify(key)}`);
      seen.add(key);
      keys.push(key);
      skipWhitespace();
      if (text[at] !== ":") fail("expected ':'");
      at++;
      readMember(key, depth);
      if (closes("}")) break;
    }
    options.onObject?.(path, keys);
  };

  const readArray = (depth: number): void => {
    at++; // [
    skipWhitespace();
    if (text[at] === "]") {
      at++;
      return;
    }
    for (let index = 0; ; index++) {
      readMember(index, depth);
      if (closes("]")) return;
    }
  };

  const readMember = (step: string | number, depth: number): void => {
    path.push(step);
    readValue(depth);
    path.pop();
  };

  /** After a member: true at the closing bracket, false after a comma (both consumed). */
  const closes = (bracket: "}" | "]"): boolean => {
    skipWhitespace();
    const c = text[at];
    if (c !== "," && c !== bracket) fail(`expected ',' or '${bracket}'`);
    at++;
    return c === bracket;
  };

  readValue(0);
  skipWhitespace();
  if (at !== text.length) fail("unexpected data after the JSON value");
}
