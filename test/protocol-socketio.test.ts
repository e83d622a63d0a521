/**
 * blast --protocol socketio against the real socket.io server package, in this process, counting
 * what it saw: connects and their auth, acks it answered, events it sent, disconnect reasons, and
 * namespace connects it refused. Each test compares those counts with the result of the real
 * bin/wsbench.js.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server } from 'socket.io';
import { runCliToEnd } from './helpers/cli.js';
import type { BlastResult } from '../src/metrics/blast-result.js';

interface Seen {
  connects: number;
  tokens: Set<string>;
  acksAnswered: number;
  eventsSent: number;
  joins: number;
  acksFromClient: number;
  refused: number;
  disconnects: Record<string, number>;
}

async function startServer(): Promise<{ url: string; seen: Seen; close: () => Promise<void> }> {
  const seen: Seen = { connects: 0, tokens: new Set(), acksAnswered: 0, eventsSent: 0, joins: 0, acksFromClient: 0, refused: 0, disconnects: {} };
  const http: HttpServer = createServer();
  // Pings every 100 ms: a client that does not pong is dropped ('ping timeout') within 250 ms.
  const io = new Server(http, { transports: ['websocket'], pingInterval: 100, pingTimeout: 150 });
  const onDisconnect = (reason: string) => (seen.disconnects[reason] = (seen.disconnects[reason] ?? 0) + 1);
  io.on('connection', (socket) => {
    seen.connects++;
    seen.tokens.add(String((socket.handshake.auth as { token?: string }).token));
    socket.on('ping', (arg: unknown, ack: (reply: unknown) => void) => {
      seen.acksAnswered++;
      ack(arg);
    });
    socket.on('disconnect', onDisconnect);
  });
  // /news: on join, 25 ticks 10 ms apart, and one question that asks for an ack.
  io.of('/news').on('connection', (socket) => {
    socket.on('join', () => {
      seen.joins++;
      socket.emit('question', 42, () => seen.acksFromClient++);
      let ticks = 0;
      const timer = setInterval(() => {
        if (++ticks > 25 || socket.disconnected) return clearInterval(timer);
        seen.eventsSent++;
        socket.emit('tick', { n: ticks });
      }, 10);
    });
    socket.on('disconnect', onDisconnect);
  });
  io.of('/private').use((socket, next) => {
    if ((socket.handshake.auth as { token?: string }).token === 'ok') return next();
    seen.refused++;
    next(new Error('not authorized'));
  });
  io.of('/kick').on('connection', (socket) => setTimeout(() => socket.disconnect(), 20));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}`,
    seen,
    close: async () => {
      io.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
    },
  };
}

async function blastJson(args: string[]): Promise<{ code: number | null; result: BlastResult; stderr: string }> {
  const run = await runCliToEnd(['blast', ...args, '--json', '--no-save', '-w', '1'], { timeoutMs: 60_000 });
  assert.ok(run.stdout.trim().startsWith('{'), `expected a JSON result; stderr:\n${run.stderr}`);
  return { code: run.code, result: JSON.parse(run.stdout) as BlastResult, stderr: run.stderr };
}

/** The server hears of a disconnect a moment after blast has exited. */
async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
}

test('socketio: emits with acks; acks, connects, auth and disconnects agree with the server', async () => {
  const server = await startServer();
  try {
    const { code, result } = await blastJson([server.url, '--protocol', 'socketio', '-c', '20', '--messages', '50', '-p', '2', '-d', '20s', '--event', 'ping', '--message', '[{"n":{{seq}}}]', '--socketio-auth', '{"token":"t{{conn}}"}']);
    assert.equal(code, 0);
    assert.equal(result.endReason, 'messages');
    assert.equal(result.protocol?.name, 'socketio');
    assert.equal(result.protocol.counts.connected, 20);
    assert.equal(server.seen.connects, 20);
    assert.equal(server.seen.tokens.size, 20, 'each connection rendered its own auth token');
    assert.equal(result.protocol.counts.acks, 1000);
    assert.equal(server.seen.acksAnswered, 1000);
    assert.equal(result.messages.sent, 1000);
    assert.equal(result.messages.received, 1000);
    assert.equal(result.messages.unanswered, 0);
    assert.equal(result.latency.measures, 'reply');
    assert.equal(result.latency.roundTrip.count, 1000);
    assert.equal(result.protocol.handshake.count, 20);
    assert.ok(result.histograms.handshake2_us);
    await until(() => (server.seen.disconnects['client namespace disconnect'] ?? 0) === 20);
    assert.deepEqual(server.seen.disconnects, { 'client namespace disconnect': 20 });
    assert.equal(result.protocol.counts.connectedAtEnd, 20);
  } finally {
    await server.close();
  }
});

