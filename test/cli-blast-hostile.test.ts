/**
 * blast against hostile servers: each ends in the right outcome class, in bounded time (the test
 * timeout), with a results file written. Exit codes are asserted only where they are 0 today and
 * will stay so (the server stayed and echoes were measured): a change in flight makes blast exit 1
 * when nothing was measured or the server went away, which covers the other cases here.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { WebSocket } from 'ws';
import type { BlastResult } from '../src/metrics/blast-result.js';
import { runCli, runCliToEnd, startServeCli } from './helpers/cli.js';
import { acceptFor, blackholeServer, rawServer, silentServer, wsServerWith, type TestServer } from './helpers/servers.js';

const scratch = mkdtempSync(join(tmpdir(), 'wsbench-hostile-'));
let fileCount = 0;

async function blastAgainst(url: string, args: string[]): Promise<{ code: number | null; result: BlastResult; stderr: string }> {
  const out = join(scratch, `result-${++fileCount}.json`);
  const run = await runCliToEnd(['blast', url, '--quiet', '--out', out, ...args], { timeoutMs: 60_000 });
  const result = JSON.parse(readFileSync(out, 'utf8')) as BlastResult;
  const { outcomes } = result;
  assert.equal(outcomes.attempted, outcomes.accepted + outcomes.rejected.total + outcomes.failed.total, 'attempted = accepted + rejected + failed');
  return { code: run.code, result, stderr: run.stderr };
}

async function withServer<T>(server: TestServer, body: (server: TestServer) => Promise<T>): Promise<T> {
  try {
    return await body(server);
  } finally {
    await server.close();
  }
}

describe('blast against hostile servers', { timeout: 120_000 }, () => {
  it('never answers the upgrade: failed ETIMEDOUT', async () => {
    await withServer(await blackholeServer(), async (server) => {
      const { result } = await blastAgainst(server.url, ['-c', '5', '--connect-timeout', '300ms', '-d', '5s']);
      assert.deepEqual(result.outcomes.failed.byReason, { ETIMEDOUT: 5 });
    });
  });

  it('answers garbage: failed bad-response', async () => {
    await withServer(await rawServer((socket) => socket.write('SSH-2.0-OpenSSH_9.6\r\n')), async (server) => {
      const { result } = await blastAgainst(server.url, ['-c', '5', '-d', '1s']);
      assert.deepEqual(result.outcomes.failed.byReason, { 'bad-response': 5 });
    });
  });

  it('answers 101 with a wrong Sec-WebSocket-Accept: failed bad-accept-key', async () => {
    const answer = (key: string) => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key + 'x')}\r\n\r\n`;
    await withServer(await rawServer((socket, key) => socket.write(answer(key))), async (server) => {
      const { result } = await blastAgainst(server.url, ['-c', '5', '-d', '1s']);
      assert.deepEqual(result.outcomes.failed.byReason, { 'bad-accept-key': 5 });
    });
  });

  for (const code of [1011, 1013]) {
    it(`accepts, then closes with ${code}: dropped by ${code}`, async () => {
      await withServer(await wsServerWith((ws) => setTimeout(() => ws.close(code), 300)), async (server) => {
        const { result } = await blastAgainst(server.url, ['-c', '5', '-d', '5s']);
        assert.equal(result.outcomes.accepted, 5);
        assert.deepEqual(result.outcomes.dropped.byCloseCode, { [code]: 5 });
      });
    });
  }

  it('echoes in fragments: every echo received and matching; exit 0', async () => {
    const inPieces = (ws: WebSocket, data: Buffer, binary: boolean) => {
      const third = Math.ceil(data.length / 3);
      ws.send(data.subarray(0, third), { binary, fin: false });
      ws.ping('between fragments');
      ws.send(data.subarray(third, 2 * third), { binary, fin: false });
      ws.send(data.subarray(2 * third), { binary, fin: true });
    };
    await withServer(await wsServerWith(() => {}, inPieces), async (server) => {
      for (const args of [['--size', '1000'], ['--size', '70000', '--binary']]) {
        const { code, result, stderr } = await blastAgainst(server.url, ['-c', '4', '-d', '1s', ...args]);
        assert.equal(code, 0, stderr);
        assert.ok(result.messages.received > 0);
        assert.equal(result.messages.mismatched, 0);
        assert.equal(result.outcomes.dropped.total, 0);
      }
    });
  });

  it('stops echoing: unanswered messages counted, the run ends', async () => {
    await withServer(await silentServer(), async (server) => {
      const { result } = await blastAgainst(server.url, ['-c', '5', '-d', '1s']);
      assert.equal(result.messages.received, 0);
      assert.equal(result.messages.unanswered, 5);
    });
  });

  it('sends unsolicited messages, a huge one, and pings: pings answered, unsolicited counted as mismatched; exit 0', async () => {
    const pongs = { count: 0 };
    const hostile = (ws: WebSocket) => {
      ws.on('pong', () => pongs.count++);
      ws.ping('are you there');
      ws.send('unsolicited');
      ws.send(Buffer.alloc(8 * 1024 * 1024, 7), { binary: true });
      ws.send('unsolicited again');
    };
    // With --ramp-traffic each connection sends at once; the unsolicited messages arrive while its
    // first message waits for its (delayed) echo or after it, and the echoes still come back.
    const delayedEcho = (ws: WebSocket, data: Buffer, binary: boolean) => setTimeout(() => ws.send(data, { binary }), 200);
    await withServer(await wsServerWith(hostile, delayedEcho), async (server) => {
      const { code, result, stderr } = await blastAgainst(server.url, ['-c', '3', '-d', '1s', '--ramp-traffic']);
      assert.equal(code, 0, stderr);
      assert.equal(pongs.count, 3, 'every ping answered with a pong');
      assert.ok(result.messages.received > 0);
      assert.equal(result.outcomes.dropped.total, 0, JSON.stringify(result.outcomes.dropped));
      assert.ok(result.messages.mismatched >= 3, `unsolicited messages counted: ${result.messages.mismatched}`);
    });
  });

  it('is killed mid-run: dropped 1006, results written', async () => {
    const server = await startServeCli(['--max', '10', '--workers', '1']);
    const out = join(scratch, `result-${++fileCount}.json`);
    const run = runCli(['blast', server.url, '-c', '10', '-d', '60s', '--out', out]);
    await run.waitForStderr(/holding|hold \d+s|run/, 20_000).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    server.child.kill('SIGKILL');
    await run.exited;
    const result = JSON.parse(readFileSync(out, 'utf8')) as BlastResult;
    assert.equal(result.outcomes.accepted, 10);
    assert.deepEqual(result.outcomes.dropped.byCloseCode, { 1006: 10 });
  });
});
