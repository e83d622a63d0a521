/**
 * blast --compress end to end, the real binary against real servers: serve --compress (counted on
 * both sides: blast's result and serve's /healthz), ws with perMessageDeflate (the oracle: it
 * sees every message compressed and the parameters offered), a server that declines (the run
 * still works, not negotiated), servers that answer parameters not offered (bad-extension), a
 * zip bomb from the server (1009 at --max-payload), and the options' refusals (exit 2). With context
 * takeover nothing sent before a close is lost: every message blast counts as sent reaches ws
 * under --lifetime churn, and socket.io hears each client's own disconnect packet.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createServer as createHttpServer } from 'node:http';
import { constants, deflateRawSync } from 'node:zlib';
import { Server as SocketIoServer } from 'socket.io';
import { WebSocketServer, type WebSocket } from 'ws';
import type { BlastResult } from '../src/metrics/blast-result.js';
import { runCliToEnd, startServeCli, stop } from './helpers/cli.js';
import { rawServer, upgradeAnswer, type TestServer } from './helpers/servers.js';

const scratch = mkdtempSync(join(tmpdir(), 'wsbench-compress-'));
let fileCount = 0;

async function blast(url: string, args: string[]): Promise<{ code: number | null; result: BlastResult; stdout: string; stderr: string }> {
  const out = join(scratch, `result-${++fileCount}.json`);
  const run = await runCliToEnd(['blast', url, '--quiet', '--out', out, ...args], { timeoutMs: 60_000 });
  return { code: run.code, result: JSON.parse(readFileSync(out, 'utf8')) as BlastResult, stdout: run.stdout, stderr: run.stderr };
}

/** A ws echo server with `perMessageDeflate` (false: declines); it records each connection's agreed parameters and whether each message came compressed. */
async function wsEcho(perMessageDeflate: false | object): Promise<TestServer & { params: Record<string, unknown>[]; compressedMessages: () => number; messages: () => number }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate });
  await once(wss, 'listening');
  const params: Record<string, unknown>[] = [];
  let messages = 0;
  let compressedMessages = 0;
  wss.on('connection', (ws: WebSocket) => {
    const extension = (ws as unknown as { _extensions: Record<string, { params: Record<string, unknown> }> })._extensions['permessage-deflate'];
    if (extension) params.push(extension.params);
    // ws's Receiver knows whether the message it is delivering had RSV1.
    const receiver = (ws as unknown as { _receiver: { _compressed: boolean } })._receiver;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      messages++;
      if (receiver._compressed) compressedMessages++;
      ws.send(data, { binary: isBinary });
    });
    ws.on('error', () => {});
  });
  const port = (wss.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    port,
    params,
    messages: () => messages,
    compressedMessages: () => compressedMessages,
    close: () =>
      new Promise((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => resolve());
      }),
  };
}

const JSON_MESSAGE = JSON.stringify({ id: '{{seq}}', user: 'conn-{{conn}}', text: 'the same words again and again, '.repeat(20) });

