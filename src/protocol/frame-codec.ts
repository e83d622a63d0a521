/**
 * RFC 6455 framing for both ends: a parser fed the bytes the peer sends, in chunks of any size, and
 * the encoder of frames (masked from a client, unmasked from a server). The load generator's client
 * parses as a client; serve's echo connection (serve/server-connection.ts) parses as a server, which
 * requires masked frames and unmasks each payload in place.
 *
 * The parser is a base class (WsConnection extends it) rather than an object a connection holds: a
 * load generator keeps 50,000 of them, and this costs no extra object and no closure per connection.
 * It parses in place: a chunk may be a view of a read buffer shared by every socket, and whatever
 * must outlive the call (a frame cut by a chunk boundary, the fragments of a message) is copied;
 * a whole frame inside a chunk is handed on as a view of that chunk, never copied.
 *
 * What it refuses, and the close code it fails the connection with (RFC 6455 5.2, 5.4, 5.5, 7.4, 8.1;
 * the same codes ws's Receiver uses):
 *
 * | input                                                                | code |
 * |----------------------------------------------------------------------|------|
 * | RSV2-3 set; RSV1 set unless permessage-deflate was negotiated, or set  | 1002 |
 * | on a continuation or control frame (RFC 7692 6.1)                    |      |
 * | reserved opcode (3-7, 0xB-0xF)                                       | 1002 |
 * | masked frame from the server; unmasked frame from the client         | 1002 |
 * | control frame (close, ping, pong) fragmented or over 125 bytes       | 1002 |
 * | 64-bit length with its most significant bit set (client)             | 1002 |
 * | 64-bit length over 2^53 - 1 (server, as ws's server answers it)      | 1009 |
 * | continuation with no message begun; text/binary inside a message     | 1002 |
 * | close frame with a 1-byte body                                       | 1002 |
 * | close code outside 1000-1003, 1007-1014, 3000-4999                   | 1002 |
 * | text message, or close reason, that is not valid UTF-8               | 1007 |
 * | message (all its fragments) over maxMessageBytes                     | 1009 |
 * | compressed message that inflates past maxMessageBytes                | 1009 |
 * | compressed message that zlib cannot inflate                          | 1007 |
 *
 * A close frame with no body reports 1005 (no status received). Once a close frame or an error
 * has been seen, everything after it is ignored. A non-minimal length encoding (126 with a length
 * under 126) is accepted, as ws accepts it.
 *
 * With permessage-deflate negotiated (the subclass sets `compression`), a message whose first frame
 * has RSV1 is inflated before it is checked and delivered, synchronously (the codec keeps a
 * context as a dictionary, protocol/permessage-deflate.ts), so messages, pings and closes are
 * handled in the order they came, as ws does.
 */
import { isUtf8 } from 'node:buffer';
import { randomFillSync } from 'node:crypto';
import type { DeflateCodec } from './permessage-deflate.js';

export const Opcode = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  noStatus: 1005,
  abnormal: 1006,
  invalidPayload: 1007,
  tooBig: 1009,
} as const;

/** Why the parser failed the connection; the close code goes with it (see the table above). */
export type ProtocolErrorReason =
  | 'rsv-bits'
  | 'reserved-opcode'
  | 'masked-frame'
  | 'unmasked-frame'
  | 'control-frame-fragmented'
  | 'control-frame-too-long'
  | 'length-msb-set'
  | 'message-too-big'
  | 'unexpected-continuation'
  | 'expected-continuation'
  | 'close-body-1-byte'
  | 'invalid-close-code'
  | 'invalid-utf8'
  | 'invalid-compressed-data';

/** The largest message accepted from a server by default; a larger one fails with 1009. */
export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;
/** The header bytes that tell a frame's length: 2, then up to 8 of length (a client's mask follows). */
const MAX_HEADER_BYTES = 10;
/** A partial frame's buffer starts at most this large and doubles: memory follows what arrived. */
const PARTIAL_INITIAL_BYTES = 64 * 1024;

/** A close code a peer may send (RFC 6455 7.4.1 and 7.4.2, as ws checks it). */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

