// Environment for the `wrangler dev` that npm start, the e2e suites and the bench launch.
//
// wrangler dev's devtools proxy (InspectorProxyWorker) enables the runtime's Network domain and
// forwards every `Network.dataReceived` event — one per socket read of every outgoing fetch — to
// wrangler's Node process on a new loopback connection that workerd then keeps open (CLOSE-WAIT).
// A cache fill of a few hundred MiB exhausted workerd's 20,000 file descriptors and stalled every
// request; with the proxy off, a cold 4-layer pull's slowest first byte went from ~900 to ~200 ms.
// Wrangler skips that proxy inside a VS Code JavaScript debug terminal, which it detects by
// VSCODE_INSPECTOR_OPTIONS; setting it is the only switch `wrangler dev` offers (4.86). Worker
// console output is unaffected (it comes through workerd's structured logs). BERTH_INSPECTOR=1
// keeps the devtools proxy for debugging.

export function wranglerDevEnv(base = process.env) {
  if (base.BERTH_INSPECTOR === "1" || base.VSCODE_INSPECTOR_OPTIONS) return {};
  return { VSCODE_INSPECTOR_OPTIONS: "berth:no-devtools-proxy" };
}
