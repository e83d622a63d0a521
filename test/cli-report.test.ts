/** wsbench report, blast --report and merge --report with the real binary: files, stdout, $GITHUB_STEP_SUMMARY, bad input. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCliToEnd, startServeCli, stop } from './helpers/cli.js';
import { parseXml } from './helpers/xml.js';

const scratch = mkdtempSync(join(tmpdir(), 'wsbench-report-'));

describe('wsbench report and --report (CLI)', () => {
  let server: Awaited<ReturnType<typeof startServeCli>>;
  const out = join(scratch, 'run.json');
  const summary = join(scratch, 'step-summary.md');
  let blastRun: Awaited<ReturnType<typeof runCliToEnd>>;
  before(async () => {
    server = await startServeCli(['--max', '50', '--workers', '1']);
    writeFileSync(summary, '# earlier step\n');
    blastRun = await runCliToEnd(
      ['blast', server.url, '-c', '30', '-d', '1s', '--out', out, '--report', 'html,md,junit,hgrm', '--threshold', 'failed:count==0', '--threshold', 'accepted:count<5'],
      { env: { GITHUB_STEP_SUMMARY: summary } },
    );
  });
  after(async () => {
    await stop(server);
  });

  it('blast --report writes every format next to the results file and appends the summary for GitHub', () => {
    assert.equal(blastRun.code, 99, blastRun.stderr);
    const base = join(scratch, 'run');
    const files = ['.html', '.md', '.junit.xml', '.connect.hgrm', '.rtt.hgrm'].map((suffix) => base + suffix);
    assert.match(blastRun.stderr, new RegExp(`wsbench blast: reports written to ${files.map((f) => f.replace(/[.]/g, '\\.')).join(', ')}\\n`));
    for (const file of files) assert.ok(existsSync(file), file);
    assert.equal(existsSync(`${base}.rtt-ramp.hgrm`), false, 'no round trips during the ramp: no file');
    assert.match(readFileSync(`${base}.md`, 'utf8'), /^## wsbench blast: ❌ FAIL \(exit 99\)/);
    const junit = parseXml(readFileSync(`${base}.junit.xml`, 'utf8'));
    assert.equal(junit.attributes.tests, '3');
    assert.equal(junit.attributes.failures, '1');
    assert.match(readFileSync(`${base}.rtt.hgrm`, 'utf8'), /#\[Max += +[\d.]+, Total count += +\d+\]/);
    const appended = readFileSync(summary, 'utf8');
    assert.ok(appended.startsWith('# earlier step\n## wsbench blast: ❌ FAIL (exit 99)'), appended.slice(0, 200));
    assert.match(appended, /\| ❌ FAIL \| `accepted:count<5` \| 30 \| 5 \|/);
  });

  it('report --format md prints to stdout; --format hgrm -o BASE writes one file per histogram', async () => {
    const md = await runCliToEnd(['report', out, '--format', 'md']);
    assert.equal(md.code, 0, md.stderr);
    assert.equal(md.stdout, readFileSync(join(scratch, 'run.md'), 'utf8'));
    const hgrm = await runCliToEnd(['report', out, '--format', 'hgrm', '-o', join(scratch, 'again.hgrm')]);
    assert.equal(hgrm.code, 0, hgrm.stderr);
    assert.equal(hgrm.stderr, `wsbench report: written to ${join(scratch, 'again.connect.hgrm')}, ${join(scratch, 'again.rtt.hgrm')}\n`);
    assert.equal(readFileSync(join(scratch, 'again.rtt.hgrm'), 'utf8'), readFileSync(join(scratch, 'run.rtt.hgrm'), 'utf8'));
    const junit = await runCliToEnd(['report', out, '-f', 'junit', '-o', join(scratch, 'junit.xml'), '--quiet']);
    assert.equal(junit.code, 0, junit.stderr);
    assert.equal(junit.stderr, '');
    assert.equal(parseXml(readFileSync(join(scratch, 'junit.xml'), 'utf8')).name, 'testsuites');
  });

  it('merge --report writes next to -o', async () => {
    const merged = join(scratch, 'merged.json');
    const run = await runCliToEnd(['merge', out, '-o', merged, '--report', 'junit', '--threshold', 'attempted:count==30']);
    assert.equal(run.code, 0, run.stderr);
    const suite = parseXml(readFileSync(join(scratch, 'merged.junit.xml'), 'utf8'));
    assert.equal(suite.attributes.failures, '0');
  });

  it('bad input: one line naming the option, the value and what is allowed; exit 2', async () => {
    const format = await runCliToEnd(['report', out, '--format', 'pdf']);
    assert.equal(format.code, 2);
    assert.equal(format.stderr, 'wsbench: --format: "pdf" is not valid; expected one of html, md, junit, hgrm\n');
    const notResult = join(scratch, 'not-a-result.json');
    writeFileSync(notResult, '{"hello": 1}');
    const input = await runCliToEnd(['report', notResult, '--format', 'md']);
    assert.equal(input.code, 2);
    assert.equal(input.stderr, `wsbench: report: ${JSON.stringify(notResult)} is not valid; expected a wsbench blast result (JSON written by blast --out or --json): schemaVersion: expected a schema this wsbench reads (1 to 2), got nothing\n`);
    // Refused before any connection: nothing listens at this URL, yet the answer is 2, not 1.
    const blast = await runCliToEnd(['blast', 'ws://127.0.0.1:9/ws', '--report', 'html,pdf']);
    assert.equal(blast.code, 2);
    assert.equal(blast.stderr, 'wsbench: --report: "html,pdf" is not valid; expected html, md, junit, hgrm, or several comma-separated (html,junit)\n');
    const help = await runCliToEnd(['blast', '--help']);
    assert.match(help.stdout, /--report <formats> +also write reports next to the results file/);
  });
});
