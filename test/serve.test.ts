/**
 * serve, through its API, with real ws clients on loopback: echo, the exact global cap with one and
 * with two worker processes, slots coming back, queue mode, protections, /metrics and /healthz.
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, createServer as createNetServer, Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { privateSocketOf } from './helpers/clients.js';
import { emptyServeCounters } from '../src/metrics/serve-stats.js';
import { encodeFrame, Opcode } from '../src/protocol/frame-codec.js';
import { proveSharedReads, ServerConnections, sharedReadsInUse } from '../src/serve/server-connection.js';
import { serve, type RunningServer } from '../src/serve/server.js';
import { attempt, attemptMany, closeAll, closeEvent, echo, eventually, openSockets, tally } from './helpers/clients.js';

const servers: RunningServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function start(options: Parameters<typeof serve>[0]): Promise<RunningServer> {
  const server = await serve({ port: 0, heartbeat: 0, drainTimeout: '1s', ...options });
  servers.push(server);
  return server;
}

function httpBase(server: RunningServer): string {
  return `http://127.0.0.1:${server.port}`;
}

describe('serve: echo', () => {
  it('echoes text, binary, empty and 1 MiB messages with their type, byte for byte, in order', async () => {
    const server = await start({ max: 10, workers: 1, maxPayload: '2mb' });
    const [a] = await attemptMany(server.url, 1);
    assert.equal(a!.kind, 'open');
    const ws = (a as { ws: WebSocket }).ws;
    const text = await echo(ws, 'héllo wörld', false);
    assert.equal(text.binary, false);
    assert.equal(text.data.toString('utf8'), 'héllo wörld');
    const bytes = Buffer.from([0, 1, 2, 255, 254, 0]);
    const binary = await echo(ws, bytes, true);
    assert.equal(binary.binary, true);
    assert.deepEqual(binary.data, bytes);
    const empty = await echo(ws, Buffer.alloc(0), true);
    assert.equal(empty.data.length, 0);
    const big = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    const large = await echo(ws, big, true);
    assert.ok(large.data.equals(big));
    // Order: 200 messages sent back to back come back in the same order.
    const received: string[] = [];
    const done = new Promise<void>((resolve) => {
      ws.on('message', (data: Buffer) => {
        received.push(data.toString());
        if (received.length === 200) resolve();
      });
    });
    for (let i = 0; i < 200; i++) ws.send(String(i));
    await done;
    assert.deepEqual(received, Array.from({ length: 200 }, (_, i) => String(i)));
    await closeAll([ws]);
  });
});

for (const workers of [1, 2]) {
  describe(`serve: the cap with ${workers} worker process${workers === 1 ? '' : 'es'}`, () => {
    it('3x max clients at once, several rounds: exactly max open, the rest 503 with Retry-After', async () => {
      const max = 40;
      const server = await start({ max, workers });
      for (let round = 0; round < 3; round++) {
        // While the storm runs, the server never reports more than max open at any poll.
        let polling = true;
        let mostOpen = 0;
        const poller = (async () => {
          while (polling) {
            mostOpen = Math.max(mostOpen, (await server.stats()).open);
            await new Promise((resolve) => setImmediate(resolve));
          }
        })();
        const attempts = await attemptMany(server.url, max * 3);
        polling = false;
        await poller;
        assert.ok(mostOpen <= max, `round ${round}: ${mostOpen} open at once`);
        const counts = tally(attempts);
        assert.equal(counts.open, max, `round ${round}: open`);
        assert.deepEqual(counts.rejected, { 503: max * 2 }, `round ${round}: rejected`);
        assert.equal(counts.failed, 0);
        const refused = attempts.find((a) => a.kind === 'rejected') as { headers: Record<string, unknown> };
        assert.equal(refused.headers['retry-after'], '1');
        const stats = await server.stats();
        assert.equal(stats.open, max);
        await closeAll(openSockets(attempts));
        await eventually(async () => (await server.stats()).open === 0, 5000, 'slots to come back');
      }
      const stats = await server.stats();
      assert.equal(stats.accepted, max * 3);
      assert.equal(stats.rejected.full, max * 6);
    });
  });
}

describe('serve: slots come back however a socket ends', () => {
  it('after a client process is killed with SIGKILL', async () => {
    const server = await start({ max: 30, workers: 2 });
    const holder = fork(fileURLToPath(new URL('./helpers/hold-connections.js', import.meta.url)), [server.url, '30'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    await new Promise<void>((resolve) => holder.once('message', () => resolve()));
    assert.equal((await server.stats()).open, 30);
    const full = await attempt(server.url);
    assert.equal(full.kind, 'rejected');
    holder.kill('SIGKILL');
    await eventually(async () => (await server.stats()).open === 0, 5000, 'slots of the killed client to come back');
    const again = tally(await attemptMany(server.url, 30));
    assert.equal(again.open, 30);
  });

  it('after a TCP reset from the client', async () => {
    const server = await start({ max: 5, workers: 1 });
    const sockets = openSockets(await attemptMany(server.url, 5));
    for (const ws of sockets) (ws as unknown as { _socket: { resetAndDestroy(): void } })._socket.resetAndDestroy();
    await eventually(async () => (await server.stats()).open === 0, 5000, 'slots after resets');
  });

  it('heartbeat frees the slot of a peer that stopped answering pings', async () => {
    const server = await start({ max: 5, workers: 1, heartbeat: '100ms' });
    const [a] = await attemptMany(server.url, 1);
    const ws = (a as { ws: WebSocket }).ws;
    // A dead peer: it stops reading, so pings go unanswered.
    (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    await eventually(async () => (await server.stats()).open === 0, 5000, 'the heartbeat to terminate the dead peer');
    ws.terminate();
  });
});

describe('serve: queue mode', () => {
  it('a queued upgrade is admitted when a slot frees, first come first served', async () => {
    const server = await start({ max: 1, workers: 2, overflow: 'queue', queueTimeout: '5s' });
    const [first] = await attemptMany(server.url, 1);
    assert.equal(first!.kind, 'open');
    const waiting = attempt(server.url);
    await eventually(async () => (await server.stats()).queued === 1, 5000, 'the second upgrade to queue');
    await closeAll([(first as { ws: WebSocket }).ws]);
    const second = await waiting;
    assert.equal(second.kind, 'open');
    await closeAll([(second as { ws: WebSocket }).ws]);
  });

  it('503 after the queue timeout', async () => {
    const server = await start({ max: 1, workers: 1, overflow: 'queue', queueTimeout: '200ms' });
    const [first] = await attemptMany(server.url, 1);
    const startedAt = Date.now();
    const second = await attempt(server.url);
    assert.equal(second.kind, 'rejected');
    assert.equal((second as { status: number }).status, 503);
    assert.ok(Date.now() - startedAt >= 180, 'answered only after the queue timeout');
    assert.equal((await server.stats()).rejected['queue-timeout'], 1);
    await closeAll([(first as { ws: WebSocket }).ws]);
  });
});

describe('serve: protections', () => {
  it('closes a TCP connection that does not upgrade in time; it never held a slot', async () => {
    const server = await start({ max: 1, workers: 1, handshakeTimeout: '200ms' });
    const socket = connect({ host: '127.0.0.1', port: server.port });
    socket.write('GET /ws HTTP/1.1\r\nHost: x\r\n'); // never finished
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const stats = await server.stats();
    assert.equal(stats.handshakeTimeouts, 1);
    assert.equal(stats.open, 0);
    const ok = await attempt(server.url);
    assert.equal(ok.kind, 'open');
    await closeAll(openSockets([ok]));
  });

  it('closes a connection whose message is over --max-payload with 1009, and only that one', async () => {
    const server = await start({ max: 5, workers: 1, maxPayload: '1kb' });
    const [a, b] = openSockets(await attemptMany(server.url, 2));
    const closed = closeEvent(a!);
    a!.send(Buffer.alloc(2048));
    assert.equal((await closed).code, 1009);
    const still = await echo(b!, 'still here', false);
    assert.equal(still.data.toString(), 'still here');
    await closeAll([b!]);
  });

  it('an invalid frame closes only its own connection (1002)', async () => {
    const server = await start({ max: 5, workers: 1 });
    const [a, b] = openSockets(await attemptMany(server.url, 2));
    const closed = closeEvent(a!);
    // A masked frame with reserved opcode 0x3 is a protocol error.
    (a as unknown as { _socket: { write(b: Buffer): void } })._socket.write(Buffer.from([0x83, 0x80, 1, 2, 3, 4]));
    assert.equal((await closed).code, 1002);
    assert.equal((await echo(b!, 'ok', false)).data.toString(), 'ok');
    await closeAll([b!]);
  });

  it('a malformed upgrade is answered 400 and never takes a slot', async () => {
    const server = await start({ max: 1, workers: 1, overflow: 'queue', queueTimeout: '5s' });
    const [held] = openSockets(await attemptMany(server.url, 1));
    const socket = connect({ host: '127.0.0.1', port: server.port });
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk));
    socket.write('GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n');
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    assert.match(answer, /^HTTP\/1.1 400 /, 'answered at once, not queued behind the held slot');
    const stats = await server.stats();
    assert.equal(stats.rejected['bad-request'], 1);
    assert.equal(stats.open, 1);
    await closeAll([held!]);
  });

  it("what Node's HTTP parser refuses is answered 400 or 431 and counted, also in /metrics", async () => {
    const server = await start({ max: 2, workers: 1 });
    const answerTo = async (request: string) => {
      const socket = connect({ host: '127.0.0.1', port: server.port });
      let answer = '';
      socket.on('data', (chunk) => (answer += chunk));
      socket.on('error', () => {});
      socket.write(request);
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
      return answer;
    };
    assert.match(await answerTo('GARBAGE\r\n\r\n'), /^HTTP\/1.1 400 /);
    assert.match(await answerTo(`GET /ws HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`), /^HTTP\/1.1 431 /);
    const stats = await server.stats();
    assert.equal(stats.rejected['bad-request'], 1);
    assert.equal(stats.rejected['header-too-large'], 1);
    const metrics = await (await fetch(`${httpBase(server)}/metrics`)).text();
    assert.match(metrics, /wsbench_connections_rejected_total\{reason="bad-request",status="400"\} 1\n/);
    assert.match(metrics, /wsbench_connections_rejected_total\{reason="header-too-large",status="431"\} 1\n/);
  });

  it('an upgrade on another path is refused with 404', async () => {
    const server = await start({ max: 5, workers: 1 });
    const refused = await attempt(server.url.replace('/ws', '/other'));
    assert.deepEqual([refused.kind, (refused as { status: number }).status], ['rejected', 404]);
  });
});

describe('serve: /metrics and /healthz', () => {
  it('agree with what the clients did', async () => {
    const server = await start({ max: 3, workers: 2 });
    const attempts = await attemptMany(server.url, 5);
    const sockets = openSockets(attempts);
    for (const ws of sockets) await echo(ws, 'abcd', false);
    const metrics = await (await fetch(`${httpBase(server)}/metrics`)).text();
    const value = (line: string) => Number(metrics.split('\n').find((l) => l.startsWith(line + ' '))?.split(' ')[1]);
    assert.equal(value('wsbench_connections_open'), 3);
    assert.equal(value('wsbench_connections_max'), 3);
    assert.equal(value('wsbench_connections_accepted_total'), 3);
    assert.equal(value('wsbench_connections_rejected_total{reason="full",status="503"}'), 2);
    assert.equal(value('wsbench_messages_total{direction="in"}'), 3);
    assert.equal(value('wsbench_bytes_total{direction="out"}'), 12);
    assert.match(metrics, /# TYPE wsbench_connections_open gauge/);
    const health = (await (await fetch(`${httpBase(server)}/healthz`)).json()) as { status: string; open: number; workers: number };
    assert.equal(health.status, 'ok');
    assert.equal(health.open, 3);
    assert.equal(health.workers, 2);
    assert.equal((await fetch(`${httpBase(server)}/nope`)).status, 404);
    await closeAll(sockets);
  });
});

describe('serve: the Node internals it relies on', () => {
  it('bytes the socket read before the switch to the shared buffer, in several chunks, are all answered in order', async () => {
    // Node 26's HTTP server leaves what came after the upgrade request in the socket's readable
    // buffer, and one read() there returns only its first chunk: the rest went unanswered.
    assert.deepEqual(await proveSharedReads(), { on: true }, 'open() takes the shared-buffer path');
    const connections = new ServerConnections(1024 * 1024, emptyServeCounters());
    const server = createNetServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const accepted = once(server, 'connection') as Promise<[Socket]>;
      const client = connect((server.address() as { port: number }).port, '127.0.0.1');
      const [socket] = await accepted;
      const texts = ['one', 'two', 'three'];
      for (const [i, text] of texts.entries()) {
        client.write(encodeFrame(Buffer.from(text), Opcode.text, true));
        await eventually(() => socket.readableLength >= texts.slice(0, i + 1).join('').length + 6 * (i + 1), 5000, `chunk ${i} read`);
      }
      let answered = Buffer.alloc(0);
      client.on('data', (chunk: Buffer) => (answered = Buffer.concat([answered, chunk])));
      connections.open(socket, Buffer.alloc(0));
      const expected = Buffer.concat(texts.map((text) => encodeFrame(Buffer.from(text), Opcode.text, false)));
      await eventually(() => answered.length >= expected.length, 5000, 'every echo');
      assert.ok(answered.equals(expected), `echoes: ${answered.toString('hex')}`);
      client.destroy();
      socket.destroy();
    } finally {
      server.close();
    }
  });

  it("net's onread fields are found, and an accepted socket's handle takes a user buffer", async () => {
    assert.deepEqual(await proveSharedReads(), { on: true }, 'the shared read buffer passes its self-test');
    assert.ok(sharedReadsInUse());
    const server = createNetServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const accepted = once(server, 'connection') as Promise<[Socket]>;
      const client = connect((server.address() as { port: number }).port, '127.0.0.1');
      const [socket] = await accepted;
      assert.equal(typeof (socket as unknown as { _handle: { useUserBuffer?: unknown } })._handle.useUserBuffer, 'function');
      client.destroy();
      socket.destroy();
    } finally {
      server.close();
    }
  });
});

describe('the ws private field the tests rely on', () => {
  it('ws still has _socket, a net.Socket, and the installed ws is the minor version package.json pins', async () => {
    const pinned = (JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { dependencies: Record<string, string> }).dependencies.ws!;
    const installed = (JSON.parse(readFileSync(fileURLToPath(new URL('../../node_modules/ws/package.json', import.meta.url)), 'utf8')) as { version: string }).version;
    const match = /^~(\d+)\.(\d+)\.\d+$/.exec(pinned);
    assert.ok(match, `ws is pinned to one minor version (~x.y.z), not ${pinned}`);
    assert.equal(installed.split('.').slice(0, 2).join('.'), `${match[1]}.${match[2]}`, 'the installed ws is the pinned minor');
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    try {
      const connected = once(wss, 'connection') as Promise<[WebSocket]>;
      const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
      const [[serverSide]] = await Promise.all([connected, once(client, 'open')]);
      assert.ok(privateSocketOf(serverSide) instanceof Socket, 'ws keeps its TCP socket in _socket');
      await closeAll([client]);
    } finally {
      await new Promise((resolve) => wss.close(resolve));
    }
  });
});
