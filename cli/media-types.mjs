// Media types of manifests and layers, OCI and Docker schema 2.

export const MT = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
};

export const MANIFEST_ACCEPT = [MT.ociIndex, MT.ociManifest, MT.dockerList, MT.dockerManifest].join(", ");

export const isIndex = (mediaType) => mediaType === MT.ociIndex || mediaType === MT.dockerList;
export const isManifest = (mediaType) => isIndex(mediaType) || mediaType === MT.ociManifest || mediaType === MT.dockerManifest;

/** A manifest's media type: its descriptor's, else its own `mediaType`, else what its shape says (OCI). */
export function manifestMediaType(bytes, declared) {
  let doc;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new Error("a manifest is not valid JSON");
  }
  const mediaType = declared ?? doc.mediaType ?? (Array.isArray(doc.manifests) ? MT.ociIndex : MT.ociManifest);
  return { mediaType, doc };
}
