/**
 * permessage-deflate (protocol/permessage-deflate.ts): negotiation against RFC 7692 section 7, the
 * codec against ws's own PerMessageDeflate (the oracle: what one compresses the other must inflate,
 * with context takeover on and off), a zip bomb (1009, with memory bounded) and data zlib refuses
 * (1007); and the frame parser's handling of RSV1 (protocol/frame-codec.ts).
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { deflateRawSync, constants } from 'node:zlib';
import { FrameParser, Opcode, type ProtocolErrorReason } from '../src/protocol/frame-codec.js';
import { acceptAnswer, acceptOffer, DeflateCodec, ExtensionError, offerHeader, parseExtensions, type DeflateParams } from '../src/protocol/permessage-deflate.js';
import { rawFrame } from './helpers/frames.js';

interface WsPerMessageDeflate {
  accept(offers: unknown[]): unknown;
  compress(data: Buffer, fin: boolean, callback: (error: Error | null, result?: Buffer) => void): void;
  decompress(data: Buffer, fin: boolean, callback: (error: Error | null, result?: Buffer) => void): void;
  cleanup(): void;
}
const require = createRequire(import.meta.url);
// Not among ws's exports: loaded by its path next to ws's entry point.
const WsPerMessageDeflate = require(join(dirname(require.resolve('ws')), 'lib', 'permessage-deflate.js')) as new (options: { threshold: number; isServer: boolean; maxPayload: number }) => WsPerMessageDeflate;

const takeover: DeflateParams = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
const noTakeover: DeflateParams = { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };

/** ws's PerMessageDeflate in the other role, agreed on `params`. */
function wsPeer(params: DeflateParams, isServer: boolean, maxPayload = 0): WsPerMessageDeflate {
  // ws 8 takes its role in the options (positional arguments would leave every peer a client).
  const peer = new WsPerMessageDeflate({ threshold: 0, isServer, maxPayload });
  const agreed: Record<string, unknown> = {};
  if (params.serverNoContextTakeover) agreed.server_no_context_takeover = true;
  if (params.clientNoContextTakeover) agreed.client_no_context_takeover = true;
  agreed.server_max_window_bits = params.serverMaxWindowBits;
  agreed.client_max_window_bits = params.clientMaxWindowBits;
  (peer as unknown as { params: unknown }).params = agreed;
  return peer;
}

const compressOurs = (codec: DeflateCodec, data: Buffer) => new Promise<Buffer>((resolve) => codec.compress(data, resolve));
const inflateOurs = (codec: DeflateCodec, data: Buffer) =>
  new Promise<{ failure?: { code: number; reason: string }; message?: Buffer }>((resolve) => codec.decompress(data, (failure, message) => resolve({ failure, message })));
const wsCall = (peer: WsPerMessageDeflate, method: 'compress' | 'decompress', data: Buffer) =>
  new Promise<Buffer>((resolve, reject) => peer[method](data, true, (error, result) => (error ? reject(error) : resolve(result!))));

/** Messages that share words, so a kept context makes later ones smaller. */
function messages(count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => Buffer.from(JSON.stringify({ id: i, user: 'someone', text: 'the same words again and again '.repeat(1 + (i % 5)), ok: true })));
}

