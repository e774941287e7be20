// The web UI in a real browser (Debian's Chromium driven by playwright-core): an image pushed
// with skopeo shows up with its platforms, the tag history lists the push, and the resolve form
// answers the digest skopeo reports.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { BERTH_URL, buildTestImages, dockerRef, makeTempDir, requireTarget, skopeo, uniqueRepo } from "./harness.mjs";

const CHROMIUM = process.env.BERTH_CHROMIUM ?? "/usr/bin/chromium";
let browser;
let images;
const repo = uniqueRepo("ui/app");

before(async () => {
  requireTarget();
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`);
  images = await buildTestImages(join(makeTempDir("berth-ui-"), "layout"));
  await skopeo(["copy", "--all", "--dest-tls-verify=false", `oci:${images.dir}:multi`, dockerRef(repo, "v1")]);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--ignore-certificate-errors"],
  });
});

after(async () => {
  await browser?.close();
});

test("the repository list links to a repository page with tags, platforms and history", async () => {
  const page = await browser.newPage({ ignoreHTTPSErrors: true });
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(`${BERTH_URL}/`);
  const link = page.getByRole("link", { name: repo, exact: true });
  await link.waitFor();
  await link.click();
  const row = page.locator(`tr[data-tag="v1"]`);
  await row.waitFor();
  const platforms = await row.locator(".pill").allTextContents();
  assert.deepEqual(platforms.sort(), ["linux/amd64", "linux/arm/v7", "linux/arm64"]);
  assert.equal(await row.locator("code").getAttribute("title"), images.multi.descriptor.digest);
  await page.getByText("created:").first().waitFor();
  const shot = join(makeTempDir("berth-ui-shot-"), "repository.png");
  await page.screenshot({ path: shot, fullPage: true });
  if (process.env.BERTH_UI_SCREENSHOT) await page.screenshot({ path: process.env.BERTH_UI_SCREENSHOT, fullPage: true });
  assert.deepEqual(errors, []);
});

test("the resolve form answers the digest of the requested platform", async () => {
  const page = await browser.newPage({ ignoreHTTPSErrors: true });
  await page.goto(`${BERTH_URL}/`);
  const host = new URL(BERTH_URL).host;
  await page.getByPlaceholder("nginx:1.27 or team/app:dev").fill(`${host}/${repo}:v1`);
  await page.getByPlaceholder("linux/amd64 (default)").fill("linux/arm64");
  await page.getByRole("button", { name: "Resolve" }).click();
  const pinned = page.locator(".resolved-pinned");
  await pinned.waitFor();
  const armDigest = images.platforms.arm64.descriptor.digest;
  assert.equal(await pinned.textContent(), `${host}/${repo}@${armDigest}`);
  assert.equal(await page.locator(".resolved-digest").textContent(), images.multi.descriptor.digest);
});

test("an unknown image shows the API's error message", async () => {
  const page = await browser.newPage({ ignoreHTTPSErrors: true });
  await page.goto(`${BERTH_URL}/`);
  const host = new URL(BERTH_URL).host;
  await page.getByPlaceholder("nginx:1.27 or team/app:dev").fill(`${host}/${repo}:missing`);
  await page.getByRole("button", { name: "Resolve" }).click();
  const alert = page.getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.textContent(), /missing/);
});