test('socketio: subscribe counts the server\'s events as deliveries and acks its question', async () => {
  const server = await startServer();
  try {
    const { result } = await blastJson([`${server.url}/news`, '--protocol', 'socketio', '-c', '10', '-d', '1s', '--subscribe', '["join","room"]']);
    assert.equal(server.seen.joins, 10);
    assert.equal(result.protocol?.counts.subscribed, 10);
    assert.equal(server.seen.eventsSent, 250);
    // Every tick and the question are events; all were delivered.
    assert.equal(result.protocol.counts.events, 260);
    assert.equal(result.messages.delivered, 260);
    assert.equal(result.protocol.counts.acksSent, 10);
    // Every ping answered: pings were sent, and no connection ended by ping timeout.
    assert.ok(result.protocol.counts.pings! >= 50, `pings ${result.protocol.counts.pings}`);
    assert.equal(result.outcomes.dropped.total, 0);
    await until(() => (server.seen.disconnects['client namespace disconnect'] ?? 0) === 10);
    assert.deepEqual(server.seen.disconnects, { 'client namespace disconnect': 10 });
    await until(() => server.seen.acksFromClient === 10);
    assert.equal(server.seen.acksFromClient, 10);
    assert.equal(result.latency.measures, 'delivery');
  } finally {
    await server.close();
  }
});

test('socketio: a namespace that refuses (connect_error) and one that disconnects are counted with their reasons', async () => {
  const server = await startServer();
  try {
    const refused = await blastJson([`${server.url}/private`, '--protocol', 'socketio', '-c', '8', '-d', '500ms', '--socketio-auth', '{"token":"bad"}']);
    assert.equal(server.seen.refused, 8);
    assert.equal(refused.result.outcomes.accepted, 8, 'the WebSocket upgrade itself was accepted');
    assert.equal(refused.result.protocol?.counts.connectErrors, 8);
    assert.equal(refused.result.protocol.counts.connected, undefined);
    assert.deepEqual(refused.result.protocol.reasons, { 'connect_error: not authorized': 8 });

    const kicked = await blastJson([`${server.url}/kick`, '--protocol', 'socketio', '-c', '5', '-d', '500ms', '--event', 'ping']);
    assert.equal(kicked.result.protocol?.counts.connected, 5);
    assert.equal(kicked.result.protocol.counts.serverDisconnects, 5);
    assert.equal(kicked.result.protocol.reasons['server namespace disconnect'], 5);
  } finally {
    await server.close();
  }
});

test('socketio: the namespace auth payload takes each connection\'s --data row', async () => {
  const server = await startServer();
  const dir = mkdtempSync(join(tmpdir(), 'wsbench-socketio-data-'));
  const users = join(dir, 'users.csv');
  writeFileSync(users, 'user,token,id\n' + Array.from({ length: 6 }, (_, i) => `u${i},secret-${i},${i}`).join('\n') + '\n');
  try {
    const { code, result } = await blastJson([server.url, '--protocol', 'socketio', '-c', '6', '--messages', '3', '-d', '10s', '--event', 'ping', '--message', '[{"u":"{{data.user}}","id":{{data.id}}}]', '--socketio-auth', '{"token":"{{data.token}}"}', '--data', users, '--data-unique']);
    assert.equal(code, 0);
    assert.deepEqual([...server.seen.tokens].sort(), Array.from({ length: 6 }, (_, i) => `secret-${i}`));
    assert.equal(server.seen.acksAnswered, 18);
    assert.doesNotMatch(JSON.stringify(result), /secret-/, 'no row value in the result');
    const missing = await runCliToEnd(['blast', server.url, '--protocol', 'socketio', '--socketio-auth', '{"token":"{{data.password}}"}', '--data', users, '--no-save'], { timeoutMs: 20_000 });
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /--data .*users.csv line 1: "\{\{data.password\}\}" is not valid; expected a field of the header row/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await server.close();
  }
});

test('socketio: options that mean nothing for it are refused before the run (exit 2)', async () => {
  const rooms = join(mkdtempSync(join(tmpdir(), 'wsbench-socketio-rooms-')), 'rooms.csv');
  writeFileSync(rooms, 'room\nlobby\n');
  const cases: [string[], RegExp][] = [
    [['--protocol', 'socketio'], /--protocol: "socketio" is not valid; expected a URL too/],
    [['ws://127.0.0.1:9/', '--protocol', 'socketio', '--message', '{not json'], /--message: .* expected JSON/],
    [['ws://127.0.0.1:9/', '--protocol', 'socketio', '--event', 'connect'], /--event: "connect" is not valid/],
    [['ws://127.0.0.1:9/', '--namespace', '/chat'], /--namespace: "\/chat" is not valid; it is for --protocol socketio/],
    [['ws://127.0.0.1:9/', '--protocol', 'mqtt'], /--protocol: "mqtt" is not valid; expected one of ws, socketio, graphql-ws/],
    // The URL's path is the namespace, the same for every connection: no placeholder there.
    [['ws://127.0.0.1:9/{{data.room}}', '--protocol', 'socketio', '--data', rooms], /url: .* is not valid; expected no placeholder in the namespace/],
    // A placeholder in the payload that becomes the emit's argument is checked before the run.
    [['ws://127.0.0.1:9/', '--protocol', 'socketio', '--message', '{"id":{{nope}}}'], /--message: "\{\{nope\}\}" is not valid; expected one of the placeholders/],
  ];
  for (const [args, message] of cases) {
    const run = await runCliToEnd(['blast', ...args, '--no-save'], { timeoutMs: 20_000 });
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, message);
  }
});
