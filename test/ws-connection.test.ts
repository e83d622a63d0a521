/**
 * blast's client connection against small hostile servers built here with node:net: how it checks
 * the upgrade answer, and what it does (close frame sent, close code recorded) when a server breaks
 * the protocol after it.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { askedSubprotocols, buildRequestHead, WsConnection, type ConnectionEvents } from '../src/blast/ws-connection.js';
import { handleIoInUse, proveHandleIo } from '../src/blast/handle-io.js';
import { WRITE_HIGH_WATER_BYTES } from '../src/blast/load-generator.js';
import { Opcode } from '../src/protocol/frame-codec.js';
import { forcedOff } from '../src/runtime/fast-paths.js';
import { eventually } from './helpers/clients.js';
import { closeFrame, parseClientFrames, rawFrame } from './helpers/frames.js';
import { acceptFor, rawServer, upgradeAnswer } from './helpers/servers.js';

type Outcome =
  | { kind: 'open' }
  | { kind: 'rejected'; status: number }
  | { kind: 'failed'; reason: string };

/** One connection's events, recorded. */
class Recorder implements ConnectionEvents {
  outcome: Outcome | undefined;
  messages: { data: Buffer; binary: boolean }[] = [];
  closed: { code: number; closedByUs: boolean } | undefined;
  onOpen(): void {
    this.outcome = { kind: 'open' };
  }
  onRejected(_connection: WsConnection, status: number): void {
    this.outcome = { kind: 'rejected', status };
  }
  onFailed(_connection: WsConnection, reason: string): void {
    this.outcome = { kind: 'failed', reason };
  }
  onAddressInUse(): void {
    this.outcome = { kind: 'failed', reason: 'address-in-use' };
  }
  onMessage(_connection: WsConnection, payload: Buffer, binary: boolean): void {
    this.messages.push({ data: Buffer.from(payload), binary });
  }
  onClosed(_connection: WsConnection, code: number, closedByUs: boolean): void {
    this.closed = { code, closedByUs };
  }
  drains = 0;
  onDrain(): void {
    this.drains++;
  }
}

async function connectTo(
  answer: (socket: Socket, key: string, head: string) => void,
  options: { subprotocol?: string; refillOnDrain?: boolean } = {},
) {
  const server = await rawServer(answer);
  const url = new URL(server.url);
  const events = new Recorder();
  const connection = new WsConnection(events);
  const headers = {};
  connection.open({
    host: '127.0.0.1',
    port: server.port,
    requestHead: buildRequestHead(url, headers, options.subprotocol),
    subprotocols: askedSubprotocols(headers, options.subprotocol),
    connectTimeoutMs: 5000,
    batchWrites: false,
    refillOnDrain: options.refillOnDrain,
  });
  await eventually(() => events.outcome !== undefined, 10_000, 'the attempt to end');
  return { server, events, connection };
}

/** The upgrade answer `lines` (status line first) and an end to the head. */
function answerWith(lines: (key: string) => string[]) {
  return (socket: Socket, key: string) => socket.write([...lines(key), '', ''].join('\r\n'));
}

async function outcomeOf(answer: (socket: Socket, key: string, head: string) => void, options: { subprotocol?: string } = {}): Promise<Outcome> {
  const { server, events, connection } = await connectTo(answer, options);
  connection.destroy();
  await server.close();
  return events.outcome!;
}