describe('permessage-deflate negotiation', () => {
  it('parses extension headers as RFC 6455 9.1 writes them, quoted values included', () => {
    assert.deepEqual(parseExtensions('permessage-deflate; client_max_window_bits, x-other; a="b"'), [
      { name: 'permessage-deflate', params: [['client_max_window_bits', true]] },
      { name: 'x-other', params: [['a', 'b']] },
    ]);
    for (const bad of ['', 'permessage-deflate;', 'permessage-deflate; a=', 'p d', 'permessage-deflate; a="b', ', x']) {
      assert.throws(() => parseExtensions(bad), ExtensionError, bad);
    }
  });

  it('offers what blast asks for', () => {
    assert.equal(offerHeader({ clientNoContextTakeover: false, serverNoContextTakeover: false }), 'permessage-deflate; client_max_window_bits');
    assert.equal(
      offerHeader({ clientNoContextTakeover: true, serverNoContextTakeover: true, windowBits: 10 }),
      'permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=10',
    );
  });

  it('a server accepts the first offer, answers as ws does, and refuses invalid offers', () => {
    const none = { clientNoContextTakeover: false, serverNoContextTakeover: false };
    assert.deepEqual(acceptOffer('permessage-deflate; client_max_window_bits', none), {
      header: 'permessage-deflate',
      params: takeover,
    });
    const answer = acceptOffer('x-foo, permessage-deflate; server_no_context_takeover; client_max_window_bits=10, permessage-deflate', none)!;
    assert.equal(answer.header, 'permessage-deflate; server_no_context_takeover; client_max_window_bits=10');
    assert.deepEqual(answer.params, { ...takeover, serverNoContextTakeover: true, clientMaxWindowBits: 10 });
    assert.equal(acceptOffer('permessage-deflate', { clientNoContextTakeover: true, serverNoContextTakeover: true })!.header, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover');
    assert.equal(acceptOffer('x-foo', none), undefined);
    for (const bad of ['permessage-deflate; foo', 'permessage-deflate; server_max_window_bits', 'permessage-deflate; server_max_window_bits=16', 'permessage-deflate; client_no_context_takeover; client_no_context_takeover', 'permessage-deflate; server_no_context_takeover=1']) {
      assert.throws(() => acceptOffer(bad, none), ExtensionError, bad);
    }
  });

  it("a client takes the server's answer only within what it offered", () => {
    const offer = { clientNoContextTakeover: false, serverNoContextTakeover: false };
    assert.equal(acceptAnswer(undefined, offer), undefined);
    assert.deepEqual(acceptAnswer('permessage-deflate', offer), takeover);
    assert.deepEqual(acceptAnswer('permessage-deflate; client_no_context_takeover; client_max_window_bits=9', offer), { ...takeover, clientNoContextTakeover: true, clientMaxWindowBits: 9 });
    const small = { clientNoContextTakeover: false, serverNoContextTakeover: true, windowBits: 10 };
    assert.deepEqual(acceptAnswer('permessage-deflate; server_no_context_takeover; server_max_window_bits=9', small), {
      serverNoContextTakeover: true,
      clientNoContextTakeover: false,
      serverMaxWindowBits: 9,
      clientMaxWindowBits: 10,
    });
    for (const bad of ['x-foo', 'permessage-deflate, permessage-deflate', 'permessage-deflate; foo=1', 'permessage-deflate; client_max_window_bits']) {
      assert.throws(() => acceptAnswer(bad, offer), ExtensionError, bad);
    }
    assert.throws(() => acceptAnswer('permessage-deflate; server_no_context_takeover; server_max_window_bits=11', small), ExtensionError);
    assert.throws(() => acceptAnswer('permessage-deflate; server_max_window_bits=10', small), ExtensionError, 'server_no_context_takeover not granted');
  });
});

describe('permessage-deflate codec against ws', () => {
  for (const [name, params] of [
    ['context takeover', takeover],
    ['no context takeover', noTakeover],
    ['window bits 9', { ...takeover, serverMaxWindowBits: 9, clientMaxWindowBits: 9 }],
  ] as const) {
    it(`${name}: ws inflates what we compress, and we inflate what ws compresses, in both roles`, async () => {
      for (const isServer of [true, false]) {
        const ours = new DeflateCodec(params, isServer, 1 << 20);
        const theirs = wsPeer(params, !isServer);
        const sizes: number[] = [];
        for (const message of messages(12)) {
          const compressed = await compressOurs(ours, message);
          sizes.push(compressed.length);
          assert.deepEqual(await wsCall(theirs, 'decompress', compressed), message);
          const back = await inflateOurs(ours, await wsCall(theirs, 'compress', message));
          assert.equal(back.failure, undefined);
          assert.deepEqual(back.message, message);
        }
        // Message 5 repeats message 0's shape: with a kept context it is smaller than the first.
        if (params === takeover) assert.ok(sizes[5]! < sizes[0]!, `sizes ${sizes.join(',')}`);
        if (params === noTakeover) assert.equal(sizes[5], (await compressOurs(new DeflateCodec(params, isServer, 1 << 20), messages(6)[5]!)).length);
        assert.ok(ours.tally.deflateBytesOut < ours.tally.deflateBytesIn);
        assert.equal(ours.tally.inflateBytesOut, messages(12).reduce((total, m) => total + m.length, 0));
        ours.close();
        theirs.cleanup();
      }
    });
  }

  /**
   * A long, seeded sequence: JSON that repeats, text from a small vocabulary, random bytes, copies
   * of earlier messages (matches reaching back across messages), and sizes from 0 and 1 byte
   * around every window boundary to past 64 KB.
   */
  function longSequence(seed: number, count: number, windowBits: number): Buffer[] {
    let state = seed;
    const random = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const words = ['order', 'updated', 'price', 'EUR', 'customer', 'gold', 'stock', 'the', 'and', 'item', '{"id":', '},'];
    const boundaries = [0, 1, 2, 255, 256, 257, (1 << windowBits) - 1, 1 << windowBits, (1 << windowBits) + 1, 8191, 8192, 8193, 32767, 32768, 32769, 65535, 65536, 70_000];
    const out: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const kind = Math.floor(random() * 5);
      const size = random() < 0.25 ? boundaries[Math.floor(random() * boundaries.length)]! : Math.floor(random() ** 3 * 20_000);
      let message: Buffer;
      if (kind === 0 && out.length > 0) {
        message = out[Math.floor(random() * out.length)]!;
      } else if (kind === 1) {
        message = Buffer.alloc(size);
        for (let b = 0; b < size; b++) message[b] = Math.floor(random() * 256);
      } else if (kind === 2) {
        let text = '';
        while (text.length < size) text += words[Math.floor(random() * words.length)] + ' ';
        message = Buffer.from(text.slice(0, size));
      } else {
        const json = JSON.stringify({ id: i, user: `user-${i % 7}`, text: 'the same words again '.repeat(1 + (i % 9)), ok: i % 2 === 0 });
        message = Buffer.from(json.repeat(Math.ceil((size + 1) / json.length)).slice(0, size));
      }
      out.push(message);
    }
    return out;
  }

  for (const windowBits of [8, 9, 10, 11, 12, 13, 14, 15]) {
    it(`window bits ${windowBits}: a long varied sequence, context takeover on, off and mixed, both roles, byte for byte against ws`, async () => {
      const variants: DeflateParams[] = [
        { ...takeover, serverMaxWindowBits: windowBits, clientMaxWindowBits: windowBits },
        { ...noTakeover, serverMaxWindowBits: windowBits, clientMaxWindowBits: windowBits },
        { ...takeover, clientNoContextTakeover: true, serverMaxWindowBits: windowBits, clientMaxWindowBits: 15 },
      ];
      for (const [v, params] of variants.entries()) {
        for (const isServer of [true, false]) {
          const sequence = longSequence(windowBits * 100 + v * 10 + (isServer ? 1 : 0), windowBits === 15 ? 300 : 120, windowBits);
          const ours = new DeflateCodec(params, isServer, 1 << 20);
          const theirs = wsPeer(params, !isServer);
          for (const [i, message] of sequence.entries()) {
            const compressed = ours.deflate(message)!;
            assert.ok((await wsCall(theirs, 'decompress', compressed)).equals(message), `ws inflated our message ${i} (${message.length} bytes)`);
            const back = ours.inflate(await wsCall(theirs, 'compress', message));
            assert.ok(Buffer.isBuffer(back) && back.equals(message), `we inflated ws's message ${i} (${message.length} bytes)`);
          }
          ours.close();
          theirs.cleanup();
        }
      }
    });
  }

  it('with context takeover, a message repeated beyond the dictionary still decodes, and one within it costs a few bytes', () => {
    const ours = new DeflateCodec(takeover, true, 1 << 20);
    const theirs = new DeflateCodec(takeover, false, 1 << 20);
    const message = Buffer.from(JSON.stringify(Array.from({ length: 40 }, (_, i) => ({ id: i * 7919, name: `item-${(i * 104729) % 9973}` }))));
    const first = ours.deflate(message)!;
    const again = ours.deflate(message)!;
    assert.ok(again.length < 24 && again.length < first.length / 10, `${first.length} then ${again.length} bytes`);
    for (const compressed of [first, again]) assert.ok((theirs.inflate(compressed) as Buffer).equals(message));
    const filler = Buffer.alloc(40_000, 0x7a);
    assert.ok((theirs.inflate(ours.deflate(filler)!) as Buffer).equals(filler));
    assert.ok((theirs.inflate(ours.deflate(message)!) as Buffer).equals(message));
  });

  it('compresses many messages given at once in order', async () => {
    const ours = new DeflateCodec(takeover, false, 1 << 20);
    const theirs = wsPeer(takeover, true);
    const all = messages(30);
    const compressed = await Promise.all(all.map((message) => compressOurs(ours, message)));
    for (let i = 0; i < all.length; i++) assert.deepEqual(await wsCall(theirs, 'decompress', compressed[i]!), all[i]);
    ours.close();
    theirs.cleanup();
  });

  for (const [name, params] of [['a kept context', takeover], ['a fresh state per message', noTakeover]] as const) {
    it(`${name}: a zip bomb fails with 1009 as soon as it passes the limit, without holding what it inflates`, async () => {
      const bomb = deflateRawSync(Buffer.alloc(256 * 1024 * 1024), { finishFlush: constants.Z_SYNC_FLUSH }).subarray(0, -4);
      const ours = new DeflateCodec(params, true, 1024 * 1024);
      const before = process.memoryUsage();
      const result = await inflateOurs(ours, bomb);
      const after = process.memoryUsage();
      assert.deepEqual(result.failure, { code: 1009, reason: 'message-too-big' });
      const grown = after.arrayBuffers + after.heapUsed - (before.arrayBuffers + before.heapUsed);
      assert.ok(grown < 64 * 1024 * 1024, `memory grew by ${grown} bytes inflating ${bomb.length} bytes`);
    });

    it(`${name}: data zlib cannot inflate fails with 1007; a message of exactly the limit passes`, async () => {
      const ours = new DeflateCodec(params, true, 1024 * 1024);
      assert.deepEqual((await inflateOurs(ours, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00]))).failure, { code: 1007, reason: 'invalid-compressed-data' });
      const exact = new DeflateCodec(params, true, 1024 * 1024);
      const whole = await inflateOurs(exact, deflateRawSync(Buffer.alloc(1024 * 1024, 0x61), { finishFlush: constants.Z_SYNC_FLUSH }).subarray(0, -4));
      assert.equal(whole.failure, undefined);
      assert.equal(whole.message!.length, 1024 * 1024);
    });
  }
});

