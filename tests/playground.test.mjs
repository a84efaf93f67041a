// The playground page (#15) in a real browser: headless Chromium (Debian's package, installed by
// the bootstrap) driven by puppeteer-core. Code that prints, sleeps 2 s and prints again: the
// first line is on the page while the run still sleeps, then the second, then the file it wrote.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";
import puppeteer from "puppeteer-core";
import { call, useStack } from "./helpers.mjs";

const h = useStack();
const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find(existsSync);

test("the page, its script and style are served without a token, with a strict content policy", async () => {
  for (const [path, type] of [["/", /^text\/html/], ["/playground.js", /^text\/javascript/], ["/playground.css", /^text\/css/]]) {
    const r = await fetch(h.stack.url + path);
    assert.equal(r.status, 200, path);
    assert.match(r.headers.get("content-type"), type);
    assert.match(r.headers.get("content-security-policy"), /script-src 'self'/);
    assert.match(r.headers.get("content-security-policy"), /frame-ancestors 'none'/);
  }
  assert.equal((await fetch(`${h.stack.url}/`, { method: "PUT" })).status, 405);
});

test("in Chromium: run streams into the page, then the exit code and the file it wrote appear", async () => {
  assert.ok(CHROMIUM, "chromium is installed by scripts/bootstrap.sh");
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1200, height: 820 });
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${h.stack.url}/`, { waitUntil: "networkidle0" });
    await page.select("#language", "python");
    await page.click("#create");
    await page.waitForFunction(() => document.querySelector("#current").textContent.startsWith("sess_"), { timeout: 20_000 });
    const sid = await page.$eval("#current", (e) => e.textContent);
    await page.$eval("#code", (e) => {
      e.value = "";
    });
    await page.type("#code", "import time\nprint('first line', flush=True)\ntime.sleep(2)\nprint('second line')\nopen('written.txt', 'w').write('by the page')\n");
    const t0 = Date.now();
    await page.click("#run");
    await page.waitForFunction(() => document.querySelector("#output").textContent.includes("first line"), { timeout: 20_000 });
    const first = Date.now();
    const soFar = await page.$eval("#output", (e) => e.textContent);
    assert.ok(!soFar.includes("second line"), `the first line shows while the run still sleeps: ${JSON.stringify(soFar)}`);
    await page.waitForFunction(() => document.querySelector("#output").textContent.includes("second line"), { timeout: 20_000 });
    const second = Date.now();
    assert.ok(second - first >= 1500, `${second - first} ms between the lines`);
    await page.waitForFunction(() => document.querySelector("#exit").textContent === "0", { timeout: 20_000 });
    assert.equal(await page.$eval("#killed", (e) => e.textContent), "none");
    await page.waitForFunction(() => [...document.querySelectorAll("#files a")].some((a) => a.textContent === "written.txt"), { timeout: 20_000 });
    const listed = await page.$$eval("#sessions a", (as) => as.map((a) => a.textContent));
    assert.ok(listed.includes(sid), "the new session is in the list");
    assert.deepEqual(errors, []);
    assert.ok(first - t0 < 15_000);
    await page.screenshot({ path: new URL("../docs/playground.png", import.meta.url).pathname });
    // What the page ran is what the API holds.
    assert.equal((await call(h.stack, "GET", `/api/sessions/${sid}/files/written.txt`)).text, "by the page");
  } finally {
    await browser.close();
  }
});
