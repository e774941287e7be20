// The web UI in a real browser (Debian's Chromium driven by playwright-core) against its own
// wrangler dev (a 2 s grace window, so a delete's effect on storage can be watched), with
// images pushed by skopeo: the repository list, a multi-arch image's platform matrix, one
// platform's layers with the shared one marked, the "would free" figure checked against the
// bytes the lifecycle really deletes from local R2, the docker image ls filters, a copied pull
// command run by skopeo, the tag-history timeline, labels rendered as text, the 404 page and
// desktop / 360 px screenshots (paths printed; BERTH_UI_SCREENSHOT_DIR keeps them).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startWrangler } from "../../scripts/e2e.mjs";
import { buildTestImages, makeTempDir, requireTarget, skopeo, uniqueRepo } from "./harness.mjs";

const CHROMIUM = process.env.BERTH_CHROMIUM ?? "/usr/bin/chromium";
const repo = uniqueRepo("ui/app");
const other = uniqueRepo("ui/other");
const XSS_LABEL = `<img src=x onerror="window.__xss=1">`;
let berth;
let browser;
let images;
let xss;
let workDir;

const ref = (repository, tag) => `docker://${berth.host}/${repository}:${tag}`;
const push = (source, repository, tag, all = false) =>
  skopeo(["copy", ...(all ? ["--all"] : []), "--dest-tls-verify=false", `oci:${images.dir}:${source}`, ref(repository, tag)]);

/** Bytes of the objects local R2 keeps on disk under the persist directory. */
function storedBytes() {
  const root = join(workDir, "persist", "v3", "r2", "berth-blobs", "blobs");
  if (!existsSync(root)) return 0;
  // A file listed may be deleted before its stat (the lifecycle's 2 s grace runs meanwhile): it is gone, 0 bytes.
  return readdirSync(root).reduce((sum, name) => sum + (statSync(join(root, name), { throwIfNoEntry: false })?.size ?? 0), 0);
}

async function newPage(options = {}) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, ...options });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("console", (message) => { if (message.type() === "error") errors.push(message.text()); });
  return { page, context, errors };
}