export abstract class FrameParser {
  /** The frame cut by a chunk boundary: its bytes so far, how many, and its whole length (0: header incomplete). */
  #partial: Buffer | undefined;
  #partialLength = 0;
  #partialNeeded = 0;
  /** The fragments of a message begun and not finished (copies), their bytes, and its opcode. */
  #fragments: Buffer[] | undefined;
  #fragmentBytes = 0;
  #fragmentOpcode = 0;
  /** After a close frame or a protocol error, nothing more is parsed. */
  #stopped = false;
  /** The message begun is compressed (its first frame had RSV1). */
  #fragmentCompressed = false;
  /**
   * The connection's permessage-deflate codec, once the extension was negotiated (undefined: RSV1
   * is refused). Set by the subclass after its handshake.
   */
  protected compression: DeflateCodec | undefined = undefined;

  constructor(readonly maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES) {}

  /**
   * The role: false (a client) parses a server's unmasked frames; a server subclass overrides this
   * with true to require masked frames. A prototype getter, so it costs no field per connection.
   */
  protected get parsesClientFrames(): boolean {
    return false;
  }

  /** A whole text or binary message. `payload` may be a view of the chunk: copy what must outlive the call. */
  protected abstract messageReceived(payload: Buffer, binary: boolean): void;
  /** A ping: the client answers it with a pong carrying the same payload (a view, as above). */
  protected abstract pingReceived(payload: Buffer): void;
  /** The server's close frame: a valid code, or 1005 when it had no body. Nothing is parsed after it. */
  protected abstract closeReceived(code: number, reason: Buffer): void;
  /** The server broke the protocol: fail the connection with `code`. Nothing is parsed after it. */
  protected abstract protocolError(code: number, reason: ProtocolErrorReason): void;
  protected pongReceived(_payload: Buffer): void {}
  /**
   * A whole message in one frame lies at buffer[start, end), not yet checked. A subclass that can
   * recognise it where it lies, as bytes it knows to be valid (an echo of what it sent), takes it
   * and returns true: then no view is made and no UTF-8 check is run. Returning false (the default)
   * sends it the usual way: checked, then to messageReceived as a view.
   */
  protected messageAt(_buffer: Buffer, _start: number, _end: number, _binary: boolean): boolean {
    return false;
  }

  /** Start afresh (a new connection on the same object). */
  protected resetParser(): void {
    this.#partial = undefined;
    this.#partialLength = 0;
    this.#partialNeeded = 0;
    this.#fragments = undefined;
    this.#fragmentBytes = 0;
    this.#stopped = false;
    this.#fragmentCompressed = false;
    this.compression = undefined;
  }

