// The local dev server itself: requests that arrive after a pause must be answered. `wrangler
// dev` forwards each request to the Worker over a pooled keep-alive connection that both ends
// close after 5 s idle; a request written as the other end closes it was parked by wrangler 4.86
// until some other request arrived (issue #11's cold pulls that hung for minutes; at a 5 s
// cadence 3 of 12 GETs hung). scripts/patch-wrangler.mjs (postinstall) retries them at once.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { requireTarget, berthFetch } from "./harness.mjs";

before(() => requireTarget());

/** kj's idle timeout of a pooled connection: a steady cadence at it meets each close. */
const CADENCE_MS = 5000;
const REQUESTS = 12;
/** A GET of /v2/ answers in milliseconds; a parked one waits for the next request (never, here). */
const ANSWER_WITHIN_MS = 3000;

test(`GETs that each follow ${CADENCE_MS / 1000} s of quiet are all answered`, { timeout: REQUESTS * (CADENCE_MS + ANSWER_WITHIN_MS) + 30_000 }, async () => {
  const slow = [];
  for (let i = 0; i < REQUESTS; i++) {
    const started = performance.now();
    try {
      const response = await berthFetch("/v2/", { signal: AbortSignal.timeout(ANSWER_WITHIN_MS) });
      await response.arrayBuffer();
      assert.ok(response.status === 200 || response.status === 401, `GET /v2/ → ${response.status}`);
    } catch (error) {
      if (error?.name !== "TimeoutError") throw error;
      slow.push(i);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, CADENCE_MS - (performance.now() - started))));
  }
  assert.deepEqual(slow, [], `GETs not answered within ${ANSWER_WITHIN_MS} ms (by position)`);
});