describe('blast client: the upgrade answer', () => {
  it('a correct 101 opens, with the Upgrade and Connection tokens in any case and Connection a list', async () => {
    assert.deepEqual(await outcomeOf((socket, key) => socket.write(upgradeAnswer(key))), { kind: 'open' });
    const mixedCase = answerWith((key) => ['HTTP/1.1 101 Switching Protocols', 'upgrade: WebSocket', 'connection: keep-alive, UPGRADE', `sec-websocket-accept: ${acceptFor(key)}`]);
    assert.deepEqual(await outcomeOf(mixedCase), { kind: 'open' });
  });

  it('another status is a rejection by that status', async () => {
    assert.deepEqual(await outcomeOf(answerWith(() => ['HTTP/1.1 503 Service Unavailable', 'Content-Length: 0'])), { kind: 'rejected', status: 503 });
    assert.deepEqual(await outcomeOf(answerWith(() => ['HTTP/1.0 200 OK'])), { kind: 'rejected', status: 200 });
  });

  it('Upgrade missing or not websocket, Connection without the upgrade token: failed, bad-upgrade-header', async () => {
    const cases: ((key: string) => string[])[] = [
      (key) => ['HTTP/1.1 101 Switching Protocols', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptFor(key)}`],
      (key) => ['HTTP/1.1 101 Switching Protocols', 'Upgrade: h2c', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptFor(key)}`],
      (key) => ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', `Sec-WebSocket-Accept: ${acceptFor(key)}`],
      (key) => ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: keep-alive', `Sec-WebSocket-Accept: ${acceptFor(key)}`],
      (key) => ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: upgrades', `Sec-WebSocket-Accept: ${acceptFor(key)}`],
    ];
    for (const lines of cases) assert.deepEqual(await outcomeOf(answerWith(lines)), { kind: 'failed', reason: 'bad-upgrade-header' }, lines('KEY').join(' | '));
  });

  it('Sec-WebSocket-Accept missing, wrong, or for another key: failed, bad-accept-key', async () => {
    const cases: ((key: string) => string[])[] = [
      () => ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade'],
      () => ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo='],
      (key) => ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptFor(key + 'x')}`],
      (key) => ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptFor(key)}`, `Sec-WebSocket-Accept: ${acceptFor(key)}`],
    ];
    for (const lines of cases) assert.deepEqual(await outcomeOf(answerWith(lines)), { kind: 'failed', reason: 'bad-accept-key' });
  });

  it('subprotocols: the server must pick one asked for, or none when none was asked', async () => {
    const withProtocol = (protocol?: string) => (socket: Socket, key: string) =>
      socket.write(upgradeAnswer(key, protocol === undefined ? [] : [`Sec-WebSocket-Protocol: ${protocol}`]));
    assert.deepEqual(await outcomeOf(withProtocol('superchat'), { subprotocol: 'chat, superchat' }), { kind: 'open' });
    assert.deepEqual(await outcomeOf(withProtocol(undefined), { subprotocol: 'chat' }), { kind: 'failed', reason: 'bad-subprotocol' });
    assert.deepEqual(await outcomeOf(withProtocol('other'), { subprotocol: 'chat' }), { kind: 'failed', reason: 'bad-subprotocol' });
    assert.deepEqual(await outcomeOf(withProtocol('chat, superchat'), { subprotocol: 'chat, superchat' }), { kind: 'failed', reason: 'bad-subprotocol' });
    assert.deepEqual(await outcomeOf(withProtocol('chat')), { kind: 'failed', reason: 'bad-subprotocol' });
    assert.deepEqual(askedSubprotocols({ 'sec-websocket-protocol': 'a, b' }, 'c'), ['a', 'b', 'c']);
  });

  it('an extension nobody asked for: failed, bad-extension', async () => {
    const answer = (socket: Socket, key: string) => socket.write(upgradeAnswer(key, ['Sec-WebSocket-Extensions: permessage-deflate']));
    assert.deepEqual(await outcomeOf(answer), { kind: 'failed', reason: 'bad-extension' });
  });

  it('garbage, a bad status line, or a head without end: failed, bad-response, without waiting for the timeout', async () => {
    assert.deepEqual(await outcomeOf((socket) => socket.write('SSH-2.0-OpenSSH_9.6\r\n')), { kind: 'failed', reason: 'bad-response' });
    assert.deepEqual(await outcomeOf((socket) => socket.write('\x00\x01\x02')), { kind: 'failed', reason: 'bad-response' });
    assert.deepEqual(await outcomeOf(answerWith(() => ['HTTP/1.1 abc Nope'])), { kind: 'failed', reason: 'bad-response' });
    assert.deepEqual(await outcomeOf(answerWith(() => ['HTTP/2 101 Switching Protocols'])), { kind: 'failed', reason: 'bad-response' });
    assert.deepEqual(await outcomeOf((socket) => socket.write(`HTTP/1.1 101 OK\r\nX: ${'a'.repeat(20_000)}`)), { kind: 'failed', reason: 'bad-response' });
  });

  it('a frame in the same packet as the 101 is delivered after the open', async () => {
    const { server, events, connection } = await connectTo((socket, key) =>
      socket.write(Buffer.concat([Buffer.from(upgradeAnswer(key)), rawFrame({ opcode: Opcode.text, payload: 'first' })])),
    );
    await eventually(() => events.messages.length === 1, 5000, 'the first message');
    assert.equal(events.messages[0]!.data.toString(), 'first');
    connection.destroy();
    await server.close();
  });
});

