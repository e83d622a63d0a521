/** The real wsbench binary: serve's lifecycle, its output and its exit codes. */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { attemptMany, closeEvent, openSockets } from './helpers/clients.js';
import { freePort, runCli, runCliToEnd, startServeCli, stop, waitForHttp } from './helpers/cli.js';

describe('wsbench serve (CLI)', () => {
  it('SIGTERM: clients see 1001, totals printed, exit 0', async () => {
    const server = await startServeCli(['--max', '4', '--workers', '2']);
    const attempts = await attemptMany(server.url, 6);
    const sockets = openSockets(attempts);
    assert.equal(sockets.length, 4);
    const closes = sockets.map(closeEvent);
    const { code } = await stop(server, 'SIGTERM');
    assert.equal(code, 0);
    for (const close of await Promise.all(closes)) assert.equal(close.code, 1001);
    assert.match(server.stdout, /connections {2}accepted 4 {2}closed 4 {2}open 0/);
    assert.match(server.stdout, /rejected {5}2 {2}\(503 full: 2\)/);
    assert.match(server.stderr, /SIGTERM, closing connections/);
    assert.match(server.stdout, /stopped after [\d.]+s \(max 4, 2 workers\)/, 'the totals name the workers that served');
  });

  it('--json prints the totals as JSON on SIGINT', async () => {
    const port = await freePort();
    const server = runCli(['serve', '--port', String(port), '--max', '2', '--workers', '1', '--json']);
    await waitForHttp(`http://127.0.0.1:${port}/healthz`);
    const sockets = openSockets(await attemptMany(`ws://127.0.0.1:${port}/ws`, 1));
    const closed = closeEvent(sockets[0] as WebSocket);
    const { code } = await stop(server, 'SIGINT');
    assert.equal(code, 0);
    await closed;
    assert.equal(server.stderr, '', '--json is silent on stderr');
    const totals = JSON.parse(server.stdout) as { schemaVersion: number; accepted: number; max: number };
    assert.equal(totals.schemaVersion, 1);
    assert.equal(totals.accepted, 1);
    assert.equal(totals.max, 2);
  });

  it('bad flags: one line naming the flag, exit 2, no stack trace', async () => {
    for (const [args, pattern] of [
      [['--max', '-1'], /^wsbench: --max: "-1" is not valid; expected an integer/],
      [['--workers', '0'], /^wsbench: --workers: "0" is not valid/],
      [['--bogus'], /unknown option '--bogus'/],
      [['--overflow', 'drop'], /^wsbench: --overflow: "drop" is not valid; expected one of reject, queue/],
      [['--max', '50000', '--workers', '2'], /--max 50000 needs at least 3 worker processes/],
    ] as const) {
      const result = await runCliToEnd(['serve', ...args]);
      assert.equal(result.code, 2, `${args.join(' ')} → exit 2`);
      assert.match(result.stderr, pattern);
      assert.equal(result.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${result.stderr}`);
      assert.doesNotMatch(result.stderr, /at .*\.js:\d+/);
    }
  });

  it('port in use: one line, exit 1', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      for (const workers of ['1', '2']) {
        const result = await runCliToEnd(['serve', '--port', String(port), '--workers', workers]);
        assert.equal(result.code, 1);
        assert.match(result.stderr, new RegExp(`^wsbench: --port ${port} / --host 127.0.0.1: 127.0.0.1:${port} is already in use\\n$`));
      }
    } finally {
      blocker.close();
    }
  });

  it('--help shows examples; --version prints the version', async () => {
    const help = await runCliToEnd(['serve', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--max <count>/);
    assert.match(help.stdout, /Examples:/);
    const top = await runCliToEnd(['--help']);
    assert.match(top.stdout, /Exit codes: 0 ok, 1 run failed, 2 invalid usage/);
    const version = await runCliToEnd(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  });
});
