/**
 * serve --mode reply and --mode broadcast, end to end: real ws clients on loopback against the API
 * (in-process) and the real binary with two worker processes, so broadcasts cross the primary's relay.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { resolveServeConfig } from '../src/config/serve-config.js';
import type { ServeStats } from '../src/metrics/serve-stats.js';
import { replyFor } from '../src/serve/modes.js';
import { privateSocketOf } from './helpers/clients.js';
import { serve, type RunningServer } from '../src/serve/server.js';
import { attempt, closeAll, closeEvent, eventually } from './helpers/clients.js';
import { runCliToEnd, startServeCli, stop, type CliRun } from './helpers/cli.js';

const servers: RunningServer[] = [];
const clis: CliRun[] = [];
const clients: WebSocket[] = [];
after(async () => {
  await closeAll(clients.filter((ws) => ws.readyState === WebSocket.OPEN));
  for (const ws of clients) ws.terminate();
  await Promise.all([...servers.map((s) => s.close()), ...clis.map((run) => stop(run))]);
});

async function start(options: Parameters<typeof serve>[0]): Promise<RunningServer> {
  const server = await serve({ port: 0, heartbeat: 0, drainTimeout: '1s', ...options });
  servers.push(server);
  return server;
}

async function startCli(args: string[]): Promise<CliRun & { url: string }> {
  const run = await startServeCli(['--heartbeat', '0', '--drain-timeout', '1s', ...args]);
  clis.push(run);
  return run;
}

interface Received {
  text: string;
  binary: boolean;
}

type Client = WebSocket & { inbox: Received[] };

/** A client that keeps every message it gets. */
async function client(url: string): Promise<Client> {
  const outcome = await attempt(url);
  assert.equal(outcome.kind, 'open', `connect to ${url}: ${JSON.stringify(outcome)}`);
  const ws = Object.assign((outcome as { ws: WebSocket }).ws, { inbox: [] as Received[] });
  ws.on('message', (data: Buffer, binary: boolean) => ws.inbox.push({ text: data.toString(), binary }));
  clients.push(ws);
  return ws;
}

async function clientsOf(url: string, count: number) {
  const opened = [];
  // One at a time: accept order decides round-robin rooms, and the two workers each take some.
  for (let i = 0; i < count; i++) opened.push(await client(url));
  return opened;
}

async function healthz(url: string): Promise<ServeStats & { mode: string }> {
  const base = url.replace(/^ws/, 'http').replace(/\/ws$/, '');
  return (await (await fetch(`${base}/healthz`)).json()) as ServeStats & { mode: string };
}

describe('serve --mode reply', () => {
  it('answers each request with its own id, interleaved over connections; bad requests get an error and are counted', async () => {
    const server = await start({ mode: 'reply', workers: 1 });
    const [a, b, c] = await clientsOf(server.url, 3);
    // Requests from three connections at once, ids of both kinds, JSON-RPC and plain.
    const sent = new Map<Client, { id: string | number; expected: unknown }[]>([[a!, []], [b!, []], [c!, []]]);
    for (let i = 0; i < 60; i++) {
      const ws = [a!, b!, c!][i % 3]!;
      const id = i % 2 === 0 ? i : `req-${i}`;
      if (i % 4 < 2) {
        ws.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'sum', params: [i, 1] }));
        sent.get(ws)!.push({ id, expected: [i, 1] });
      } else {
        const request = { id, payload: 'x'.repeat(i) };
        ws.send(JSON.stringify(request), { binary: i % 3 === 0 });
        sent.get(ws)!.push({ id, expected: request });
      }
    }
    await eventually(() => [a!, b!, c!].every((ws) => ws.inbox.length === 20), 10_000, '20 answers each');
    for (const [ws, requests] of sent) {
      const answers = ws.inbox.map((m) => {
        assert.equal(m.binary, false, 'answers are text');
        return JSON.parse(m.text) as { jsonrpc: string; id: unknown; result: unknown };
      });
      const byId = new Map(answers.map((answer) => [answer.id, answer]));
      assert.equal(byId.size, requests.length, 'one answer per id');
      for (const { id, expected } of requests) {
        assert.deepEqual(byId.get(id), { jsonrpc: '2.0', id, result: expected });
      }
    }

    const bad = await client(server.url);
    for (const message of ['not json', '[1,2]', '{"no":"id"}', '{"id":null}', '{"id":{"x":1}}', '42']) bad.send(message);
    await eventually(() => bad.inbox.length === 6, 10_000, 'six error answers');
    const errors = bad.inbox.map((m) => JSON.parse(m.text) as { id: unknown; error: { code: number } });
    assert.deepEqual(errors.map((e) => [e.id, e.error.code]), [[null, -32700], [null, -32600], [null, -32600], [null, -32600], [null, -32600], [null, -32600]]);

    const stats = await server.stats();
    assert.equal(stats.messagesIn, 66);
    assert.equal(stats.messagesOut, 66);
    assert.equal(stats.badMessages, 6);
    const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    assert.match(metrics, /^wsbench_bad_messages_total 6$/m);
    assert.equal((await healthz(server.url)).mode, 'reply');
  });

  it('works in worker processes too (the mode travels with the config)', async () => {
    const server = await start({ mode: 'reply', workers: 2 });
    const ws = await client(server.url);
    ws.send('{"id":"w","params":{"a":1}}');
    await eventually(() => ws.inbox.length === 1, 10_000, 'an answer');
    assert.deepEqual(JSON.parse(ws.inbox[0]!.text), { jsonrpc: '2.0', id: 'w', result: { a: 1 } });
  });

  it('replyFor: the answer shapes', () => {
    assert.deepEqual(replyFor(Buffer.from('{"id":7}')), { ok: true, text: '{"jsonrpc":"2.0","id":7,"result":{"id":7}}' });
    assert.deepEqual(replyFor(Buffer.from('{"id":"a","params":null}')), { ok: true, text: '{"jsonrpc":"2.0","id":"a","result":null}' });
    assert.equal(replyFor(Buffer.from('{"id":')).ok, false);
  });
});