before(async () => {
  requireTarget();
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`);
  workDir = makeTempDir("berth-ui-");
  berth = await startWrangler({ workDir, extraArgs: ["--var", "BLOB_GRACE_SECONDS:2"] });
  images = await buildTestImages(join(workDir, "layout"));
  const layer = await images.layout.addLayer([{ path: "etc/xss.txt", content: "labels are text\n" }]);
  xss = await images.layout.addImage({ layers: [layer], label: XSS_LABEL });
  await images.layout.tag("xss", xss.descriptor);
  await push("multi", repo, "v1", true);
  await push("app", repo, "app");
  await push("xss", repo, "xss");
  await push("tool", other, "tool");
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--ignore-certificate-errors"],
  });
});

after(async () => {
  await browser?.close();
  await berth?.stop();
});

test("repository list → multi-arch image → one platform → its layers, the shared one marked", async () => {
  const { page, errors } = await newPage();
  await page.goto(`${berth.url}/`);
  await page.getByRole("link", { name: repo, exact: true }).click();
  const row = page.locator(`tr[data-tag="v1"]`);
  await row.waitFor();
  assert.equal(await row.locator("code.digest").textContent(), images.multi.digest, "the full digest is in the page (shortened only visually)");
  assert.deepEqual((await row.locator(".pill").allTextContents()).sort(), ["linux/amd64", "linux/arm/v7", "linux/arm64"]);

  await row.getByRole("link", { name: "v1" }).click();
  const matrix = page.locator("table.platforms");
  await matrix.waitFor();
  for (const [key, platform] of [["amd64", "linux/amd64"], ["arm64", "linux/arm64"], ["arm-v7", "linux/arm/v7"]]) {
    assert.equal(await matrix.locator(`tr[data-platform="${platform}"] code.digest`).textContent(), images.platforms[key].digest);
  }
  await matrix.getByRole("link", { name: "linux/arm64" }).click();
  const layers = page.locator("table.layers");
  await layers.waitFor();
  const arm = images.platforms.arm64;
  const base = layers.locator(`tr[data-digest="${images.layers.base.descriptor.digest}"]`);
  assert.match(await base.getAttribute("class"), /is-shared/);
  assert.match(await base.textContent(), /shared.*other images here.*1 other repository/s);
  const own = layers.locator(`tr[data-digest="${arm.manifest.layers[1].digest}"]`);
  assert.match(await own.textContent(), /only this image/);
  // An index lists this platform manifest: deleting it alone is refused, so it frees nothing.
  assert.equal(await page.locator(".would-free").getAttribute("data-bytes"), "0");
  assert.match(await page.locator(".would-free").textContent(), /delete the index first/);
  assert.deepEqual(errors, []);
});

test("the would-free figure is what the lifecycle deletes after a delete and the grace window", async () => {
  const { page, errors } = await newPage();
  await page.goto(`${berth.url}/#/image/${repo}:app`);
  const line = page.locator(".would-free");
  await line.waitFor();
  const figure = Number(await line.getAttribute("data-bytes"));
  const app = images.app;
  // The base layer is shared; the config and the app's own two layers are not.
  assert.equal(figure, app.configDescriptor.size + app.manifest.layers[1].size + app.manifest.layers[2].size);

  const stored = storedBytes();
  await skopeo(["delete", "--tls-verify=false", ref(repo, "app")]);
  const deadline = Date.now() + 30_000;
  while (stored - storedBytes() < figure && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
  await new Promise((r) => setTimeout(r, 5000)); // two more grace windows: nothing else goes
  assert.equal(stored - storedBytes(), figure);
  assert.deepEqual(errors, []);
});

test("filters: dangling=true, and a tag move in the timeline", async () => {
  await push("tool", repo, "moving");
  await push("xss", repo, "moving");
  const { page, errors } = await newPage();
  await page.goto(`${berth.url}/`);
  await page.getByLabel("Filter").fill(`dangling=true reference=${repo}`);
  await page.getByRole("button", { name: "Apply" }).click();
  // Rows with a digest: the images table the filter brings, not the repository list shown before it.
  const dangling = page.locator("#results tbody tr:has(code.digest)");
  await dangling.first().waitFor().catch(async (error) => {
    // What the page shows instead (an error message, an empty table) says which side failed.
    const shown = await page.locator("main").innerText().catch(() => "(no main element)");
    throw new Error(`no image rows for the filter: ${error.message}\npage errors: ${JSON.stringify(errors)}\npage shows: ${shown.slice(0, 2000)}`);
  });
  assert.equal(await dangling.count(), 1);
  assert.equal(await dangling.locator("code.digest").textContent(), images.tool.digest);
  assert.match(page.url(), /#\/\?q=dangling%3Dtrue/, "the filter is in the address, so a reload keeps it");
  await page.reload();
  await page.locator("#results tbody tr code.digest").first().waitFor();

  await page.goto(`${berth.url}/#/repo/${repo}`);
  const move = page.locator(`.timeline li[data-action="moved"]`).first();
  await move.waitFor();
  assert.match(await move.textContent(), new RegExp(`moving moved from ${images.tool.digest} to ${xss.digest}`));
  assert.equal(await page.locator("table.untagged code.digest").first().textContent(), images.tool.digest);
  assert.deepEqual(errors, []);
});

test("a copied skopeo command pulls the image", async () => {
  const { page, context, errors } = await newPage();
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: berth.url });
  await page.goto(`${berth.url}/#/image/${repo}:v1`);
  await page.getByRole("button", { name: "Copy skopeo copy command" }).click();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.match(copied, new RegExp(`^skopeo copy --src-tls-verify=false docker://${berth.host}/${repo}@${images.multi.digest} oci:`));
  // Run it as copied, with the harness's policy and the destination layout in a temp dir.
  const args = copied.split(" ").slice(2);
  const destination = args.pop();
  assert.equal(destination, `oci:${repo.split("/").pop()}:v1`);
  const layout = join(makeTempDir("berth-ui-pull-"), "layout");
  await skopeo(["copy", ...args, `oci:${layout}:v1`]);
  const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8"));
  assert.equal(index.manifests[0].digest, images.platforms.amd64.digest, "skopeo copied this host's linux/amd64 image");
  assert.deepEqual(errors, []);
});

