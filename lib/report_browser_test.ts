/**
 * The report in a real browser (Debian's Chromium, headless, driven by
 * playwright-core): it loads from disk with no network and no console errors,
 * every chart has a size on screen, and a screenshot is saved for a person to look
 * at (in `$MESHBENCH_TEST_OUTPUT`, default `results/test-output/`).
 */
import { deepStrictEqual as assertEquals, match, ok as assert } from "node:assert/strict";
import { basename, join, resolve } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";
import { writeSyntheticRun } from "../fixtures/synthetic_run.ts";
import { copyFixtureRun, FIXTURE_RUNS } from "../fixtures/mod.ts";
import { listRunFiles } from "./run_dir.ts";
import { writeReport } from "./report.ts";

const CHROMIUM = Deno.env.get("MESHBENCH_CHROMIUM") ?? "/usr/bin/chromium";
const OUT = resolve(Deno.env.get("MESHBENCH_TEST_OUTPUT") ?? "results/test-output");

/** Starts Chromium headless on a fresh profile, with every network path closed. */
async function openBrowser(profile: string): Promise<BrowserContext> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(
      `Cannot start the browser test: "${CHROMIUM}" is missing (run .ci/install_analysis.sh)`,
    );
  }
  return await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1100, height: 900 },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      // An unroutable proxy: any request that tries to leave the machine fails.
      "--proxy-server=http://127.0.0.1:9",
    ],
  });
}

interface PageCheck {
  consoleProblems: string[];
  requests: string[];
  charts: Array<{ width: number; height: number; marks: number }>;
  title: string;
  text: string;
}

/** Opens `file` and collects console errors, requests and the size of every chart. */
async function inspect(ctx: BrowserContext, file: string, screenshot: string): Promise<PageCheck> {
  const page = await ctx.newPage();
  const consoleProblems: string[] = [];
  const requests: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") {
      consoleProblems.push(`${m.type()}: ${m.text()}`);
    }
  });
  page.on("pageerror", (e) => consoleProblems.push(`pageerror: ${e.message}`));
  page.on("request", (r) => requests.push(r.url()));
  await page.goto(`file://${file}`, { waitUntil: "load" });
  const charts = await page.$$eval(
    "figure.mb-figure svg[class^='plot-']",
    (svgs) =>
      svgs.map((s) => {
        const box = s.getBoundingClientRect();
        return {
          width: box.width,
          height: box.height,
          marks: s.querySelectorAll("circle, line, path, rect").length,
        };
      }),
  );
  const title = await page.title();
  const text = await page.innerText("body");
  await Deno.mkdir(OUT, { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  await page.close();
  return { consoleProblems, requests, charts, title, text };
}

async function withBrowser(fn: (ctx: BrowserContext, tmp: string) => Promise<void>) {
  const tmp = await Deno.makeTempDir({ prefix: "meshbench_browser_" });
  const ctx = await openBrowser(join(tmp, "profile"));
  try {
    await fn(ctx, tmp);
  } finally {
    await ctx.close();
    await Deno.remove(tmp, { recursive: true });
  }
}

function assertClean(check: PageCheck, file: string) {
  assertEquals(check.consoleProblems, [], "no console errors or warnings");
  assertEquals(
    check.requests.filter((u) => u !== `file://${file}`),
    [],
    "the report requests nothing beyond itself",
  );
  assert(check.charts.length > 0, "the report has charts");
  for (const [i, c] of check.charts.entries()) {
    assert(c.width > 300 && c.height > 100, `chart ${i} is visible: ${JSON.stringify(c)}`);
    assert(c.marks > 5, `chart ${i} has drawn marks: ${JSON.stringify(c)}`);
  }
}

Deno.test("report of each committed fixture run renders offline in Chromium", async () => {
  assert(FIXTURE_RUNS.length > 0, "at least one fixture run is committed");
  await withBrowser(async (ctx, tmp) => {
    for (const name of FIXTURE_RUNS) {
      const dir = await copyFixtureRun(name, tmp);
      const file = await writeReport(dir);
      const html = await Deno.readTextFile(file);
      const expected = (html.match(/<svg[^>]*class="plot-/g) ?? []).length;
      const shot = join(OUT, `report_${name}.png`);
      const check = await inspect(ctx, file, shot);
      assertClean(check, file);
      assertEquals(check.charts.length, expected, "every chart in the HTML is on screen");
      match(check.title, /meshbench report/);
      match(check.text, /Emulated meshes\./, "the emulation banner is on screen");
      match(check.text, /\(emulated\)/);
      console.log(`screenshot: ${shot} (${check.charts.length} charts)`);
    }
  });
});

Deno.test("report of an interrupted, partly broken run renders and names the problems", async () => {
  await withBrowser(async (ctx, tmp) => {
    const dir = await writeSyntheticRun(tmp, { samples: 1000 });
    const files = await listRunFiles(dir);
    await Deno.writeTextFile(files[2], '{"kind": "meshbench.run"');
    await Deno.remove(join(dir, "summary.json"));
    const file = await writeReport(dir);
    const shot = join(OUT, "report_broken_synthetic.png");
    const check = await inspect(ctx, file, shot);
    assertClean(check, file);
    match(check.text, /2 problems reading this run/);
    assert(check.text.includes(`runs/${basename(files[2])}`), "names the broken record");
    match(check.text, /summary\.json is missing/);
    console.log(`screenshot: ${shot} (${check.charts.length} charts)`);
  });
});
