/**
 * The frame codec against RFC 6455, through a fake server that feeds bytes in chunks of every size
 * (1 byte at a time included), each chunk written into one reused buffer as a socket's shared read
 * buffer would be: a parser that kept a view instead of a copy would see the bytes change.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeFrame, FrameParser, isValidCloseCode, Opcode, type ProtocolErrorReason } from '../src/protocol/frame-codec.js';
import { closeFrame, parseClientFrames, rawFrame } from './helpers/frames.js';

type Event =
  | { kind: 'message'; data: Buffer; binary: boolean }
  | { kind: 'ping'; data: Buffer }
  | { kind: 'pong'; data: Buffer }
  | { kind: 'close'; code: number; reason: string }
  | { kind: 'error'; code: number; reason: ProtocolErrorReason };

class RecordingParser extends FrameParser {
  readonly events: Event[] = [];
  protected override messageReceived(payload: Buffer, binary: boolean): void {
    this.events.push({ kind: 'message', data: Buffer.from(payload), binary });
  }
  protected override pingReceived(payload: Buffer): void {
    this.events.push({ kind: 'ping', data: Buffer.from(payload) });
  }
  protected override pongReceived(payload: Buffer): void {
    this.events.push({ kind: 'pong', data: Buffer.from(payload) });
  }
  protected override closeReceived(code: number, reason: Buffer): void {
    this.events.push({ kind: 'close', code, reason: reason.toString() });
  }
  protected override protocolError(code: number, reason: ProtocolErrorReason): void {
    this.events.push({ kind: 'error', code, reason });
  }
}

/** The same, in the server's role: it requires masked (client) frames. */
class ServerRecordingParser extends RecordingParser {
  protected override get parsesClientFrames(): boolean {
    return true;
  }
}

const sharedReadBuffer = Buffer.alloc(3 * 1024 * 1024);

/** Feed `stream` in chunks of `chunkSize` through the shared buffer, scribbling over it after each. */
function feed(stream: Buffer, chunkSize: number, maxMessageBytes?: number, asServer = false): Event[] {
  const parser = asServer ? new ServerRecordingParser(maxMessageBytes) : new RecordingParser(maxMessageBytes);
  for (let offset = 0; offset < stream.length; offset += chunkSize) {
    const bytes = stream.copy(sharedReadBuffer, 0, offset, Math.min(stream.length, offset + chunkSize));
    parser.receive(sharedReadBuffer.subarray(0, bytes));
    sharedReadBuffer.fill(0xee, 0, bytes);
  }
  return parser.events;
}

/** Every chunk size from 1 to the stream's length for short streams, and a spread for long ones. */
function chunkSizes(length: number): number[] {
  if (length <= 600) return Array.from({ length }, (_, i) => i + 1);
  return [1, 2, 3, 5, 7, 9, 10, 11, 13, 125, 126, 127, 1000, 4096, 65_535, 65_536, 65_537, 100_000, length].filter((size) => size <= length);
}

/** The same events whatever the chunking. */
function assertEvents(stream: Buffer, expected: Event[], maxMessageBytes?: number, sizes = chunkSizes(stream.length)): void {
  for (const size of sizes) assert.deepEqual(feed(stream, size, maxMessageBytes), expected, `chunks of ${size} bytes`);
}

function patterned(length: number, seed = 0): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

function text(length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) bytes[i] = 0x61 + (i % 26);
  return bytes;
}

const message = (data: Buffer | string, binary = false): Event => ({ kind: 'message', data: Buffer.from(data), binary });
const error = (code: number, reason: ProtocolErrorReason): Event => ({ kind: 'error', code, reason });

