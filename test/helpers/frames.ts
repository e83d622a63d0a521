/** Raw server frames, well formed or not, for tests that play a WebSocket server byte by byte. */
import { encodeFrame, Opcode } from '../../src/protocol/frame-codec.js';

export interface RawFrame {
  opcode: number;
  payload?: Buffer | string;
  fin?: boolean;
  /** RSV1-3 as bits 0x40, 0x20, 0x10 of the first byte. */
  rsv?: number;
  masked?: boolean;
  /** Claim this length instead of the payload's (for truncated or oversized frames). */
  claimedLength?: number;
}

/** A frame as a server (or a hostile one) would send it. */
export function rawFrame(frame: RawFrame): Buffer {
  const payload = typeof frame.payload === 'string' ? Buffer.from(frame.payload) : frame.payload ?? Buffer.alloc(0);
  if (frame.claimedLength === undefined) {
    const bytes = encodeFrame(payload, frame.opcode, frame.masked ?? false, frame.fin ?? true);
    bytes[0] = bytes[0]! | (frame.rsv ?? 0);
    return bytes;
  }
  const length = frame.claimedLength;
  const header = Buffer.alloc(length < 126 ? 2 : length < 65_536 ? 4 : 10);
  header[0] = ((frame.fin ?? true) ? 0x80 : 0) | (frame.rsv ?? 0) | frame.opcode;
  if (length < 126) header[1] = length;
  else if (length < 65_536) {
    header[1] = 126;
    header.writeUInt16BE(length, 2);
  } else {
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  if (frame.masked) header[1] = header[1]! | 0x80;
  return Buffer.concat([header, payload]);
}

export function closeFrame(code?: number, reason = '', masked = false): Buffer {
  if (code === undefined) return rawFrame({ opcode: Opcode.close, masked });
  const body = Buffer.alloc(2 + Buffer.byteLength(reason));
  body.writeUInt16BE(code, 0);
  body.write(reason, 2);
  return rawFrame({ opcode: Opcode.close, payload: body, masked });
}

/** Unmask a client's frame payload in place. */
export function unmask(payload: Buffer, mask: Buffer): Buffer {
  for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ mask[i & 3]!;
  return payload;
}

/** Parse the frames a client sent (masked), for assertions: complete frames only. */
export function parseClientFrames(bytes: Buffer): { fin: boolean; opcode: number; masked: boolean; payload: Buffer }[] {
  const frames = [];
  let offset = 0;
  while (bytes.length - offset >= 2) {
    const b0 = bytes[offset]!;
    const b1 = bytes[offset + 1]!;
    let length = b1 & 0x7f;
    let at = offset + 2;
    if (length === 126) {
      length = bytes.readUInt16BE(at);
      at += 2;
    } else if (length === 127) {
      length = Number(bytes.readBigUInt64BE(at));
      at += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    const mask = masked ? bytes.subarray(at, at + 4) : undefined;
    if (masked) at += 4;
    if (bytes.length < at + length) break;
    const payload = Buffer.from(bytes.subarray(at, at + length));
    frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, masked, payload: mask ? unmask(payload, mask) : payload });
    offset = at + length;
  }
  return frames;
}