describe('blast client: protocol errors and closes after the upgrade', () => {
  /** Upgrade, then send `frames`; returns the recorded close and the client's frames. */
  async function afterUpgrade(frames: Buffer, closeTcpOnClientClose = true) {
    const { server, events, connection } = await connectTo((socket, key) => {
      socket.write(Buffer.concat([Buffer.from(upgradeAnswer(key)), frames]));
    });
    const serverSide = server.connections[0]!;
    // A well-behaved server closes TCP once it has the client's close frame.
    if (closeTcpOnClientClose) {
      serverSide.socket.on('data', () => {
        if (parseClientFrames(Buffer.concat(serverSide.received)).some((frame) => frame.opcode === Opcode.close)) serverSide.socket.end();
      });
    }
    await eventually(() => events.closed !== undefined, 10_000, 'the connection to close');
    const sent = parseClientFrames(Buffer.concat(serverSide.received));
    connection.destroy();
    await server.close();
    return { closed: events.closed!, sent, messages: events.messages };
  }

  const closeCodeOf = (frame: { payload: Buffer } | undefined) => (frame && frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : undefined);

  for (const [name, frames, code] of [
    ['a reserved opcode', rawFrame({ opcode: 0xb }), 1002],
    ['RSV1', rawFrame({ opcode: Opcode.text, payload: 'x', rsv: 0x40 }), 1002],
    ['a masked frame', rawFrame({ opcode: Opcode.text, payload: 'x', masked: true }), 1002],
    ['a 126-byte ping', rawFrame({ opcode: Opcode.ping, payload: Buffer.alloc(126) }), 1002],
    ['a close with a 1-byte body', rawFrame({ opcode: Opcode.close, payload: Buffer.from([3]) }), 1002],
    ['close code 1005 on the wire', closeFrame(1005), 1002],
    ['invalid UTF-8 text', rawFrame({ opcode: Opcode.text, payload: Buffer.from([0xff]) }), 1007],
  ] as const) {
    it(`${name}: the client sends close ${code} and records a drop by ${code}`, async () => {
      const { closed, sent } = await afterUpgrade(frames);
      assert.deepEqual(closed, { code, closedByUs: false });
      const close = sent.find((frame) => frame.opcode === Opcode.close);
      assert.ok(close?.masked, 'a masked close frame');
      assert.equal(closeCodeOf(close), code);
    });
  }

  it('a close started by the server (1011): the client answers 1011 and records a drop by 1011', async () => {
    const { closed, sent } = await afterUpgrade(closeFrame(1011, 'internal error'));
    assert.deepEqual(closed, { code: 1011, closedByUs: false });
    assert.equal(closeCodeOf(sent.find((frame) => frame.opcode === Opcode.close)), 1011);
  });

  it('a close without a body: recorded as 1005, answered with an empty close frame', async () => {
    const { closed, sent } = await afterUpgrade(closeFrame());
    assert.deepEqual(closed, { code: 1005, closedByUs: false });
    assert.equal(sent.find((frame) => frame.opcode === Opcode.close)?.payload.length, 0);
  });

  it('a ping is answered with a masked pong carrying its payload; messages around it arrive', async () => {
    const frames = Buffer.concat([
      rawFrame({ opcode: Opcode.text, payload: 'a', fin: false }),
      rawFrame({ opcode: Opcode.ping, payload: 'are you there' }),
      rawFrame({ opcode: Opcode.continuation, payload: 'b', fin: true }),
      closeFrame(1000),
    ]);
    const { closed, sent, messages } = await afterUpgrade(frames);
    assert.deepEqual(closed, { code: 1000, closedByUs: false });
    const pong = sent.find((frame) => frame.opcode === Opcode.pong);
    assert.ok(pong?.masked);
    assert.equal(pong.payload.toString(), 'are you there');
    assert.deepEqual(messages.map((m) => m.data.toString()), ['ab']);
  });

  it('a server that does not close TCP itself after the close exchange: the client ends it, and the close code stays', async () => {
    const { closed } = await afterUpgrade(closeFrame(1001), false);
    assert.deepEqual(closed, { code: 1001, closedByUs: false });
  });
});

