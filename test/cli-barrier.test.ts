/**
 * blast --barrier and --start-at, run as users run them: shards started seconds apart still run
 * together; a shard that cannot reach the barrier, or whose peers never arrive, fails clearly.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { GatedResult } from '../src/gate/gate-plan.js';
import type { MergedResult } from '../src/gate/merge.js';
import { freePort, runCli, runCliToEnd, startServeCli, stop } from './helpers/cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'wsbench-barrier-'));
const read = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as GatedResult;

describe('blast --barrier and --start-at (CLI)', () => {
  let server: Awaited<ReturnType<typeof startServeCli>>;
  before(async () => {
    server = await startServeCli(['--max', '1000', '--workers', '1']);
  });
  after(async () => {
    await stop(server);
    rmSync(scratch, { recursive: true, force: true });
  });

  it('shards started 3 s apart run together: the first waits at the barrier, and their runs overlap', async () => {
    const barrier = `http://127.0.0.1:${await freePort()}`;
    const files = [1, 2].map((i) => join(scratch, `apart-${i}.json`));
    const first = runCli(['blast', server.url, '-c', '200', '-d', '4s', '--shard', '1/2', '--barrier', barrier, '-q', '-o', files[0]!]);
    await first.waitForStderr(/waiting at the barrier .* \(this shard serves it\)/);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const second = await runCliToEnd(['blast', server.url, '-c', '200', '-d', '4s', '--shard', '2/2', '--barrier', barrier, '-q', '-o', files[1]!]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal((await first.exited).code, 0, first.stderr);
    const [a, b] = files.map(read);
    assert.ok(a!.sync!.startWaitMs >= 2500, `shard 1 waited for shard 2: ${a!.sync!.startWaitMs} ms`);
    assert.ok(b!.sync!.startWaitMs < 2000, `shard 2 did not: ${b!.sync!.startWaitMs} ms`);
    const skew = Math.abs(Date.parse(a!.clock!.runStartedAt!) - Date.parse(b!.clock!.runStartedAt!));
    assert.ok(skew < 300, `run phases began ${skew} ms apart`);
    const merged = await runCliToEnd(['merge', ...files, '--json']);
    assert.equal(merged.code, 0, merged.stderr);
    const result = JSON.parse(merged.stdout) as MergedResult;
    assert.ok(result.merged.overlap!.share >= 0.95, JSON.stringify(result.merged.overlap));
    assert.equal(result.outcomes.accepted, 200);
  });

  it('the same shards without a barrier, started 3 s apart: merge refuses their overlap (exit 2) unless --force', async () => {
    const files = [1, 2].map((i) => join(scratch, `loose-${i}.json`));
    const first = runCli(['blast', server.url, '-c', '20', '-d', '1s', '--shard', '1/2', '-q', '-o', files[0]!]);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    assert.equal((await runCliToEnd(['blast', server.url, '-c', '20', '-d', '1s', '--shard', '2/2', '-q', '-o', files[1]!])).code, 0);
    assert.equal((await first.exited).code, 0);
    const refused = await runCliToEnd(['merge', ...files]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /^wsbench: merge: .* the shards' run phases overlapped 0\.0% .*under --min-overlap 95\.0%.*--barrier or --start-at/);
    assert.equal((await runCliToEnd(['merge', ...files, '--force', '-q'])).code, 0);
    assert.equal((await runCliToEnd(['merge', ...files, '--min-overlap', '0', '-q'])).code, 0);
    assert.equal((await runCliToEnd(['merge', ...files, '--min-overlap', '120%'])).code, 2);
  });

  it('a shard that cannot reach the barrier fails with exit 1 before any connection, saying why', async () => {
    const barrier = `http://127.0.0.1:${await freePort()}`;
    const run = await runCliToEnd(['blast', server.url, '-c', '10', '--shard', '2/2', '--barrier', barrier, '--barrier-timeout', '2s', '-q', '--no-save']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^wsbench: --barrier http:\/\/127\.0\.0\.1:\d+\/: the start stage was not released within --barrier-timeout 2s: not reached \(ECONNREFUSED\) \(shard 1 serves it: is it running, and is its port reachable from here\?\)$/m);
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
  });

  it('a shard whose peer never finishes its ramp: the run barrier times out, exit 1, and the result is still written', async () => {
    const barrier = `http://127.0.0.1:${await freePort()}`;
    const file = join(scratch, 'stranded.json');
    const first = runCli(['blast', server.url, '-c', '20', '-d', '2s', '--shard', '1/2', '--barrier', barrier, '--barrier-timeout', '3s', '-q', '-o', file]);
    // Shard 2 arrives, then ramps at 2 connections a second and is killed on the way.
    const second = runCli(['blast', server.url, '-c', '20', '--connect-rate', '4', '--shard', '2/2', '--barrier', barrier, '-q', '--no-save']);
    await second.waitForStderr(/ramp done|waiting at the barrier/);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await stop(second, 'SIGKILL');
    const { code } = await first.exited;
    assert.equal(code, 1, first.stderr);
    assert.match(first.stderr, /the barrier did not release the run: --barrier .*: the run stage was not released within --barrier-timeout 3s: 1 of 2 shards had arrived/);
    const result = read(file);
    assert.equal(result.endReason, 'barrier');
    assert.equal(result.outcomes.accepted, 10, 'its own connections are accounted for');
    assert.equal(result.runMs, null);
  });

  it('--start-at: the ramp begins at the time given; bad times are refused (exit 2)', async () => {
    const file = join(scratch, 'start-at.json');
    const at = Math.ceil(Date.now() / 1000) + 2;
    const run = await runCliToEnd(['blast', server.url, '-c', '10', '-d', '1s', '--start-at', String(at), '-o', file]);
    assert.equal(run.code, 0, run.stderr);
    const result = read(file);
    assert.equal(result.sync!.startAt, new Date(at * 1000).toISOString());
    const began = Date.parse(result.startedAt);
    assert.ok(began >= at * 1000 && began < at * 1000 + 500, `ramp began at ${result.startedAt}, asked ${new Date(at * 1000).toISOString()}`);
    for (const [value, pattern] of [
      ['2020-01-01', /expected an RFC 3339 time with its offset/],
      ['2099-01-01T00:00:00Z', /expected a time at most 24 hours from now/],
    ] as const) {
      const refused = await runCliToEnd(['blast', server.url, '--start-at', value]);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, pattern);
    }
    const late = await runCliToEnd(['blast', server.url, '-c', '5', '-d', '0', '--start-at', new Date(Date.now() - 5000).toISOString(), '--json']);
    assert.equal(late.code, 0, late.stderr);
    assert.ok((JSON.parse(late.stdout) as GatedResult).sync!.startLateByMs >= 5000);
    const noShard = await runCliToEnd(['blast', server.url, '--barrier', 'http://127.0.0.1:1']);
    assert.equal(noShard.code, 2);
    assert.match(noShard.stderr, /--barrier: .* it needs --shard i\/N/);
    const withPath = await runCliToEnd(['blast', server.url, '--shard', '1/2', '--barrier', 'http://127.0.0.1:7070/sync']);
    assert.equal(withPath.code, 2);
    assert.match(withPath.stderr, /--barrier: "http:\/\/127\.0\.0\.1:7070\/sync" is not valid; expected http:\/\/HOST:PORT with no path/);
  });
});