type Event = string;
class RecordingParser extends FrameParser {
  readonly events: Event[] = [];
  constructor(params: DeflateParams | undefined, maxMessageBytes = 1 << 20) {
    super(maxMessageBytes);
    if (params) this.compression = new DeflateCodec(params, false, maxMessageBytes);
  }
  protected override messageReceived(payload: Buffer, binary: boolean): void {
    this.events.push(`${binary ? 'binary' : 'text'} ${payload.toString()}`);
  }
  protected override pingReceived(payload: Buffer): void {
    this.events.push(`ping ${payload.toString()}`);
  }
  protected override closeReceived(code: number): void {
    this.events.push(`close ${code}`);
  }
  protected override protocolError(code: number, reason: ProtocolErrorReason): void {
    this.events.push(`error ${code} ${reason}`);
  }
}

async function feed(parser: RecordingParser, stream: Buffer, chunkSize: number, expected: number): Promise<Event[]> {
  const scratch = Buffer.alloc(chunkSize);
  for (let offset = 0; offset < stream.length; offset += chunkSize) {
    const bytes = stream.copy(scratch, 0, offset, Math.min(stream.length, offset + chunkSize));
    parser.receive(scratch, bytes);
    scratch.fill(0xee);
  }
  for (let i = 0; i < 200 && parser.events.length < expected; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  return parser.events;
}

describe('the frame parser with permessage-deflate', () => {
  const deflate = (text: string) => deflateRawSync(Buffer.from(text), { finishFlush: constants.Z_SYNC_FLUSH }).subarray(0, -4);

  it('inflates compressed messages, whole and fragmented, keeping their order with what follows', async () => {
    const compressed = deflate('hello compressed world');
    const stream = Buffer.concat([
      rawFrame({ opcode: Opcode.text, payload: compressed, rsv: 0x40 }),
      rawFrame({ opcode: Opcode.ping, payload: 'p1' }),
      rawFrame({ opcode: Opcode.text, payload: 'plain' }),
      rawFrame({ opcode: Opcode.binary, payload: compressed.subarray(0, 5), rsv: 0x40, fin: false }),
      rawFrame({ opcode: Opcode.ping, payload: 'p2' }),
      rawFrame({ opcode: Opcode.continuation, payload: compressed.subarray(5) }),
      rawFrame({ opcode: Opcode.close }),
    ]);
    const expected = ['text hello compressed world', 'ping p1', 'text plain', 'ping p2', 'binary hello compressed world', 'close 1005'];
    for (const chunkSize of [1, 3, 16, stream.length]) {
      assert.deepEqual(await feed(new RecordingParser(noTakeover), stream, chunkSize, expected.length), expected, `chunks of ${chunkSize}`);
    }
  });

  it('refuses RSV1 without the extension, on a continuation and on a control frame (1002)', async () => {
    const compressed = deflate('x');
    const cases: [DeflateParams | undefined, Buffer][] = [
      [undefined, rawFrame({ opcode: Opcode.text, payload: compressed, rsv: 0x40 })],
      [takeover, Buffer.concat([rawFrame({ opcode: Opcode.text, payload: 'a', fin: false }), rawFrame({ opcode: Opcode.continuation, payload: compressed, rsv: 0x40 })])],
      [takeover, rawFrame({ opcode: Opcode.ping, payload: 'a', rsv: 0x40 })],
      [takeover, rawFrame({ opcode: Opcode.text, payload: compressed, rsv: 0x20 })],
    ];
    for (const [params, stream] of cases) assert.deepEqual(await feed(new RecordingParser(params), stream, 2, 1), ['error 1002 rsv-bits']);
  });

  it('fails a compressed message that is invalid (1007), too big inflated (1009), or inflates to invalid UTF-8 (1007)', async () => {
    const bomb = deflateRawSync(Buffer.alloc(4 * 1024 * 1024, 0x61), { finishFlush: constants.Z_SYNC_FLUSH }).subarray(0, -4);
    const badUtf8 = deflateRawSync(Buffer.from([0xc3, 0x28]), { finishFlush: constants.Z_SYNC_FLUSH }).subarray(0, -4);
    const cases: [Buffer, string][] = [
      [rawFrame({ opcode: Opcode.text, payload: Buffer.from([0xff, 0xff, 0xff]), rsv: 0x40 }), 'error 1007 invalid-compressed-data'],
      [rawFrame({ opcode: Opcode.binary, payload: bomb, rsv: 0x40 }), 'error 1009 message-too-big'],
      [rawFrame({ opcode: Opcode.text, payload: badUtf8, rsv: 0x40 }), 'error 1007 invalid-utf8'],
    ];
    for (const [frame, expected] of cases) {
      const stream = Buffer.concat([frame, rawFrame({ opcode: Opcode.ping, payload: 'after' })]);
      const parser = new RecordingParser(takeover, 1024 * 1024);
      assert.deepEqual(await feed(parser, stream, 1000, 1), [expected]);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(parser.events, [expected], 'nothing is parsed after the failure');
    }
  });
});
