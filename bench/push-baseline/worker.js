// The floor for a push on this platform: a Worker that only streams a request body of known
// length into R2 (no hashing, no state). bench/push.mjs measures Berth's push paths against it.
export default {
  async fetch(request, env) {
    // GET answers 200 so the bench harness sees it ready (it probes /v2/).
    if (request.method !== "PUT") return new Response("PUT /<key> with a Content-Length body\n");
    const key = new URL(request.url).pathname.slice(1) || "blob";
    const object = await env.BLOBS.put(key, request.body);
    return new Response(JSON.stringify({ key, size: object.size }), { status: 201 });
  },
};