describe('frame codec: lengths and their three encodings', () => {
  for (const length of [0, 125, 126, 65_535, 65_536, 1024 * 1024]) {
    it(`${length} bytes, text and binary, in chunks of every size`, () => {
      const form = length < 126 ? 'seven-bit' : length < 65_536 ? 'sixteen-bit' : 'sixty-four-bit';
      const binaryPayload = patterned(length);
      const textPayload = text(length);
      const frame = encodeFrame(binaryPayload, Opcode.binary, false);
      // The length form RFC 6455 5.2 requires: 7 bits up to 125, 16 bits up to 65535, then 64 bits.
      const lengthByte = frame[1]! & 0x7f;
      assert.equal(form === 'seven-bit' ? lengthByte === length : form === 'sixteen-bit' ? lengthByte === 126 : lengthByte === 127, true, form);
      assert.equal(frame.length, (form === 'seven-bit' ? 2 : form === 'sixteen-bit' ? 4 : 10) + length);
      // Two messages back to back, so a frame boundary falls inside chunks too.
      const stream = Buffer.concat([frame, encodeFrame(textPayload, Opcode.text, false)]);
      const sizes = length === 1024 * 1024 ? [1, 7, 4096, 65_536, 65_537, stream.length] : chunkSizes(stream.length);
      assertEvents(stream, [message(binaryPayload, true), message(textPayload)], undefined, sizes);
    });
  }

  it('many small frames in one stream keep their order, whatever the chunking', () => {
    const frames = Array.from({ length: 20 }, (_, i) => encodeFrame(Buffer.from(`message ${i}`), Opcode.text, false));
    assertEvents(Buffer.concat(frames), Array.from({ length: 20 }, (_, i) => message(`message ${i}`)));
  });

  it('encodes client frames masked, and the mask undoes to the payload', () => {
    for (const length of [0, 1, 125, 126, 65_535, 65_536, 70_000]) {
      const payload = patterned(length, 3);
      const frame = encodeFrame(payload, Opcode.binary, true);
      assert.equal(frame[1]! & 0x80, 0x80, 'mask bit set');
      const [decoded] = parseClientFrames(frame);
      assert.equal(decoded!.masked, true);
      assert.equal(decoded!.opcode, Opcode.binary);
      assert.ok(decoded!.payload.equals(payload), `${length} bytes`);
    }
  });
});

describe('frame codec: fragments and control frames', () => {
  it('a fragmented message with pings (and a pong) between its fragments', () => {
    const stream = Buffer.concat([
      rawFrame({ opcode: Opcode.text, payload: 'héllo ', fin: false }),
      rawFrame({ opcode: Opcode.ping, payload: 'p1' }),
      rawFrame({ opcode: Opcode.continuation, payload: 'fragmented ', fin: false }),
      rawFrame({ opcode: Opcode.ping, payload: '' }),
      rawFrame({ opcode: Opcode.pong, payload: 'unsolicited' }),
      rawFrame({ opcode: Opcode.continuation, payload: 'wörld', fin: true }),
      rawFrame({ opcode: Opcode.binary, payload: Buffer.from([0, 255]) }),
    ]);
    assertEvents(stream, [
      { kind: 'ping', data: Buffer.from('p1') },
      { kind: 'ping', data: Buffer.alloc(0) },
      { kind: 'pong', data: Buffer.from('unsolicited') },
      message('héllo fragmented wörld'),
      message(Buffer.from([0, 255]), true),
    ]);
  });

  it('a UTF-8 character split across fragments is valid; a large fragmented binary message is whole', () => {
    const euro = Buffer.from('€'); // 3 bytes
    const big = patterned(200_000);
    const stream = Buffer.concat([
      rawFrame({ opcode: Opcode.text, payload: euro.subarray(0, 1), fin: false }),
      rawFrame({ opcode: Opcode.continuation, payload: euro.subarray(1), fin: true }),
      rawFrame({ opcode: Opcode.binary, payload: big.subarray(0, 70_000), fin: false }),
      rawFrame({ opcode: Opcode.continuation, payload: big.subarray(70_000, 70_000), fin: false }),
      rawFrame({ opcode: Opcode.continuation, payload: big.subarray(70_000), fin: true }),
    ]);
    assertEvents(stream, [message('€'), message(big, true)]);
  });

  it('a close started by the server: its code and reason, and nothing parsed after it', () => {
    const stream = Buffer.concat([
      rawFrame({ opcode: Opcode.text, payload: 'last' }),
      closeFrame(1001, 'going away'),
      rawFrame({ opcode: Opcode.text, payload: 'after the close' }),
      rawFrame({ opcode: 0x3 }),
    ]);
    assertEvents(stream, [message('last'), { kind: 'close', code: 1001, reason: 'going away' }]);
  });

  it('a close frame with no body reports 1005 (no status)', () => {
    assertEvents(closeFrame(), [{ kind: 'close', code: 1005, reason: '' }]);
  });

  it('a close frame with a 1-byte body is a protocol error (1002), not 1005', () => {
    assertEvents(rawFrame({ opcode: Opcode.close, payload: Buffer.from([0x03]) }), [error(1002, 'close-body-1-byte')]);
  });

  it('close codes: invalid ones are a protocol error (1002), valid ones are reported', () => {
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65_535]) {
      assert.equal(isValidCloseCode(code), false, String(code));
      assertEvents(closeFrame(code, 'x'), [error(1002, 'invalid-close-code')]);
    }
    for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999]) {
      assertEvents(closeFrame(code), [{ kind: 'close', code, reason: '' }]);
    }
  });
});

