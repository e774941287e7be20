// vitest globalSetup (Node): the local OIDC issuer of test/oidc/local-issuer.mjs for the GitHub
// OIDC tests. Its base URL reaches the tests with project.provide("oidcIssuer", …).
import { startLocalIssuer } from "./local-issuer.mjs";

export default async function setup(project) {
  const issuer = await startLocalIssuer();
  project.provide("oidcIssuer", { url: issuer.url });
  return () => issuer.stop();
}