describe('serve --mode broadcast', () => {
  it('with 2 workers: every other connection gets each message exactly once, the publisher never its own', async () => {
    const server = await startCli(['--mode', 'broadcast', '--workers', '2']);
    const members = await clientsOf(server.url, 12);
    members.forEach((ws, i) => ws.send(i % 2 === 0 ? `from ${i}` : Buffer.from(`from ${i}`), { binary: i % 2 === 1 }));
    await eventually(() => members.every((ws) => ws.inbox.length === 11), 10_000, '11 messages at each member');
    await new Promise((resolve) => setTimeout(resolve, 200)); // anything extra would have come by now
    members.forEach((ws, i) => {
      const got = ws.inbox.map((m) => `${m.text}${m.binary ? ' (binary)' : ''}`).sort();
      const expected = members.flatMap((_, j) => (j === i ? [] : [`from ${j}${j % 2 === 1 ? ' (binary)' : ''}`])).sort();
      assert.deepEqual(got, expected, `member ${i}`);
    });
    const stats = await healthz(server.url);
    assert.equal(stats.mode, 'broadcast');
    assert.equal(stats.messagesIn, 12);
    assert.equal(stats.messagesOut, 12 * 11, 'out = in x (members - 1)');
    assert.equal(stats.relayedIn, 12, 'each message relayed to the other worker once');
    assert.equal(stats.relaysDropped, 0);
  });

  it('rooms: by ?room=, by a room field (which moves the sender), never across rooms; bad rooms refused', async () => {
    const server = await startCli(['--mode', 'broadcast', '--workers', '2', '--rooms', '3']);
    const roomA = await clientsOf(`${server.url}?room=0`, 4);
    const roomB = await clientsOf(`${server.url}?room=1`, 4);
    const joiner = await client(`${server.url}?room=2`);
    const quiet = async () => new Promise((resolve) => setTimeout(resolve, 300));

    roomB[0]!.send('b says');
    roomA[0]!.send('a says');
    await eventually(() => roomA.slice(1).every((ws) => ws.inbox.length === 1) && roomB.slice(1).every((ws) => ws.inbox.length === 1), 10_000, 'one message per member');
    await quiet();
    for (const ws of roomA.slice(1)) assert.deepEqual(ws.inbox.map((m) => m.text), ['a says']);
    for (const ws of roomB.slice(1)) assert.deepEqual(ws.inbox.map((m) => m.text), ['b says']);
    assert.equal(roomA[0]!.inbox.length + roomB[0]!.inbox.length, 0, 'publishers get nothing of their own');

    // The joiner moves into room 1 with its message, which room 1 gets; then it gets room 1's.
    const join = JSON.stringify({ room: 1, hello: 'from the joiner' });
    joiner.send(join);
    await eventually(() => roomB.every((ws) => ws.inbox.at(-1)?.text === join), 10_000, 'room 1 hears the joiner');
    roomB[1]!.send('b again');
    roomA[1]!.send('a again');
    await eventually(() => joiner.inbox.length === 1 && roomA[0]!.inbox.length === 1, 10_000, 'the joiner hears room 1');
    await quiet();
    assert.deepEqual(joiner.inbox.map((m) => m.text), ['b again']);
    for (const ws of roomA) assert.ok(!ws.inbox.some((m) => m.text === join || m.text === 'b again'), 'room 0 hears nothing of room 1');

    // A room field out of range: dropped and counted. A ?room= out of range: 400 before any slot.
    roomA[0]!.send('{"room":7}');
    roomA[0]!.send('{"room":"2"}'); // a decimal string is a room too: moves it to room 2, alone
    await eventually(async () => (await healthz(server.url)).badMessages === 1, 10_000, 'badMessages 1');
    assert.deepEqual(await attempt(`${server.url}?room=3`).then((a) => a.kind === 'rejected' && a.status), 400);
    await quiet();
    for (const ws of roomA.slice(1)) assert.ok(!ws.inbox.some((m) => m.text.includes('"room"')), 'bad or moved messages stay out of room 0');
  });

  it('in one process, connections without ?room= are dealt round robin by accept order', async () => {
    const server = await start({ mode: 'broadcast', workers: 1, rooms: 2 });
    const [first, second, third, fourth] = await clientsOf(server.url, 4);
    first!.send('to room 0');
    second!.send('to room 1');
    await eventually(() => third!.inbox.length === 1 && fourth!.inbox.length === 1, 10_000, 'one each');
    assert.equal(third!.inbox[0]!.text, 'to room 0');
    assert.equal(fourth!.inbox[0]!.text, 'to room 1');
    assert.equal(first!.inbox.length + second!.inbox.length, 0);
    assert.equal((await server.stats()).relayedIn, 0, 'no relay in one process');
  });

  it('a subscriber that stops reading is closed with 1008 and counted; the others get every message', async () => {
    const server = await startCli(['--mode', 'broadcast', '--workers', '2', '--subscriber-buffer', '256kb']);
    const [publisher, ...subscribers] = await clientsOf(server.url, 5);
    const slow = subscribers.pop()!;
    // Stop reading: the kernel's buffers fill, then the server's queue for it passes 256 KiB.
    privateSocketOf(slow)!.pause();
    // Published in rounds of 128 KiB that the readers take in before the next: a publisher faster
    // than its readers for good would (rightly) have them dropped too. Rounds go on until the slow
    // one is dropped (once the loopback buffers are full: a few MiB), then 8 more.
    const message = 'x'.repeat(16 * 1024);
    let sent = 0;
    let roundsAfterDrop = -1;
    while (roundsAfterDrop < 8) {
      for (let i = 0; i < 8; i++) publisher!.send(`${sent++} ${message}`);
      await eventually(() => subscribers.every((ws) => ws.inbox.length === sent), 10_000, `${sent} messages at each reading subscriber`);
      if (roundsAfterDrop >= 0) roundsAfterDrop++;
      else if (sent % 128 === 0 && (await healthz(server.url)).slowSubscribersDropped > 0) roundsAfterDrop = 0;
      assert.ok(sent < 4096, 'the slow subscriber is dropped within 64 MiB');
    }
    for (const ws of subscribers) {
      assert.equal(ws.readyState, WebSocket.OPEN);
      assert.ok(ws.inbox.every((m, i) => m.text.startsWith(`${i} `)), 'in order, none missing');
    }
    const stats = await healthz(server.url);
    assert.equal(stats.slowSubscribersDropped, 1);
    assert.equal(stats.relaysDropped, 0);
    // Reading again, the slow one gets what was queued and then the close.
    const closed = closeEvent(slow);
    privateSocketOf(slow)!.resume();
    assert.equal((await closed).code, 1008);
    assert.ok(slow.inbox.length < sent, `the slow subscriber got ${slow.inbox.length} of ${sent}`);

    const { code } = await stop(server, 'SIGTERM');
    assert.equal(code, 0);
    assert.match(server.stdout, /^ {2}modes .*slow subscribers dropped 1$/m);
  });
});