test("the resolve box labels the index digest and the platform's digest", async () => {
  const { page } = await newPage();
  await page.goto(`${berth.url}/`);
  await page.getByLabel("Image").fill(`${berth.host}/${repo}:v1`);
  await page.getByLabel("Platform").fill("linux/arm64");
  await page.getByRole("button", { name: "Resolve" }).click();
  await page.locator(".resolved-platform").waitFor();
  assert.equal(await page.locator(".resolved-index code").textContent(), images.multi.digest);
  assert.equal(await page.locator(".resolved-platform code").textContent(), images.platforms.arm64.digest);
  assert.match(await page.locator(".result").textContent(), /Index digest \(multi-arch\).*Platform digest \(linux\/arm64\)/s);
});

test("labels from images render as text", async () => {
  const { page, errors } = await newPage();
  await page.goto(`${berth.url}/#/image/${repo}:xss`);
  const value = page.locator(".labels .label-value");
  await value.waitFor();
  assert.equal(await value.textContent(), XSS_LABEL);
  assert.equal(await page.locator(".labels img").count(), 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.deepEqual(errors, []);
});

test("unknown repositories and pages show a 404 page with a way back; API errors show their message", async () => {
  const { page } = await newPage();
  await page.goto(`${berth.url}/#/repo/${repo}-missing`);
  await page.getByRole("heading", { name: "Not found" }).waitFor();
  assert.match(await page.getByRole("alert").textContent(), /unknown/);
  await page.getByRole("link", { name: /Back to all repositories/ }).click();
  await page.getByRole("heading", { name: "Repositories" }).waitFor();
  await page.goto(`${berth.url}/#/nowhere`);
  await page.getByRole("heading", { name: "Not found" }).waitFor();
  await page.goto(`${berth.url}/#/?q=${encodeURIComponent("color=red")}`);
  assert.match(await page.getByRole("alert").textContent(), /unknown filter "color"/);
});

test("desktop and 360 px screenshots of the image page", async () => {
  const dir = process.env.BERTH_UI_SCREENSHOT_DIR ?? makeTempDir("berth-ui-shots-");
  mkdirSync(dir, { recursive: true });
  // The app image beside the tool image: its base layer is shared, its own layers are not.
  await push("app", other, "app");
  for (const [name, width] of [["desktop", 1280], ["phone", 360]]) {
    const { page, errors } = await newPage({ viewport: { width, height: 900 } });
    await page.goto(`${berth.url}/#/image/${other}:app`);
    await page.locator("table.layers").waitFor();
    await page.locator(".would-free").waitFor();
    const path = join(dir, `image-${name}.png`);
    await page.screenshot({ path, fullPage: true });
    console.log(`screenshot: ${path}`);
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), `${name}: nothing overflows sideways`);
    assert.deepEqual(errors, []);
  }
});

test("the UI is served with a Content-Security-Policy that it never trips, and that blocks inline script and framing", async () => {
  const { page, context, errors } = await newPage();
  const violations = [];
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  const response = await page.goto(`${berth.url}/`);
  const csp = response.headers()["content-security-policy"] ?? "";
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(response.headers()["x-content-type-options"], "nosniff");
  await page.getByRole("link", { name: repo, exact: true }).click();
  await page.locator(`tr[data-tag="v1"]`).waitFor();
  // The image page draws its size bar with CSSOM styles, which the policy allows.
  await page.goto(`${berth.url}/#/image/${repo}@${images.platforms.arm64.descriptor.digest}`);
  await page.locator(".bar span").first().waitFor();
  assert.deepEqual(violations, [], "the UI itself needs nothing the policy forbids");
  assert.deepEqual(errors, []);

  // An injected inline script does not run under the policy.
  const ran = await page.evaluate(async () => {
    const script = document.createElement("script");
    script.textContent = "window.__injected = true";
    document.head.append(script);
    await new Promise((resolve) => setTimeout(resolve, 100));
    return window.__injected === true;
  });
  assert.equal(ran, false, "inline script is blocked");
  assert.ok(violations.length > 0, "and the browser reports the blocked inline script");
  await context.close();
});
