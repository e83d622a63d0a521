/**
 * Figures that must be true and runs that must not crash: each case here was a bug a user met
 * (issue 16), run through the real `wsbench` binary against servers built here or `wsbench serve`,
 * with blast's counts checked against what the server saw.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { WebSocketServer } from 'ws';
import type { BlastResult } from '../src/metrics/blast-result.js';
import { runCliToEnd, startServeCli, stop } from './helpers/cli.js';
import { wsServerWith, type TestServer } from './helpers/servers.js';

const scratch = mkdtempSync(join(tmpdir(), 'wsbench-figures-'));
let files = 0;

async function blastJson(url: string, args: string[]): Promise<{ code: number | null; result: BlastResult; stderr: string }> {
  const out = join(scratch, `result-${++files}.json`);
  const run = await runCliToEnd(['blast', url, '--quiet', '--out', out, ...args], { timeoutMs: 90_000 });
  assert.equal(run.stderr.includes('    at '), false, `no stack trace: ${run.stderr}`);
  const result = JSON.parse(readFileSync(out, 'utf8')) as BlastResult;
  const { outcomes } = result;
  assert.equal(outcomes.attempted, outcomes.accepted + outcomes.rejected.total + outcomes.failed.total, 'attempted = accepted + rejected + failed');
  return { code: run.code, result, stderr: run.stderr };
}

async function withServer<S extends TestServer, T>(server: S, body: (server: S) => Promise<T>): Promise<T> {
  try {
    return await body(server);
  } finally {
    await server.close();
  }
}

describe('blast: runs that crashed or exited wrongly', () => {
  it('--fire-and-forget without --message floods the payload (text, binary, any size): no crash, every message reaches the server', { timeout: 90_000 }, async () => {
    let seen = 0;
    let seenBytes = 0;
    const server = await wsServerWith(() => {}, (_ws, data) => {
      seen++;
      seenBytes += data.length;
    });
    await withServer(server, async () => {
      for (const extra of [[], ['--binary'], ['-s', '3000']]) {
        seen = 0;
        seenBytes = 0;
        const { code, result, stderr } = await blastJson(server.url, ['-c', '2', '-d', '1s', '--fire-and-forget', ...extra]);
        assert.equal(code, 0, `${extra.join(' ')}: ${stderr}`);
        assert.ok(result.messages.sent > 0, `${extra.join(' ')}: sent ${result.messages.sent}`);
        assert.equal(result.outcomes.accepted, 2);
        // Everything sent arrives (the server reads until blast closes, after the run).
        assert.equal(seen, result.messages.sent, `${extra.join(' ')}: the server saw every message`);
        assert.equal(seenBytes, result.messages.bytesSent);
        assert.equal(result.messages.bytesSent, result.messages.sent * (extra[0] === '-s' ? 3000 : 64));
      }
    });
  });

  it('--fire-and-forget without --rate goes on after a server that stopped reading reads again', { timeout: 60_000 }, async () => {
    // The server reads nothing for 1.5 s: the sockets fill, and blast must wait for their 'drain',
    // then send on until the end of the run (it used to stop for good once a socket was full).
    let openedAt = 0;
    let lastAt = 0;
    const server = await wsServerWith(
      (ws) => {
        openedAt ||= Date.now();
        const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
        socket.pause();
        setTimeout(() => socket.resume(), 1500);
      },
      () => (lastAt = Date.now()),
    );
    await withServer(server, async () => {
      const { code, result } = await blastJson(server.url, ['-c', '2', '-d', '4s', '--fire-and-forget', '-s', '3000']);
      assert.equal(code, 0);
      assert.ok(lastAt - openedAt > 3500, `messages still arrived ${lastAt - openedAt} ms after the open (the run lasts 4 s)`);
      assert.ok(result.messages.sent > 0);
    });
  });

  it('--flood -s 1mb against serve (--max-payload 1mb): no frame over the size, no 1009, bounded memory', { timeout: 90_000 }, async () => {
    const server = await startServeCli(['--max', '10']);
    try {
      const { code, result, stderr } = await blastJson(server.url, ['-c', '4', '-d', '2s', '--flood', '-s', '1mb']);
      assert.equal(code, 0, stderr);
      assert.equal(result.outcomes.dropped.total, 0, `drops: ${JSON.stringify(result.outcomes.dropped.byCloseCode)}`);
      assert.ok(result.messages.received > 0);
      assert.ok(result.messages.bytesSent / result.messages.sent <= 1024 * 1024, 'every message fits --size');
      assert.equal(result.endReason, 'duration');
    } finally {
      await stop(server);
    }
  });

  it('--publishers with -d 0, or with --rate 0, publish nothing and exit 0; without {{now_us}} in --message they are refused (exit 2)', { timeout: 90_000 }, async () => {
    let published = 0;
    const server = await wsServerWith(() => {}, () => published++);
    await withServer(server, async () => {
      const zero = await blastJson(server.url, ['-c', '4', '-d', '0', '--publishers', '2']);
      assert.equal(zero.code, 0, zero.stderr);
      const idle = await blastJson(server.url, ['-c', '4', '-d', '2s', '--publishers', '2', '--rate', '0']);
      assert.equal(idle.code, 0, idle.stderr);
      assert.equal(idle.result.messages.sent, 0);
      assert.equal(published, zero.result.messages.sent, 'the server saw what was published');
      const refused = await runCliToEnd(['blast', server.url, '-c', '4', '-d', '1s', '--publishers', '2', '--message', 'hello {{seq}}']);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /--message: "hello \{\{seq\}\}" is not valid; .*\{\{now_us\}\}/);
    });
  });

  it('a --payload file that is not UTF-8 is refused without --binary (exit 2), and echoes as binary with it', { timeout: 60_000 }, async () => {
    const file = join(scratch, 'binary.bin');
    writeFileSync(file, Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28]));
    const server = await wsServerWith(() => {}, (ws, data, binary) => ws.send(data, { binary }));
    await withServer(server, async () => {
      const refused = await runCliToEnd(['blast', server.url, '-c', '1', '-d', '1s', '--payload', file]);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /--payload: ".*binary\.bin" is not valid; expected UTF-8 text, or --binary/);
      const { code, result } = await blastJson(server.url, ['-c', '1', '-d', '1s', '--payload', file, '--binary']);
      assert.equal(code, 0);
      assert.ok(result.messages.received > 0);
      assert.equal(result.messages.mismatched, 0);
    });
  });
});

describe('blast: figures that must be true', () => {
  it('subscribe: msg/s is the run\'s own, not the run\'s plus the closing drain\'s', { timeout: 90_000 }, async () => {
    // Pushes 50 msg/s to each connection for as long as it is open: through the run and the drain.
    const timers = new Set<NodeJS.Timeout>();
    const server = await wsServerWith((ws) => {
      const timer = setInterval(() => ws.send(`{"tick":${Date.now()}}`), 20);
      timers.add(timer);
      ws.on('close', () => clearInterval(timer));
    });
    await withServer(server, async () => {
      const { code, result } = await blastJson(server.url, ['-c', '2', '-d', '2s', '--subscribe', 'hi']);
      for (const timer of timers) clearInterval(timer);
      assert.equal(code, 0);
      const run = result.messages.received - result.messages.receivedDuringRamp - result.messages.receivedDuringDrain!;
      assert.ok(result.messages.receivedDuringDrain! > 0, 'the pusher went on during the drain');
      assert.equal(result.messages.perSecond, Math.round(run / (result.runMs! / 1000)));
      // Two connections at 50 msg/s each: about 100 msg/s; with the drain's messages in, several times that.
      assert.ok(result.messages.perSecond > 60 && result.messages.perSecond < 140, `perSecond ${result.messages.perSecond}`);
    });
  });

  it("a broadcast server's copies of other connections' messages are not echoes: against serve --mode broadcast nothing matches (exit 1)", { timeout: 90_000 }, async () => {
    // Every connection sends the same default payload but for its stamp (its number, 8 hex digits):
    // a copy of another connection's message is told from its own echo.
    const server = await startServeCli(['--max', '100', '--mode', 'broadcast']);
    try {
      const { code, result } = await blastJson(server.url, ['-c', '20', '-d', '2s']);
      assert.equal(code, 1);
      assert.equal(result.messages.received, 0);
      assert.ok(result.messages.mismatched >= 19 * 20, `every copy counted as mismatched: ${result.messages.mismatched}`);
      assert.equal(result.messages.sent, 20, 'one message each, whose echo never came');
    } finally {
      await stop(server);
    }
    // Each connection's payload begins with its own number; the rest is the payload as before.
    const heads = new Map<string, Set<string>>();
    let id = 0;
    const echo = await wsServerWith((ws) => ((ws as unknown as { id: number }).id = id++), (ws, data, binary) => {
      const key = String((ws as unknown as { id: number }).id);
      if (!heads.has(key)) heads.set(key, new Set());
      heads.get(key)!.add(data.subarray(0, 8).toString());
      ws.send(data, { binary });
    });
    await withServer(echo, async () => {
      const { code, result } = await blastJson(echo.url, ['-c', '3', '--messages', '5', '-d', '5s']);
      assert.equal(code, 0);
      assert.equal(result.messages.received, 15);
      assert.equal(result.messages.mismatched, 0);
      const stamps = [...heads.values()].map((set) => [...set]);
      assert.ok(stamps.every((one) => one.length === 1), 'one stamp per connection');
      assert.deepEqual(stamps.map((one) => one[0]).sort(), ['00000000', '00000001', '00000002']);
    });
  });

  it('messages in flight on a connection the server drops are recorded at their age: the histogram holds every message sent', { timeout: 60_000 }, async () => {
    // Echoes the first 50 messages of each connection, then goes silent and drops it a moment later.
    const server = await wsServerWith(() => {}, (ws, data, binary) => {
      const count = ((ws as unknown as { count?: number }).count = ((ws as unknown as { count?: number }).count ?? 0) + 1);
      if (count <= 50) ws.send(data, { binary });
      else if (count === 51) setTimeout(() => ws.terminate(), 200);
    });
    await withServer(server, async () => {
      const { result } = await blastJson(server.url, ['-c', '2', '-d', '3s', '-p', '4']);
      assert.equal(result.outcomes.dropped.total, 2);
      assert.equal(result.messages.received, 100);
      assert.equal(result.messages.sent, 2 * 54, 'four in flight at a time: 50 echoed, and 4 in flight when it went silent');
      assert.equal(result.messages.unanswered, result.messages.sent - result.messages.received);
      const histograms = result.latency.phases;
      assert.equal(histograms.run.roundTrip.count + histograms.ramp.roundTrip.count, result.messages.sent, 'every message sent is in the histogram');
      assert.ok(result.latency.roundTrip.max_us >= 150_000, `the unanswered ones at their age: max ${result.latency.roundTrip.max_us} µs`);
    });
  });
});

describe('input: credentials, URLs and files refused or kept out of results', () => {
  it('ws://user:secret@host: sent as HTTP Basic authentication, and redacted in the result unless --record-headers', { timeout: 60_000 }, async () => {
    const authorizations: (string | undefined)[] = [];
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
    await once(wss, 'listening');
    wss.on('connection', (ws, req) => {
      authorizations.push(req.headers.authorization);
      ws.on('message', (data: Buffer, binary: boolean) => ws.send(data, { binary }));
    });
    try {
      const url = `ws://alice:s3cr%3At@127.0.0.1:${(wss.address() as { port: number }).port}/ws`;
      const out = join(scratch, `creds-${++files}.json`);
      const run = await runCliToEnd(['blast', url, '-c', '2', '--messages', '3', '-d', '5s', '--out', out, '--quiet']);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(authorizations, Array(2).fill(`Basic ${Buffer.from('alice:s3cr:t').toString('base64')}`));
      const text = readFileSync(out, 'utf8');
      assert.equal(text.includes('s3cr'), false, 'the password is in no field of the result');
      const result = JSON.parse(text) as BlastResult & { config: { url: string } };
      assert.match(result.target.url, /^ws:\/\/<redacted>@127\.0\.0\.1:\d+\/ws$/);
      assert.match(result.config.url, /<redacted>@/);
      const kept = join(scratch, `creds-${++files}.json`);
      const recorded = await runCliToEnd(['blast', url, '-c', '1', '--messages', '1', '-d', '5s', '--out', kept, '--quiet', '--record-headers']);
      assert.equal(recorded.code, 0, recorded.stderr);
      assert.match((JSON.parse(readFileSync(kept, 'utf8')) as BlastResult).target.url, /alice:s3cr%3At@/);
    } finally {
      for (const ws of wss.clients) ws.terminate();
      await new Promise((resolve) => wss.close(resolve));
    }
  });

  it('a URL without a host or with port 0, and a --subprotocol that is no token, are refused before any connection (exit 2)', async () => {
    for (const [args, message] of [
      [['ws:///ws'], /url: "ws:\/\/\/ws" is not valid; expected a host/],
      [['ws://127.0.0.1:0/ws'], /url: "ws:\/\/127\.0\.0\.1:0\/ws" is not valid; expected a port from 1 to 65535/],
      [['ws://127.0.0.1:9/ws', '--subprotocol', 'a b'], /--subprotocol: "a b" is not valid; expected protocol names/],
    ] as const) {
      const run = await runCliToEnd(['blast', ...args, '-c', '1', '-d', '1s']);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
      assert.equal(run.stderr.trim().split('\n').length, 1, 'one line');
    }
  });

  it('serve refuses a certificate or key that is not PEM (exit 2) instead of failing every handshake', async () => {
    const run = await runCliToEnd(['serve', '--port', '0', '--tls-cert', '/dev/null', '--tls-key', '/dev/null']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^wsbench: --tls-cert: "\/dev\/null" is not valid; expected a PEM certificate/);
  });
});