describe('frame codec: hostile input', () => {
  const invalidUtf8 = [
    Buffer.from([0xff]),
    Buffer.from([0xc0, 0x80]), // overlong NUL
    Buffer.from([0xed, 0xa0, 0x80]), // a UTF-16 surrogate
    Buffer.from([0xf4, 0x90, 0x80, 0x80]), // beyond U+10FFFF
    Buffer.from([0x61, 0xe2, 0x82]), // truncated
  ];

  it('invalid UTF-8 in a text message: 1007; the same bytes as binary are fine', () => {
    for (const bytes of invalidUtf8) {
      assertEvents(rawFrame({ opcode: Opcode.text, payload: bytes }), [error(1007, 'invalid-utf8')]);
      assertEvents(rawFrame({ opcode: Opcode.binary, payload: bytes }), [message(bytes, true)]);
    }
  });

  it('invalid UTF-8 in a fragmented text message or in a close reason: 1007', () => {
    const fragmented = Buffer.concat([
      rawFrame({ opcode: Opcode.text, payload: 'ok ', fin: false }),
      rawFrame({ opcode: Opcode.continuation, payload: Buffer.from([0xff, 0xfe]), fin: true }),
    ]);
    assertEvents(fragmented, [error(1007, 'invalid-utf8')]);
    const reason = rawFrame({ opcode: Opcode.close, payload: Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from([0xc3])]) });
    assertEvents(reason, [error(1007, 'invalid-utf8')]);
  });

  it('RSV bits, reserved opcodes and masked server frames: 1002', () => {
    for (const rsv of [0x40, 0x20, 0x10, 0x70]) {
      assertEvents(rawFrame({ opcode: Opcode.text, payload: 'x', rsv }), [error(1002, 'rsv-bits')]);
      assertEvents(rawFrame({ opcode: Opcode.ping, rsv }), [error(1002, 'rsv-bits')]);
    }
    for (const opcode of [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
      assertEvents(rawFrame({ opcode, payload: 'x' }), [error(1002, 'reserved-opcode')]);
    }
    for (const opcode of [Opcode.text, Opcode.binary, Opcode.ping, Opcode.close]) {
      assertEvents(rawFrame({ opcode, payload: 'masked', masked: true }), [error(1002, 'masked-frame')]);
    }
  });

  it('control frames over 125 bytes or fragmented: 1002', () => {
    for (const opcode of [Opcode.ping, Opcode.pong, Opcode.close]) {
      assertEvents(rawFrame({ opcode, payload: Buffer.alloc(126, 0x61) }), [error(1002, 'control-frame-too-long')]);
      assertEvents(rawFrame({ opcode, payload: Buffer.from([0x03, 0xe8]), fin: false }), [error(1002, 'control-frame-fragmented')]);
    }
    // 125 is allowed.
    assertEvents(rawFrame({ opcode: Opcode.ping, payload: Buffer.alloc(125, 0x61) }), [{ kind: 'ping', data: Buffer.alloc(125, 0x61) }]);
  });

  it('continuation without a message, and a new message inside a fragmented one: 1002', () => {
    assertEvents(rawFrame({ opcode: Opcode.continuation, payload: 'x' }), [error(1002, 'unexpected-continuation')]);
    const interleaved = Buffer.concat([
      rawFrame({ opcode: Opcode.text, payload: 'a', fin: false }),
      rawFrame({ opcode: Opcode.binary, payload: 'b' }),
    ]);
    assertEvents(interleaved, [error(1002, 'expected-continuation')]);
  });

  it('too big: a frame over the limit fails from its header alone (1009), a fragmented message from its total', () => {
    // Only the header of a 1 GiB frame: refused without waiting for (or buffering) its payload.
    assertEvents(rawFrame({ opcode: Opcode.binary, claimedLength: 2 ** 30 }), [error(1009, 'message-too-big')]);
    assertEvents(rawFrame({ opcode: Opcode.binary, payload: Buffer.alloc(101) }), [error(1009, 'message-too-big')], 100);
    assertEvents(rawFrame({ opcode: Opcode.binary, payload: Buffer.alloc(100) }), [message(Buffer.alloc(100), true)], 100);
    const fragmented = Buffer.concat([
      rawFrame({ opcode: Opcode.binary, payload: Buffer.alloc(60), fin: false }),
      rawFrame({ opcode: Opcode.continuation, payload: Buffer.alloc(41), fin: true }),
    ]);
    assertEvents(fragmented, [error(1009, 'message-too-big')], 100);
    // The most significant bit of a 64-bit length must be 0.
    const msb = rawFrame({ opcode: Opcode.binary, claimedLength: 70_000 });
    msb[2] = 0x80;
    assertEvents(msb, [error(1002, 'length-msb-set')]);
  });

  it('nothing is parsed after an error, and a truncated frame stays pending without an event', () => {
    const stream = Buffer.concat([
      rawFrame({ opcode: Opcode.text, payload: 'before' }),
      rawFrame({ opcode: 0x5 }),
      rawFrame({ opcode: Opcode.text, payload: 'after' }),
      closeFrame(1000),
    ]);
    assertEvents(stream, [message('before'), error(1002, 'reserved-opcode')]);
    const truncated = rawFrame({ opcode: Opcode.binary, payload: patterned(70_000) }).subarray(0, 30_000);
    assertEvents(truncated, []);
  });
});