  /**
   * Feed the next bytes from the peer, as they came: chunk[0, end). A read into a shared buffer
   * passes the buffer and the count it read, so no view of it is made per read.
   */
  receive(chunk: Buffer, end = chunk.length): void {
    if (this.#stopped) return;
    let offset = 0;
    if (this.#partial) {
      offset = this.#fillPartial(chunk, end);
      const needed = this.#partialNeeded;
      if (this.#stopped || needed === 0 || this.#partialLength < needed) return;
      const frame = this.#partial;
      this.#partial = undefined;
      this.#partialLength = 0;
      this.#partialNeeded = 0;
      this.#parse(frame, 0, needed);
      if (this.#stopped) return;
    }
    const rest = this.#parse(chunk, offset, end);
    if (rest < end && !this.#stopped) this.#keepPartial(chunk, rest, end);
  }

  /** Handle the whole frames in buffer[offset, end); returns where an incomplete one begins. */
  #parse(buffer: Buffer, offset: number, end: number): number {
    while (!this.#stopped && end - offset >= 2) {
      const frameLength = this.#frameLength(buffer, offset, end - offset);
      if (frameLength <= 0 || end - offset < frameLength) return offset;
      const b0 = buffer[offset]!;
      const b1 = buffer[offset + 1]!;
      const lengthByte = b1 & 0x7f;
      let headerLength = lengthByte < 126 ? 2 : lengthByte === 126 ? 4 : 10;
      if (b1 & 0x80) {
        // A client's frame (the header check let a masked one through only in the server role).
        unmaskInPlace(buffer, offset + headerLength, offset + frameLength);
        headerLength += 4;
      }
      const opcode = b0 & 0x0f;
      // A whole message in one frame (the header check refused one inside a fragmented message).
      const compressed = (b0 & 0x40) !== 0;
      const whole = (b0 & 0x80) !== 0 && (opcode === Opcode.text || opcode === Opcode.binary) && !compressed;
      if (!whole || !this.messageAt(buffer, offset + headerLength, offset + frameLength, opcode === Opcode.binary)) {
        this.#frame((b0 & 0x80) !== 0, opcode, buffer.subarray(offset + headerLength, offset + frameLength), compressed);
      }
      offset += frameLength;
    }
    return offset;
  }

  /**
   * Check a frame's header (RFC 6455 5.2) and return the frame's whole length: 0 while the header is
   * incomplete, -1 when the header broke the protocol (the connection is then failed). Everything
   * the first two bytes can tell is checked as soon as they arrive.
   */
  #frameLength(buffer: Buffer, offset: number, available: number): number {
    if (available < 2) return 0;
    const b0 = buffer[offset]!;
    const b1 = buffer[offset + 1]!;
    const opcode = b0 & 0x0f;
    // RSV1 marks a compressed message: only with permessage-deflate, only on a message's first frame.
    if (b0 & 0x30 || (b0 & 0x40 && (!this.compression || opcode === Opcode.continuation || opcode >= 8))) return this.#fail(CloseCode.protocolError, 'rsv-bits');
    if ((opcode > 2 && opcode < 8) || opcode > 10) return this.#fail(CloseCode.protocolError, 'reserved-opcode');
    const maskLength = b1 & 0x80 ? 4 : 0;
    if (this.parsesClientFrames) {
      if (maskLength === 0) return this.#fail(CloseCode.protocolError, 'unmasked-frame');
    } else if (maskLength !== 0) {
      return this.#fail(CloseCode.protocolError, 'masked-frame');
    }
    let length = b1 & 0x7f;
    if (opcode >= 8) {
      if (!(b0 & 0x80)) return this.#fail(CloseCode.protocolError, 'control-frame-fragmented');
      if (length > 125) return this.#fail(CloseCode.protocolError, 'control-frame-too-long');
      return 2 + maskLength + length;
    }
    let headerLength = 2 + maskLength;
    if (length === 126) {
      if (available < 4) return 0;
      length = buffer.readUInt16BE(offset + 2);
      headerLength = 4 + maskLength;
    } else if (length === 127) {
      if (available < 10) return 0;
      const high = buffer.readUInt32BE(offset + 2);
      // ws's server refuses a length JavaScript cannot hold (over 2^53 - 1) with 1009; its client, 1002.
      if (high > 0x1f_ffff && this.parsesClientFrames) return this.#fail(CloseCode.tooBig, 'message-too-big');
      if (high & 0x80000000) return this.#fail(CloseCode.protocolError, 'length-msb-set');
      length = high * 2 ** 32 + buffer.readUInt32BE(offset + 6);
      headerLength = 10 + maskLength;
    }
    if (opcode === Opcode.continuation) {
      if (!this.#fragments) return this.#fail(CloseCode.protocolError, 'unexpected-continuation');
      if (this.#fragmentBytes + length > this.maxMessageBytes) return this.#fail(CloseCode.tooBig, 'message-too-big');
    } else {
      if (this.#fragments) return this.#fail(CloseCode.protocolError, 'expected-continuation');
      if (length > this.maxMessageBytes) return this.#fail(CloseCode.tooBig, 'message-too-big');
    }
    return headerLength + length;
  }

  #frame(fin: boolean, opcode: number, payload: Buffer, compressed: boolean): void {
    switch (opcode) {
      case Opcode.text:
      case Opcode.binary:
        if (fin) return compressed ? this.#inflate(payload, opcode) : this.#message(payload, opcode);
        this.#fragments = [Buffer.from(payload)];
        this.#fragmentBytes = payload.length;
        this.#fragmentOpcode = opcode;
        this.#fragmentCompressed = compressed;
        return;
      case Opcode.continuation: {
        const fragments = this.#fragments!;
        fragments.push(Buffer.from(payload));
        this.#fragmentBytes += payload.length;
        if (!fin) return;
        const whole = Buffer.concat(fragments, this.#fragmentBytes);
        this.#fragments = undefined;
        this.#fragmentBytes = 0;
        return this.#fragmentCompressed ? this.#inflate(whole, this.#fragmentOpcode) : this.#message(whole, this.#fragmentOpcode);
      }
      case Opcode.ping:
        return this.pingReceived(payload);
      case Opcode.pong:
        return this.pongReceived(payload);
      default: {
        // Opcode.close: the header check let no other opcode through.
        if (payload.length === 1) return void this.#fail(CloseCode.protocolError, 'close-body-1-byte');
        if (payload.length === 0) {
          this.#stopped = true;
          return this.closeReceived(CloseCode.noStatus, payload);
        }
        const code = payload.readUInt16BE(0);
        if (!isValidCloseCode(code)) return void this.#fail(CloseCode.protocolError, 'invalid-close-code');
        const reason = payload.subarray(2);
        if (!isUtf8(reason)) return void this.#fail(CloseCode.invalidPayload, 'invalid-utf8');
        this.#stopped = true;
        return this.closeReceived(code, reason);
      }
    }
  }

  #message(payload: Buffer, opcode: number): void {
    if (opcode === Opcode.text && !isUtf8(payload)) return void this.#fail(CloseCode.invalidPayload, 'invalid-utf8');
    this.messageReceived(payload, opcode === Opcode.binary);
  }

  /** Inflate a compressed message (in one synchronous call: it may be a view of the read buffer), then deliver it. */
  #inflate(compressed: Buffer, opcode: number): void {
    const inflated = this.compression!.inflate(compressed);
    if (Buffer.isBuffer(inflated)) this.#message(inflated, opcode);
    else this.#fail(inflated.code, inflated.reason);
  }

  #fail(code: number, reason: ProtocolErrorReason): -1 {
    this.#stopped = true;
    this.#partial = undefined;
    this.#fragments = undefined;
    this.protocolError(code, reason);
    return -1;
  }

  /** Copy the incomplete frame at chunk[from, end) out of the chunk, which is about to be reused. */
  #keepPartial(chunk: Buffer, from: number, end: number): void {
    const available = end - from;
    const frameLength = this.#frameLength(chunk, from, available);
    if (frameLength < 0) return;
    const partial = Buffer.allocUnsafe(frameLength === 0 ? MAX_HEADER_BYTES : Math.min(frameLength, Math.max(available, PARTIAL_INITIAL_BYTES)));
    chunk.copy(partial, 0, from, end);
    this.#partial = partial;
    this.#partialLength = available;
    this.#partialNeeded = frameLength;
  }

  /**
   * Add to the partial frame from the front of `chunk`, no further than `end` (the header first,
   * then, its length known, the rest). Returns how many bytes of the chunk it took.
   */
  #fillPartial(chunk: Buffer, end: number): number {
    let used = 0;
    while (this.#partialNeeded === 0) {
      const partial = this.#partial!;
      const have = this.#partialLength;
      const headerLength = have < 2 ? 2 : headerLengthOf(partial[1]!);
      const take = Math.min(headerLength - have, end - used);
      chunk.copy(partial, have, used, used + take);
      used += take;
      this.#partialLength += take;
      const frameLength = this.#frameLength(partial, 0, this.#partialLength);
      if (frameLength < 0) return used;
      if (frameLength === 0) {
        if (used === end) return used;
        continue;
      }
      this.#partialNeeded = frameLength;
      if (frameLength > partial.length) {
        const grown = Buffer.allocUnsafe(Math.min(frameLength, Math.max(PARTIAL_INITIAL_BYTES, end - used + this.#partialLength)));
        partial.copy(grown, 0, 0, this.#partialLength);
        this.#partial = grown;
      }
    }
    let partial = this.#partial!;
    const take = Math.min(this.#partialNeeded - this.#partialLength, end - used);
    if (this.#partialLength + take > partial.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.#partialNeeded, Math.max(partial.length * 2, this.#partialLength + take)));
      partial.copy(grown, 0, 0, this.#partialLength);
      this.#partial = partial = grown;
    }
    chunk.copy(partial, this.#partialLength, used, used + take);
    this.#partialLength += take;
    return used + take;
  }
}

/**
 * XOR a client frame's payload, buffer[maskAt + 4, end), with the 4-byte mask at buffer[maskAt], in
 * place (the buffer is the shared read buffer or a copy of a cut frame: nobody else reads it).
 */
function unmaskInPlace(buffer: Buffer, maskAt: number, end: number): void {
  const m0 = buffer[maskAt]!, m1 = buffer[maskAt + 1]!, m2 = buffer[maskAt + 2]!, m3 = buffer[maskAt + 3]!;
  if ((m0 | m1 | m2 | m3) === 0) return;
  const start = maskAt + 4;
  let i = start;
  const wordsEnd = start + ((end - start) & ~3);
  for (; i < wordsEnd; i += 4) {
    buffer[i] = buffer[i]! ^ m0;
    buffer[i + 1] = buffer[i + 1]! ^ m1;
    buffer[i + 2] = buffer[i + 2]! ^ m2;
    buffer[i + 3] = buffer[i + 3]! ^ m3;
  }
  if (i < end) buffer[i] = buffer[i++]! ^ m0;
  if (i < end) buffer[i] = buffer[i++]! ^ m1;
  if (i < end) buffer[i] = buffer[i]! ^ m2;
}

function headerLengthOf(b1: number): number {
  const length = b1 & 0x7f;
  return length < 126 ? 2 : length === 126 ? 4 : 10;
}

/**
 * One final frame: masked (a client's, RFC 6455 5.3) or not (a server's). Header and payload in one
 * buffer, so it goes out in one write.
 */
export function encodeFrame(payload: Buffer, opcode: number, masked: boolean, fin = true): Buffer {
  const length = payload.length;
  const headerLength = frameHeaderLength(length, masked);
  const frame = Buffer.allocUnsafe(headerLength + length);
  if (!masked) payload.copy(frame, headerLength);
  // Masked, the payload is masked on its way in: one pass over it, not a copy and then a pass.
  writeFrameHeader(frame, 0, length, opcode, masked, fin, masked ? payload : undefined);
  return frame;
}

/** The length of a frame's header for a payload of `length` bytes: 2, 4 or 10, plus 4 when masked. */
export function frameHeaderLength(length: number, masked: boolean): number {
  return (length < 126 ? 2 : length < 65_536 ? 4 : 10) + (masked ? 4 : 0);
}

/**
 * Frame a payload in place: `into` holds it at `at + frameHeaderLength(length, masked)`; this writes
 * the header at `at` and, masked, a fresh masking key (RFC 6455 5.3: one per frame, unpredictable)
 * after it, and masks the payload where it is (or, given `source`, masks `source` into that place).
 * So a sender can build many frames into one buffer and hand them to the socket in one write, with
 * no copy of the payload.
 */
export function writeFrameHeader(into: Buffer, at: number, length: number, opcode: number, masked: boolean, fin = true, source?: Buffer): void {
  into[at] = (fin ? 0x80 : 0) | opcode;
  const maskBit = masked ? 0x80 : 0;
  let maskAt = at + 2;
  if (length < 126) {
    into[at + 1] = maskBit | length;
  } else if (length < 65_536) {
    into[at + 1] = maskBit | 126;
    into.writeUInt16BE(length, at + 2);
    maskAt = at + 4;
  } else {
    into[at + 1] = maskBit | 127;
    into.writeUInt32BE(Math.floor(length / 2 ** 32), at + 2);
    into.writeUInt32BE(length >>> 0, at + 6);
    maskAt = at + 10;
  }
  if (!masked) return;
  takeRandom(into, maskAt);
  const m0 = into[maskAt]!, m1 = into[maskAt + 1]!, m2 = into[maskAt + 2]!, m3 = into[maskAt + 3]!;
  const base = maskAt + 4;
  const from = source ?? into;
  const offset = source ? 0 : base;
  let i = 0;
  for (; i + 3 < length; i += 4) {
    into[base + i] = from[offset + i]! ^ m0;
    into[base + i + 1] = from[offset + i + 1]! ^ m1;
    into[base + i + 2] = from[offset + i + 2]! ^ m2;
    into[base + i + 3] = from[offset + i + 3]! ^ m3;
  }
  for (; i < length; i++) into[base + i] = from[offset + i]! ^ into[maskAt + (i & 3)]!;
}

/** A close frame's body: the code, then the reason. */
export function closeBody(code: number, reason = ''): Buffer {
  const body = Buffer.allocUnsafe(2 + Buffer.byteLength(reason));
  body.writeUInt16BE(code, 0);
  body.write(reason, 2);
  return body;
}

// Masking keys come from a pooled random buffer, refilled 2048 keys at a time (as ws does).
const randomPool = Buffer.alloc(8192);
let randomOffset = randomPool.length;
/** Write 4 random bytes at `into[at]`: a masking key, or part of a Sec-WebSocket-Key. */
export function takeRandom(into: Buffer, at: number): void {
  if (randomOffset === randomPool.length) {
    randomFillSync(randomPool);
    randomOffset = 0;
  }
  // Four assignments: cheaper than a copy call for four bytes, once per frame sent.
  into[at] = randomPool[randomOffset]!;
  into[at + 1] = randomPool[randomOffset + 1]!;
  into[at + 2] = randomPool[randomOffset + 2]!;
  into[at + 3] = randomPool[randomOffset + 3]!;
  randomOffset += 4;
}
