/**
 * The HTML report in a real browser: Debian's chromium, headless, driven by playwright-core (which
 * never downloads a browser here). The page must load with no console error and no request but its
 * own file, and draw every chart with its points. A screenshot goes to results/ for a person to look at.
 * Without /usr/bin/chromium (.ci/run installs it) the test is skipped, saying so.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import type { BlastResult } from '../src/metrics/blast-result.js';
import { formatHgrm, percentilePoints } from '../src/report/hgrm.js';
import { runCliToEnd, startServeCli, stop } from './helpers/cli.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = fileURLToPath(new URL('../../results/report-html.png', import.meta.url));
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium; .ci/run does): the HTML report's browser test is skipped`;

describe('HTML report in headless Chromium', () => {
  it('loads with no error and no request, and draws the distribution and the timeline with their points', { skip }, async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'wsbench-html-'));
    const profile = mkdtempSync(join(tmpdir(), 'wsbench-chromium-'));
    const server = await startServeCli(['--max', '60', '--workers', '1']);
    try {
      const out = join(scratch, 'run.json');
      const run = await runCliToEnd(['blast', server.url, '-c', '40', '-d', '2s', '--quiet', '--out', out, '--report', 'html', '--threshold', 'failed:count==0']);
      assert.equal(run.code, 0, run.stderr);
      const result = JSON.parse(readFileSync(out, 'utf8')) as BlastResult;

      const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        viewport: { width: 1100, height: 900 },
      });
      try {
        const page = await context.newPage();
        const problems: string[] = [];
        const requests: string[] = [];
        page.on('console', (message) => {
          if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
        });
        page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
        page.on('request', (request) => requests.push(request.url()));
        const url = pathToFileURL(join(scratch, 'run.html')).href;
        await page.goto(url);
        await page.waitForSelector('body[data-rendered="true"]', { timeout: 20_000 });
        // A string, evaluated in the page (this project compiles without the DOM's types).
        const points = Object.fromEntries(
          await page.evaluate<[string, number][]>("[...document.querySelectorAll('.chart')].map((el) => [el.id, Number(el.dataset.points)])"),
        );
        const canvases = await page.locator('.chart canvas').count();
        mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
        await page.screenshot({ path: SCREENSHOT, fullPage: true });

        assert.deepEqual(problems, []);
        assert.deepEqual(requests, [url], 'the page asks for nothing but itself');
        // As many points as the .hgrm distributions have (connect and the run's round trips).
        const expected = formatHgrm(result).reduce((n, file) => n + percentilePoints(file.text).length, 0);
        assert.ok(expected > 20);
        const timeline = result.timeline!;
        assert.ok(timeline.length >= 2, JSON.stringify(timeline));
        assert.deepEqual(points, {
          'chart-distribution': expected,
          'chart-throughput': timeline.length * 2,
          'chart-p99': timeline.filter((e) => e.rttP99_us !== null).length,
        });
        assert.equal(canvases, 3, 'uPlot drew three charts');
        assert.match(await page.locator('h1').innerText(), /wsbench blast: PASS/);
        assert.match(await page.locator('table').first().innerText(), /PASS\s+failed:count==0/);
      } finally {
        await context.close();
      }
    } finally {
      await stop(server);
      rmSync(profile, { recursive: true, force: true });
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