describe('frame codec: the server role (masked client frames, unmasked in place)', () => {
  const serverEvents = (stream: Buffer, expected: Event[], maxMessageBytes?: number) => {
    for (const size of chunkSizes(stream.length)) assert.deepEqual(feed(stream, size, maxMessageBytes, true), expected, `chunks of ${size} bytes`);
  };

  it('messages of every length form, pings, fragments and a close, in chunks of every size', () => {
    const lengths = [0, 1, 2, 3, 5, 125, 126, 65_535, 65_536, 200_000];
    const frames = lengths.map((length) => encodeFrame(patterned(length, length), Opcode.binary, true));
    const fragmented = [encodeFrame(text(3), Opcode.text, true, false), encodeFrame(Buffer.from('ping'), Opcode.ping, true), encodeFrame(text(5), Opcode.continuation, true)];
    const stream = Buffer.concat([...frames, ...fragmented, encodeFrame(Buffer.from([0x03, 0xe8, 0x6f, 0x6b]), Opcode.close, true)]);
    serverEvents(stream, [
      ...lengths.map((length) => message(patterned(length, length), true)),
      { kind: 'ping', data: Buffer.from('ping') },
      message(Buffer.concat([text(3), text(5)])),
      { kind: 'close', code: 1000, reason: 'ok' },
    ]);
  });

  it('an unmasked frame: 1002; a 64-bit length over 2^53 - 1: 1009 (as ws answers a client)', () => {
    serverEvents(encodeFrame(text(4), Opcode.text, false), [error(1002, 'unmasked-frame')]);
    const header = Buffer.alloc(14);
    header[0] = 0x82;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(2n ** 63n, 2);
    serverEvents(header, [error(1009, 'message-too-big')]);
  });

  it('the client role still refuses masked frames', () => {
    assert.deepEqual(feed(encodeFrame(text(4), Opcode.text, true), 6), [error(1002, 'masked-frame')]);
  });
});