describe('serve modes: configuration', () => {
  it('refuses bad modes, bad rooms, and broadcast options without broadcast', () => {
    assert.equal(resolveServeConfig({}).mode, 'echo');
    assert.equal(resolveServeConfig({}).rooms, 1);
    assert.equal(resolveServeConfig({ mode: 'broadcast', subscriberBuffer: '2mb' }).subscriberBufferBytes, 2 * 1024 * 1024);
    assert.throws(() => resolveServeConfig({ mode: 'pubsub' }), /--mode: "pubsub" is not valid; expected one of echo, reply, broadcast/);
    assert.throws(() => resolveServeConfig({ mode: 'broadcast', rooms: '0' }), /--rooms: "0" is not valid; expected an integer from 1/);
    assert.throws(() => resolveServeConfig({ mode: 'reply', rooms: 4 }), /--rooms: 4 is not valid; expected 1 with --mode reply; rooms need --mode broadcast/);
    assert.throws(() => resolveServeConfig({ subscriberBuffer: '1mb' }), /--subscriber-buffer: "1mb" is not valid; expected only with --mode broadcast/);
  });

  it('the CLI: one line naming the option, exit 2', async () => {
    for (const [args, pattern] of [
      [['--mode', 'fanout'], /^wsbench: --mode: "fanout" is not valid; expected one of echo, reply, broadcast$/],
      [['--mode', 'broadcast', '--rooms', '1.5'], /^wsbench: --rooms: "1.5" is not valid; expected an integer from 1 to 100000/],
      [['--rooms', '8'], /^wsbench: --rooms: "8" is not valid; expected 1 with --mode echo; rooms need --mode broadcast$/],
      [['--mode', 'broadcast', '--subscriber-buffer', '10'], /^wsbench: --subscriber-buffer: "10" is not valid; expected a size from 1024/],
    ] as const) {
      const result = await runCliToEnd(['serve', '--port', '0', ...args]);
      assert.equal(result.code, 2, `${args.join(' ')} → exit 2`);
      assert.equal(result.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr.trim(), pattern);
    }
  });
});
