/**
 * End to end with large messages: the real blast binary against the real serve binary and against a
 * plain ws echo server, with messages in each of the three frame length forms (16-bit, 64-bit, and
 * 1 MiB, which also crosses many socket reads). Every echo must come back byte for byte.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { BlastResult } from '../src/metrics/blast-result.js';
import { runCliToEnd, startServeCli, stop, type CliRun } from './helpers/cli.js';
import { plainEchoServer, type TestServer } from './helpers/servers.js';

const SIZES = [
  ['1000', []],
  ['70000', []],
  ['1mb', ['--binary']],
] as const;

async function blastOnce(url: string, size: string, extra: readonly string[]): Promise<BlastResult> {
  const run = await runCliToEnd(['blast', url, '-c', '4', '-d', '1s', '--size', size, ...extra, '--json', '--no-save'], { timeoutMs: 60_000 });
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as BlastResult;
}

function assertAllEchoed(result: BlastResult, size: string): void {
  assert.equal(result.outcomes.accepted, 4, JSON.stringify(result.outcomes));
  assert.equal(result.outcomes.dropped.total, 0, `--size ${size}: ${JSON.stringify(result.outcomes.dropped)}`);
  assert.ok(result.messages.received > 0, `--size ${size}: echoes received`);
  assert.equal(result.messages.mismatched, 0, `--size ${size}: every echo matches`);
}

describe('blast: large messages echo byte for byte', () => {
  let serve: CliRun & { url: string };
  let plain: TestServer;
  before(async () => {
    serve = await startServeCli(['--max', '10', '--workers', '1', '--max-payload', '2mb']);
    plain = await plainEchoServer();
  });
  after(async () => {
    await stop(serve);
    await plain.close();
  });

  for (const [size, extra] of SIZES) {
    it(`--size ${size}${extra.length ? ' ' + extra.join(' ') : ''} against wsbench serve`, async () => {
      assertAllEchoed(await blastOnce(serve.url, size, extra), size);
    });
    it(`--size ${size}${extra.length ? ' ' + extra.join(' ') : ''} against a plain ws echo server`, async () => {
      assertAllEchoed(await blastOnce(plain.url, size, extra), size);
    });
  }
});
