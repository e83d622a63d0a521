/**
 * Nothing lost, nothing started for nothing: results paths checked before the run, impossible plans
 * refused before any server or process starts, and signals at every phase still give a complete
 * results file. The real binary, real servers on loopback.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { BlastResult } from '../src/metrics/blast-result.js';
import { runCli, runCliToEnd, startServeCli, stop } from './helpers/cli.js';
import { countingServer, upgradeThenIgnoreServer } from './helpers/servers.js';

const scratch = mkdtempSync(join(tmpdir(), 'wsbench-files-'));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function readResult(path: string): BlastResult {
  const result = JSON.parse(readFileSync(path, 'utf8')) as BlastResult;
  assert.equal(result.schemaVersion, 2);
  assert.equal(result.outcomes.attempted, result.outcomes.accepted + result.outcomes.rejected.total + result.outcomes.failed.total);
  return result;
}

describe('results paths are checked before the run', () => {
  for (const [label, out, pattern] of [
    ['an existing folder', scratch, /^wsbench: -o, --out: ".*" is not valid; is a directory; expected a file path/],
    ['a path under a file', '/etc/passwd/x.json', /^wsbench: -o, --out: "\/etc\/passwd\/x.json" is not valid; \/etc\/passwd is not a folder/],
    ['a folder that cannot be made', '/proc/nope/x.json', /^wsbench: -o, --out: "\/proc\/nope\/x.json" is not valid; the folder \/proc\/nope cannot be created \(E[A-Z]+\)/],
  ] as const) {
    it(`--out ${label}: one line, exit 2, no connection opened, no temp file left`, async () => {
      const server = await countingServer();
      try {
        const run = await runCliToEnd(['blast', server.url, '-c', '5', '-d', '1s', '--out', out], { timeoutMs: 20_000 });
        assert.equal(run.code, 2, run.stderr);
        assert.match(run.stderr, pattern);
        assert.equal(run.stderr.trim().split('\n').length, 1);
        assert.equal(server.connections(), 0, 'refused before the run');
        assert.deepEqual(readdirSync(scratch).filter((f) => f.endsWith('.tmp')), []);
      } finally {
        await server.close();
      }
    });
  }
});

describe('impossible plans are refused before any side effect', () => {
  it('blast -c 50000 --workers 1 (its own server): exit 2, no server started, no process forked', async () => {
    // A preload records every Node process the command starts.
    const mark = randomUUID();
    const log = join(scratch, `${mark}.log`);
    const preload = join(scratch, `${mark}.mjs`);
    writeFileSync(preload, `import { appendFileSync } from 'node:fs';\nappendFileSync(${JSON.stringify(log)}, process.argv[1] + '\\n');\n`);
    const run = await runCliToEnd(['blast', '-c', '50000', '--workers', '1', '--own-server', '--no-save'], { env: { NODE_OPTIONS: `--import=${preload}` } });
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /^wsbench: --workers: 1 is not valid; -c 50000 needs at least 3 client processes/);
    const started = readFileSync(log, 'utf8').trim().split('\n');
    assert.equal(started.length, 1, `processes started: ${started.join(', ')}`);
    assert.match(started[0]!, /wsbench\.js$/);
  });
});

describe('signals: a complete results file in every phase', () => {
  it('SIGTERM during the run: exit 130, the partial result written whole', async () => {
    const server = await startServeCli(['--max', '500', '--workers', '1']);
    const out = join(scratch, 'sigterm-run.json');
    try {
      const run = runCli(['blast', server.url, '-c', '200', '-d', '30s', '--out', out]);
      await run.waitForStderr(/running|\brun\b \d+s/, 20_000);
      await sleep(500);
      run.child.kill('SIGTERM');
      const { code } = await run.exited;
      assert.equal(code, 130, run.stderr);
      const result = readResult(out);
      assert.equal(result.interrupted, true);
      assert.equal(result.endReason, 'interrupted');
      assert.equal(result.outcomes.accepted, 200);
      assert.ok(result.messages.received > 0);
      assert.ok(!existsSync(`${out}.${run.child.pid}.tmp`));
    } finally {
      await stop(server);
    }
  });

  it('a second SIGINT during the teardown: it says so, and still writes the whole result', async () => {
    // Connections to this server can only close by blast's own 2 s deadline: a long teardown.
    const server = await upgradeThenIgnoreServer();
    const out = join(scratch, 'sigint-teardown.json');
    try {
      const run = runCli(['blast', server.url, '-c', '50', '--rate', '0', '-d', '30s', '--out', out]);
      await run.waitForStderr(/running|\brun\b \d+s/, 20_000);
      run.child.kill('SIGINT');
      await sleep(500);
      run.child.kill('SIGINT');
      const { code } = await run.exited;
      assert.equal(code, 130, run.stderr);
      assert.match(run.stderr, /closing connections; the results follow/);
      const result = readResult(out);
      assert.equal(result.interrupted, true);
      assert.equal(result.outcomes.accepted, 50);
    } finally {
      await server.close();
    }
  });
});
