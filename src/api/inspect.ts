// GET /api/v1/inspect?ref=<image>[&platform=<os/arch[/variant]>]
//
// The image config of the chosen platform in the shape of `docker image
// inspect`, and its manifest in the shape of `docker manifest inspect -v`,
// next to the short resolution (digest, platform, pinned reference).

import { requireRepository } from "../auth/gate";
import { conditionalResponse, digestValidator, tagValidator } from "./http-cache";
import { dockerImageInspect, dockerManifestInspect, type DockerImageInspect } from "./docker-shapes";
import { distinctSize, resolveImage } from "./image-lookup";
import { locateImage, normalizedReference } from "./image-source";

export async function inspect(request: Request, env: Env, ctx?: ExecutionContext): Promise<Response> {
  const url = new URL(request.url);
  const source = await locateImage(request, env, url.searchParams.get("ref"), ctx);
  requireRepository(request, source.repository.name, ["pull"]);
  const { answer, top, chosen, chosenDescriptor, reader } = await resolveImage(source, url.searchParams.get("platform"));

  const config = await reader.config(chosen);
  const ref = normalizedReference(source);
  let image: DockerImageInspect | null = null;
  if (config && chosen.parsed.config) {
    image = dockerImageInspect({
      configDigest: chosen.parsed.config.digest,
      config,
      repoTags: source.reference.tag !== undefined && source.reference.digest === undefined ? [ref] : [],
      repoDigests: [answer.pinned],
      size: distinctSize(chosen.layers),
    });
  }
  const platform = chosenDescriptor?.platform ?? answer.manifest.platformDetail ?? undefined;
  const manifest = dockerManifestInspect({
    // docker names an index's entries `<ref>@<entry digest>`.
    ref: top.parsed.isIndex ? `${ref.split("@")[0]}@${chosen.digest}` : ref,
    mediaType: chosen.mediaType,
    digest: chosen.digest,
    bytes: chosen.bytes,
    platform,
  });

  const body = {
    reference: answer.reference,
    normalized: answer.normalized,
    normalizations: answer.normalizations,
    repository: answer.repository,
    digest: answer.digest,
    mediaType: answer.mediaType,
    isIndex: answer.isIndex,
    platform: answer.platform,
    pinned: answer.pinned,
    ...(answer.warning ? { warning: answer.warning } : {}),
    index: top.parsed.isIndex ? JSON.parse(new TextDecoder().decode(top.bytes)) as unknown : null,
    image,
    ...(image ? {} : { imageNote: `the manifest's config (${chosen.parsed.config?.mediaType ?? "none"}) is not an image config: nothing to show as docker image inspect` }),
    manifest,
  };
  const text = `${JSON.stringify(body, null, 2)}\n`;
  const pinned = source.reference.digest;
  return conditionalResponse(request, text, "application/json; charset=utf-8", pinned !== undefined ? digestValidator(pinned) : await tagValidator(text));
}