describe('blast client: frames written straight to the socket handle', () => {
  it('when the server stops reading and writes queue, every frame still arrives whole and in order, and the close frame last', async (t) => {
    if (forcedOff('directWrites')) return t.skip(`${forcedOff('directWrites')}: the direct path is off in this run`);
    // The self-test passes on this Node (else frames go through net's stream, and this tests nothing).
    const proof = await proveHandleIo();
    assert.deepEqual(proof.directWrites, { on: true }, 'the direct writes pass their self-test');
    assert.equal(handleIoInUse().directWrites, true);
    const { server, connection } = await connectTo((socket, key) => {
      // Read nothing for a while: the kernel's buffers fill and the client's writes queue in libuv.
      socket.pause();
      socket.write(upgradeAnswer(key));
    });
    const serverSide = server.connections[0]!;
    try {
      // Sizes that fit the write pool, fill it past its end, and exceed it (a buffer of their own).
      const sizes = [10, 20_000, 125, 40_000, 70_000, 65_536 - 14, 3, 100_000, 64];
      const sent: Buffer[] = [];
      // Until libuv holds queued bytes (proof the queued path ran), then as many again.
      let queuedAt = 0;
      for (let i = 0; sent.length < 2 * queuedAt || queuedAt === 0; i++) {
        assert.ok(i < 5000, 'the writes queue before 5000 frames');
        const size = sizes[i % sizes.length]!;
        const payload = Buffer.alloc(size, 97 + (i % 26));
        if (size >= 4) payload.writeUInt32BE(i, 0);
        sent.push(payload);
        connection.send(payload, Opcode.binary);
        if (queuedAt === 0 && connection.writableLength > 0) queuedAt = sent.length;
      }
      connection.close(1000);
      serverSide.socket.resume();
      await eventually(() => parseClientFrames(Buffer.concat(serverSide.received)).some((frame) => frame.opcode === Opcode.close), 20_000, 'every frame and the close');
      const frames = parseClientFrames(Buffer.concat(serverSide.received));
      assert.equal(frames.length, sent.length + 1);
      frames.slice(0, -1).forEach((frame, i) => {
        assert.ok(frame.masked && frame.fin && frame.opcode === Opcode.binary, `frame ${i} is a final masked binary frame`);
        assert.ok(frame.payload.equals(sent[i]!), `frame ${i} carries payload ${i} unchanged`);
      });
      assert.equal(frames.at(-1)!.opcode, Opcode.close);
      assert.equal(frames.at(-1)!.payload.readUInt16BE(0), 1000);
    } finally {
      connection.destroy();
      await server.close();
    }
  });
});

describe('blast client: frames written through net\'s stream (flood, scenarios)', () => {
  it("a connection that reads as full gets net's 'drain' once the server reads again: flood and scenarios wait for it", async () => {
    const { server, events, connection } = await connectTo((socket, key) => {
      socket.pause();
      socket.write(upgradeAnswer(key));
    }, { refillOnDrain: true });
    const serverSide = server.connections[0]!;
    try {
      // As flood and scenarios do: send until the connection reads as full, then wait for 'drain'.
      // Frames just under the 16 KiB mark: once the kernel's buffers fill, one sits in libuv's
      // queue, counted by net's stream; counted twice, it read as full with no 'drain' to come.
      // On Node 22 and later net's default mark is 64 KiB: a connection that judged "full" by its
      // own 16 KiB while net promised a 'drain' only at 64 KiB waited forever.
      const payload = Buffer.alloc(15_000, 120);
      let sends = 0;
      while (!connection.full) {
        assert.ok(++sends < 5000, 'the socket fills before 5000 frames');
        connection.send(payload, Opcode.binary);
      }
      assert.equal((connection as unknown as { socket: { writableHighWaterMark: number } }).socket.writableHighWaterMark, WRITE_HIGH_WATER_BYTES, 'the 16 KiB mark on every Node');
      assert.ok(connection.writableLength >= WRITE_HIGH_WATER_BYTES, `full at ${connection.writableLength} B unsent`);
      serverSide.socket.resume();
      await eventually(() => events.drains > 0, 10_000, "net's 'drain'");
    } finally {
      connection.destroy();
      await server.close();
    }
  });
});