describe('blast --compress', { timeout: 300_000 }, () => {
  it('against serve --compress: negotiated on every connection, counted by both, every echo right', async () => {
    const serve = await startServeCli(['--max', '100', '--heartbeat', '0', '--compress']);
    try {
      const { code, result, stdout, stderr } = await blast(serve.url, ['-c', '20', '-d', '1s', '--compress', '--message', JSON_MESSAGE]);
      assert.equal(code, 0, stderr);
      assert.match(stdout, /^ {2}compression: permessage-deflate negotiated \(20 with, 0 without\); sent \d+% smaller, received \d+% smaller$/m);
      assert.equal(result.outcomes.accepted, 20);
      assert.equal(result.messages.mismatched, 0);
      assert.ok(result.messages.received > 100, `${result.messages.received} echoes`);
      const compression = result.compression!;
      assert.equal(compression.offered, 'permessage-deflate; client_max_window_bits');
      assert.equal(compression.negotiated, 20);
      assert.equal(compression.notNegotiated, 0);
      assert.ok(compression.bytesAfterCompression < compression.bytesBeforeCompression / 3, JSON.stringify(compression));
      assert.ok(compression.bytesReceivedCompressed < compression.bytesReceivedInflated / 3, JSON.stringify(compression));
      // Every echo was inflated: what came back compressed is what was received.
      assert.equal(compression.bytesReceivedInflated, result.messages.bytesReceived);
      const port = new URL(serve.url).port;
      const stats = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { compressionNegotiated: number; accepted: number };
      assert.equal(stats.compressionNegotiated, 20);
      assert.equal(stats.accepted, 20);
    } finally {
      await stop(serve);
    }
  });

  it("against serve --mode reply --compress (serve's own permessage-deflate, as in echo): negotiated, every request answered", async () => {
    const serve = await startServeCli(['--max', '100', '--heartbeat', '0', '--compress', '--mode', 'reply']);
    try {
      const { code, result, stderr } = await blast(serve.url, ['-c', '10', '-d', '1s', '--compress', '--message', '{"id":"{{seq}}","text":"again and again and again"}', '--reply-id', 'id']);
      assert.equal(code, 0, stderr);
      assert.equal(result.compression!.negotiated, 10);
      assert.ok(result.messages.received > 50, `${result.messages.received} replies`);
      assert.equal(result.messages.unmatched, 0);
      assert.ok(result.compression!.bytesReceivedCompressed > 0);
      const port = new URL(serve.url).port;
      const stats = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { compressionNegotiated: number };
      assert.equal(stats.compressionNegotiated, 10);
    } finally {
      await stop(serve);
    }
  });

  it('against ws with perMessageDeflate: every message it receives is compressed, with the parameters offered', async () => {
    const server = await wsEcho({ threshold: 0 });
    try {
      const { code, result, stderr } = await blast(server.url, [
        '-c', '10', '-d', '1s', '--compress', '--message', JSON_MESSAGE,
        '--compress-client-no-context-takeover', '--compress-server-no-context-takeover', '--compress-window-bits', '10',
      ]);
      assert.equal(code, 0, stderr);
      assert.equal(result.compression!.negotiated, 10);
      assert.equal(result.messages.mismatched, 0);
      assert.equal(server.params.length, 10);
      assert.deepEqual({ ...server.params[0] }, { client_no_context_takeover: true, server_no_context_takeover: true, server_max_window_bits: 10, client_max_window_bits: 10 });
      assert.ok(server.messages() > 50, `${server.messages()} messages`);
      assert.equal(server.compressedMessages(), server.messages(), 'every message blast sent was compressed');
    } finally {
      await server.close();
    }
  });

  it('with context takeover, a close loses nothing: under --lifetime churn ws receives every message blast counts as sent', async () => {
    const server = await wsEcho({ threshold: 0 });
    try {
      // Many connections closing all the time (and all at the end), each with a message in flight.
      const { code, result, stderr } = await blast(server.url, ['-c', '200', '-d', '3s', '--compress', '--lifetime', '300ms', '--message', JSON_MESSAGE]);
      assert.equal(code, 0, stderr);
      assert.ok(result.compression!.negotiated >= 200);
      assert.ok(result.messages.sent > 200, `${result.messages.sent} sent`);
      // ws counts a message when its inflation ends; the last closes reach it just after blast's exit.
      const deadline = Date.now() + 3000;
      while (server.messages() < result.messages.sent && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(server.messages(), result.messages.sent, 'every message blast counted as sent was received and inflated');
      assert.equal(server.compressedMessages(), server.messages());
    } finally {
      await server.close();
    }
  });

  it("socketio with context takeover: the server hears every client's disconnect packet (41), not a transport close", async () => {
    const http = createHttpServer();
    const io = new SocketIoServer(http, { transports: ['websocket'], perMessageDeflate: { threshold: 0 } });
    const disconnects: Record<string, number> = {};
    io.on('connection', (socket) => {
      socket.on('ping', (arg: unknown, ack: (reply: unknown) => void) => ack(arg));
      socket.on('disconnect', (reason: string) => (disconnects[reason] = (disconnects[reason] ?? 0) + 1));
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    try {
      const url = `ws://127.0.0.1:${(http.address() as { port: number }).port}`;
      const { code, result, stderr } = await blast(url, ['--protocol', 'socketio', '-c', '20', '--messages', '10', '-d', '20s', '--event', 'ping', '--message', '[{"n":{{seq}}}]', '--compress']);
      assert.equal(code, 0, stderr);
      assert.equal(result.compression!.negotiated, 20);
      assert.equal(result.messages.received, 200);
      const deadline = Date.now() + 3000;
      while ((disconnects['client namespace disconnect'] ?? 0) < 20 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(disconnects, { 'client namespace disconnect': 20 });
    } finally {
      io.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
    }
  });

  it('against a server that declines: not negotiated, and the run works on plain frames', async () => {
    const server = await wsEcho(false);
    try {
      const { code, result, stdout, stderr } = await blast(server.url, ['-c', '10', '-d', '1s', '--compress']);
      assert.equal(code, 0, stderr);
      assert.match(stdout, /^ {2}compression: permessage-deflate not negotiated \(0 with, 10 without\)$/m);
      assert.deepEqual([result.compression!.negotiated, result.compression!.notNegotiated], [0, 10]);
      assert.equal(result.compression!.bytesBeforeCompression, 0);
      assert.equal(server.compressedMessages(), 0);
      assert.ok(result.messages.received > 50);
      assert.equal(result.outcomes.failed.total, 0);
    } finally {
      await server.close();
    }
  });

  for (const [name, answer, args] of [
    ['a parameter nobody knows', 'permessage-deflate; foo', []],
    ['a window larger than offered', 'permessage-deflate; server_max_window_bits=12', ['--compress-window-bits', '10']],
    ['no server_no_context_takeover when asked', 'permessage-deflate', ['--compress-server-no-context-takeover']],
    ['another extension', 'x-webkit-deflate-frame', []],
  ] as const) {
    it(`a server that answers ${name}: failed, bad-extension`, async () => {
      const server = await rawServer((socket, key) => socket.write(upgradeAnswer(key, [`Sec-WebSocket-Extensions: ${answer}`])));
      try {
        const { result } = await blast(server.url, ['-c', '3', '-d', '1s', '--compress', ...args]);
        assert.deepEqual(result.outcomes.failed.byReason, { 'bad-extension': 3 });
        assert.deepEqual([result.compression!.negotiated, result.compression!.notNegotiated], [0, 0]);
      } finally {
        await server.close();
      }
    });
  }

  it("a zip bomb from the server: 1009 at --max-payload, and blast's close frame says so", async () => {
    // 64 MiB of zeros in about 64 KB, against a limit of 1 MiB.
    const bomb = deflateRawSync(Buffer.alloc(64 * 1024 * 1024), { finishFlush: constants.Z_SYNC_FLUSH }).subarray(0, -4);
    const header = Buffer.from([0x80 | 0x40 | 2, 127, 0, 0, 0, 0, 0, 0, 0, 0]);
    header.writeUInt32BE(bomb.length, 6);
    const server = await rawServer((socket, key) => {
      socket.write(upgradeAnswer(key, ['Sec-WebSocket-Extensions: permessage-deflate']));
      socket.write(Buffer.concat([header, bomb]));
    });
    try {
      const { result } = await blast(server.url, ['-c', '2', '-d', '1s', '--compress', '--max-payload', '1mb', '--rate', '0']);
      assert.equal(result.compression!.negotiated, 2);
      assert.deepEqual(result.outcomes.dropped.byCloseCode, { 1009: 2 });
      // blast's close frame said 1009 too.
      // (blast's reachability probe is a connection too, which sends nothing.)
      const upgraded = server.connections.filter((connection) => connection.received.length > 0);
      assert.equal(upgraded.length, 2);
      for (const connection of upgraded) {
        const sent = Buffer.concat(connection.received);
        assert.ok(sent.length >= 8 && (sent[0]! & 0x0f) === 8, `a close frame: ${sent.toString('hex')}`);
        const code = ((sent[6]! ^ sent[2]!) << 8) | (sent[7]! ^ sent[3]!);
        assert.equal(code, 1009);
      }
    } finally {
      await server.close();
    }
  });

  it('--scenario with --compress: every step compressed, every expect reads the inflated reply', async () => {
    const server = await startServeCli(['--max', '100', '--mode', 'reply', '--compress', '--workers', '1']);
    try {
      const { code, result, stderr } = await blast(server.url, ['-c', '10', '-d', '5s', '--compress', '--scenario', new URL('../../examples/jsonrpc.yaml', import.meta.url).pathname]);
      assert.equal(code, 0, stderr);
      assert.equal(result.compression?.negotiated, 10);
      assert.ok(result.compression!.bytesAfterCompression < result.compression!.bytesBeforeCompression, 'steps went out compressed');
      assert.ok(result.messages.received >= 100, `replies ${result.messages.received}`);
      assert.equal(result.messages.unmatched, 0);
    } finally {
      await stop(server);
    }
  });

  it('refuses bad options with one line and exit 2', async () => {
    for (const [args, message] of [
      [['blast', 'ws://127.0.0.1:9/ws', '--compress', '--compress-window-bits', '16'], /--compress-window-bits: "?16"? is not valid; expected an integer from 8 to 15/],
      [['blast', 'ws://127.0.0.1:9/ws', '--compress-window-bits', '10'], /--compress-window-bits: "?10"? is not valid; it is for --compress/],
      [['blast', 'ws://127.0.0.1:9/ws', '--compress-client-no-context-takeover'], /--compress-client-no-context-takeover: .* it is for --compress/],
      [['blast', 'ws://127.0.0.1:9/ws', '--compress', '--flood', '--message', '{{now_us}}'], /--compress: .*--flood/],
      [['serve', '--compress-server-no-context-takeover'], /--compress-server-no-context-takeover: .* expected only with --compress/],
    ] as const) {
      const run = await runCliToEnd([...args]);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    }
  });
});
