// GET /api/v1/resolve?ref=<image>[&platform=<os/arch[/variant]>][&format=digest]
//
// One request answers "which digest is this reference right now, and which
// manifest, config and layers does the platform get". With format=digest the
// answer is one line of text/plain: the digest the reference points to, or —
// when a platform is given — the digest of that platform's manifest.

import { requireRepository } from "../auth/gate";
import { OciError } from "../http/errors";
import { conditionalResponse, digestValidator, tagValidator } from "./http-cache";
import { resolveImage, type Resolution } from "./image-lookup";
import { locateImage } from "./image-source";

export type AnswerFormat = "json" | "digest";

export function answerFormat(url: URL, allowed: readonly AnswerFormat[]): AnswerFormat {
  const format = url.searchParams.get("format");
  if (format === null || format === "") return "json";
  if ((allowed as readonly string[]).includes(format)) return format as AnswerFormat;
  throw new OciError("UNSUPPORTED", `unknown format "${format}"; use ${allowed.map((f) => `format=${f}`).join(" or ")}`, { format, allowed }, 400);
}

/** The digest a script wants: the platform's manifest when a platform was asked for, else what the reference points to. */
export function scriptDigest(answer: Resolution): string {
  return answer.platform.requested !== null ? answer.manifest.digest : answer.digest;
}

export async function resolve(request: Request, env: Env, ctx?: ExecutionContext): Promise<Response> {
  const url = new URL(request.url);
  const format = answerFormat(url, ["json", "digest"]);
  const source = await locateImage(request, env, url.searchParams.get("ref"), ctx);
  requireRepository(request, source.repository.name, ["pull"]);
  const { answer } = await resolveImage(source, url.searchParams.get("platform"));
  const body = format === "digest" ? `${scriptDigest(answer)}\n` : `${JSON.stringify(answer, null, 2)}\n`;
  const contentType = format === "digest" ? "text/plain; charset=utf-8" : "application/json; charset=utf-8";
  const pinned = source.reference.digest;
  const validator = pinned !== undefined ? digestValidator(pinned) : await tagValidator(body);
  return conditionalResponse(request, body, contentType, validator);
}
