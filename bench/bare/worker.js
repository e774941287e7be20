// The floor for any code on this platform, for bench/run.mjs:
//   PUT  /blobs/<key>        streams the request body (Content-Length known) into R2
//   GET  /blobs/<key>        streams an R2 object out
//   PUT  /manifests/<ref>    stores a small body in R2 and ref → key in a Durable Object
//   GET|HEAD /manifests/<ref>  one Durable Object call + one R2 read (head), like a manifest GET
// Responses leave byte-exact (encodeBody "manual"), as Berth's do.

import { DurableObject } from "cloudflare:workers";

export class Refs extends DurableObject {
  lookup(ref) {
    return this.ctx.storage.get(ref);
  }
  store(ref, key) {
    return this.ctx.storage.put(ref, key);
  }
}

const refs = (env) => env.REFS.get(env.REFS.idFromName("bench"));

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (pathname === "/v2/") return new Response("{}"); // the readiness probe of scripts/e2e.mjs
    const [, kind, ...rest] = pathname.split("/");
    const name = decodeURIComponent(rest.join("/"));
    if (kind === "blobs" && request.method === "PUT") {
      await env.BLOBS.put(`blobs/${name}`, request.body);
      return new Response(null, { status: 201 });
    }
    if (kind === "blobs" && request.method === "GET") {
      const object = await env.BLOBS.get(`blobs/${name}`);
      if (!object) return new Response(null, { status: 404 });
      return new Response(object.body, { headers: { "Content-Length": String(object.size), "Content-Type": "application/octet-stream" }, encodeBody: "manual" });
    }
    if (kind === "manifests" && request.method === "PUT") {
      const key = `manifests/${name}`;
      await env.BLOBS.put(key, await request.arrayBuffer());
      await refs(env).store(name, key);
      return new Response(null, { status: 201 });
    }
    if (kind === "manifests" && (request.method === "GET" || request.method === "HEAD")) {
      const key = await refs(env).lookup(name);
      if (!key) return new Response(null, { status: 404 });
      const object = request.method === "HEAD" ? await env.BLOBS.head(key) : await env.BLOBS.get(key);
      if (!object) return new Response(null, { status: 404 });
      const headers = { "Content-Length": String(object.size), "Content-Type": "application/vnd.oci.image.manifest.v1+json" };
      return new Response(request.method === "HEAD" ? null : object.body, { headers, encodeBody: "manual" });
    }
    return new Response(null, { status: 404 });
  },
};
