/**
 * The inputs of the serve fuzzer (test/fuzz-serve.test.ts), seeded: hostile upgrade requests and
 * hostile byte streams after an upgrade, each with the answer RFC 6455 and ws give it. Shared with
 * test/serve-differential.test.ts, which sends the same streams to serve and to ws itself.
 */
import { constants, deflateRawSync } from 'node:zlib';
import { encodeFrame, Opcode } from '../../src/protocol/frame-codec.js';

export const MAX_PAYLOAD = 64 * 1024;
export const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Expect =
  | { kind: 'status'; status: number }
  /** Closed by the server with no answer at all (the handshake timeout). */
  | { kind: 'silent-close' }
  | { kind: 'close-code'; code: number }
  /** Cut without a close frame (the heartbeat ends a peer stuck mid-frame). */
  | { kind: 'cut' };

export interface Case {
  readonly name: string;
  /** The bytes to send, in the pieces they are written in. */
  readonly pieces: Buffer[];
  readonly inputs: number;
  readonly expect: Expect;
  readonly echoes: { data: Buffer; binary: boolean }[];
  readonly pings: Buffer[];
}

export const REQUEST = ['GET /ws HTTP/1.1', 'Host: 127.0.0.1', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${KEY}`, 'Sec-WebSocket-Version: 13'];
export const requestHead = (lines: string[]) => Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
const replace = (prefix: string, line: string | undefined) =>
  REQUEST.flatMap((l) => (l.startsWith(prefix) ? (line === undefined ? [] : [line]) : [l]));

/** A client frame (masked unless told), with the header bits a hostile one may set. */
export function frame(opcode: number, payload: Buffer, options: { fin?: boolean; rsv?: number; masked?: boolean } = {}): Buffer {
  const bytes = encodeFrame(payload, opcode, options.masked ?? true, options.fin ?? true);
  bytes[0] = bytes[0]! | (options.rsv ?? 0);
  return bytes;
}

/** Only a masked header claiming `length` bytes, with none of them. */
export function headerClaiming(opcode: number, length: bigint, fin = true): Buffer {
  const header = Buffer.alloc(14);
  header[0] = (fin ? 0x80 : 0) | opcode;
  header[1] = 0x80 | 127;
  header.writeBigUInt64BE(length, 2);
  return header; // 4 mask bytes of zeros follow the length
}

export function closePayload(code: number, reason: Buffer = Buffer.alloc(0)): Buffer {
  const body = Buffer.alloc(2 + reason.length);
  body.writeUInt16BE(code, 0);
  reason.copy(body, 2);
  return body;
}

const ALPHABET = ['a', 'b', 'z', ' ', '0', 'é', 'ß', '€', '中', '😀', '\n', '"'];
const INVALID_UTF8 = [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x80]].map((b) => Buffer.from(b));
const INVALID_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535];
const VALID_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4000, 4999];

/**
 * A control byte to begin garbage with, never CR or LF: a server ignores empty lines before the
 * request line (RFC 9112 2.2), so '\r' + '\r\n\r\n' is no request yet, answered by the handshake
 * timeout, not by a 400. Mapped, not drawn again, so every later case of a seed stays the same.
 */
const notLineBreak = (byte: number) => (byte === 10 || byte === 13 ? byte + 1 : byte);

export function generate(random: () => number, connections: number): Case[] {
  const int = (below: number) => Math.floor(random() * below);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const bytes = (length: number) => {
    const buffer = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) buffer[i] = int(256);
    return buffer;
  };
  const text = (chars: number) => Buffer.from(Array.from({ length: chars }, () => pick(ALPHABET)).join(''));

  const httpCase = (): Case => {
    const variants: [string, () => Buffer, Expect][] = [
      ['method', () => requestHead([`${pick(['POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS'])} /ws HTTP/1.1`, ...REQUEST.slice(1)]), { kind: 'status', status: 400 }],
      ['HTTP/1.0', () => requestHead(['GET /ws HTTP/1.0', ...REQUEST.slice(1)]), { kind: 'status', status: 400 }],
      ['Upgrade not websocket', () => requestHead(replace('Upgrade:', `Upgrade: ${pick(['h2c', 'web socket', 'websockets', 'foo'])}`)), { kind: 'status', status: 400 }],
      ['no key', () => requestHead(replace('Sec-WebSocket-Key:', undefined)), { kind: 'status', status: 400 }],
      ['bad key', () => requestHead(replace('Sec-WebSocket-Key:', `Sec-WebSocket-Key: ${pick(['abc', bytes(16).toString('hex'), '!!!!!!!!!!!!!!!!!!!!!!==', KEY.slice(0, 20)])}`)), { kind: 'status', status: 400 }],
      ['version', () => requestHead(replace('Sec-WebSocket-Version:', pick([undefined, 'Sec-WebSocket-Version: 7', 'Sec-WebSocket-Version: 14', 'Sec-WebSocket-Version: x']))), { kind: 'status', status: 400 }],
      ['duplicate key', () => requestHead([...REQUEST, `Sec-WebSocket-Key: ${KEY}`]), { kind: 'status', status: 400 }],
      ['other path', () => requestHead([`GET /${pick(['', 'x', 'ws/', 'wss', 'healthz/x'])} HTTP/1.1`, ...REQUEST.slice(1)]), { kind: 'status', status: 404 }],
      ['no Connection: upgrade', () => requestHead(replace(pick(['Connection:', 'Upgrade:']), undefined)), { kind: 'status', status: 426 }],
      ['garbage', () => Buffer.concat([Buffer.from([notLineBreak(1 + int(31))]), bytes(int(200)), Buffer.from('\r\n\r\n')]), { kind: 'status', status: 400 }],
      ['broken header line', () => requestHead([...REQUEST, pick(['NoColonHere', 'Bad Name: x', 'X-A: a\x00b', ': empty'])]), { kind: 'status', status: 400 }],
      ['bare LF', () => Buffer.from(REQUEST.join('\n') + '\n\n'), { kind: 'status', status: 400 }],
      ['headers too large', () => requestHead([...REQUEST, `X-Big: ${'a'.repeat(17_000 + int(4000))}`]), { kind: 'status', status: 431 }],
    ];
    if (random() < 0.03) {
      // A request cut short, then silence: the handshake timeout ends it, with no answer.
      const whole = requestHead(REQUEST);
      return { name: 'truncated request', pieces: [whole.subarray(0, 1 + int(whole.length - 5))], inputs: 1, expect: { kind: 'silent-close' }, echoes: [], pings: [] };
    }
    const [name, make, expect] = pick(variants);
    return { name: `upgrade: ${name}`, pieces: [make()], inputs: 1, expect, echoes: [], pings: [] };
  };

  const wsCase = (): Case => {
    const frames: Buffer[] = [requestHead(REQUEST)];
    const echoes: Case['echoes'] = [];
    const pings: Buffer[] = [];
    const benign = int(9);
    for (let i = 0; i < benign; i++) {
      const which = int(5);
      if (which === 0) {
        const payload = bytes(int(125));
        pings.push(payload);
        frames.push(frame(Opcode.ping, payload));
      } else if (which === 1) {
        frames.push(frame(Opcode.pong, bytes(int(125))));
      } else {
        // A message, in 1 to 4 fragments split anywhere (UTF-8 characters included), pings between.
        const binary = which === 2;
        const payload = binary ? bytes(random() < 0.1 ? int(MAX_PAYLOAD + 1) : int(300)) : text(int(100));
        const cuts = [0, ...Array.from({ length: int(4) }, () => int(payload.length + 1)).sort((a, b) => a - b), payload.length];
        for (let f = 0; f + 1 < cuts.length; f++) {
          frames.push(frame(f === 0 ? (binary ? Opcode.binary : Opcode.text) : Opcode.continuation, payload.subarray(cuts[f], cuts[f + 1]), { fin: f + 2 === cuts.length }));
          if (f + 2 < cuts.length && random() < 0.5) {
            const ping = bytes(int(20));
            pings.push(ping);
            frames.push(frame(Opcode.ping, ping));
          }
        }
        echoes.push({ data: payload, binary });
      }
    }
    const endings: [string, () => Buffer, Expect][] = [
      ['unmasked frame', () => frame(pick([Opcode.text, Opcode.binary, Opcode.ping]), text(int(20)), { masked: false }), { kind: 'close-code', code: 1002 }],
      ['RSV bits', () => frame(pick([Opcode.text, Opcode.binary, Opcode.ping]), text(int(20)), { rsv: pick([0x40, 0x20, 0x10, 0x70]) }), { kind: 'close-code', code: 1002 }],
      ['reserved opcode', () => frame(pick([3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]), bytes(int(20))), { kind: 'close-code', code: 1002 }],
      ['control frame over 125', () => frame(pick([Opcode.ping, Opcode.pong, Opcode.close]), Buffer.alloc(126 + int(200), 0x61)), { kind: 'close-code', code: 1002 }],
      ['fragmented control frame', () => frame(pick([Opcode.ping, Opcode.pong, Opcode.close]), closePayload(1000), { fin: false }), { kind: 'close-code', code: 1002 }],
      ['stray continuation', () => frame(Opcode.continuation, text(int(20))), { kind: 'close-code', code: 1002 }],
      ['message inside a fragmented one', () => Buffer.concat([frame(Opcode.text, text(3), { fin: false }), frame(Opcode.binary, bytes(3))]), { kind: 'close-code', code: 1002 }],
      ['close with 1 byte', () => frame(Opcode.close, Buffer.from([int(256)])), { kind: 'close-code', code: 1002 }],
      ['invalid close code', () => frame(Opcode.close, closePayload(pick(INVALID_CLOSE_CODES))), { kind: 'close-code', code: 1002 }],
      ['invalid UTF-8 text', () => frame(Opcode.text, Buffer.concat([text(int(10)), pick(INVALID_UTF8), text(int(3))])), { kind: 'close-code', code: 1007 }],
      ['invalid UTF-8 in fragments', () => Buffer.concat([frame(Opcode.text, text(3), { fin: false }), frame(Opcode.continuation, pick(INVALID_UTF8))]), { kind: 'close-code', code: 1007 }],
      ['invalid UTF-8 close reason', () => frame(Opcode.close, closePayload(1000, pick(INVALID_UTF8))), { kind: 'close-code', code: 1007 }],
      ['oversized length', () => headerClaiming(pick([Opcode.text, Opcode.binary]), BigInt(MAX_PAYLOAD + 1 + int(2 ** 30))), { kind: 'close-code', code: 1009 }],
      ['64-bit length with its top bit set', () => headerClaiming(Opcode.binary, 2n ** 63n + BigInt(int(1000))), { kind: 'close-code', code: 1009 }],
      ['fragments over the limit', () => Buffer.concat([frame(Opcode.binary, Buffer.alloc(MAX_PAYLOAD - 10), { fin: false }), headerClaiming(Opcode.continuation, 11n)]), { kind: 'close-code', code: 1009 }],
    ];
    let name: string;
    let ending: Buffer;
    let expect: Expect;
    const roll = random();
    if (roll < 0.03) {
      // A truncated frame, then silence: only the heartbeat can end it.
      const whole = frame(Opcode.binary, bytes(10 + int(200)));
      [name, ending, expect] = ['truncated frame', whole.subarray(0, 1 + int(whole.length - 2)), { kind: 'cut' }];
    } else if (roll < 0.15) {
      const code = pick(VALID_CLOSE_CODES);
      [name, ending, expect] = [`close ${code}`, frame(Opcode.close, closePayload(code, text(int(10)))), { kind: 'close-code', code }];
    } else {
      const [endingName, make, endingExpect] = pick(endings);
      [name, ending, expect] = [endingName, make(), endingExpect];
    }
    frames.push(ending);
    // Written in 1 to 3 pieces cut anywhere, so frames arrive split as they would over a network.
    const all = Buffer.concat(frames);
    const cutA = int(all.length), cutB = int(all.length);
    const pieces = random() < 0.5 ? [all] : [all.subarray(0, Math.min(cutA, cutB)), all.subarray(Math.min(cutA, cutB), Math.max(cutA, cutB)), all.subarray(Math.max(cutA, cutB))].filter((p) => p.length > 0);
    return { name: `after upgrade: ${benign} legal inputs, then ${name}`, pieces, inputs: benign + 1, expect, echoes, pings };
  };

  return Array.from({ length: connections }, () => (random() < 0.25 ? httpCase() : wsCase()));
}

/** The permessage-deflate offer of the compressed cases: every client message is compressed on its own. */
export const COMPRESS_OFFER = 'Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; client_max_window_bits';

/** A message compressed as RFC 7692 7.2.1 frames it: raw deflate, sync flush, 00 00 ff ff removed. */
export function deflateMessage(payload: Buffer): Buffer {
  return deflateRawSync(payload, { finishFlush: constants.Z_SYNC_FLUSH }).subarray(0, -4);
}

/**
 * Streams for a server with permessage-deflate (serve --compress), seeded: after an upgrade that
 * offers it, compressed messages (whole, or cut into fragments with RSV1 on the first only, pings
 * between) mixed with plain ones and pings; then one ending: compressed data zlib refuses (1007), a
 * zip bomb (1009), compressed text that inflates to invalid UTF-8 (1007), RSV1 on a continuation or
 * a control frame, RSV2 or RSV3 (1002), or a valid close.
 */
export function generateCompressed(random: () => number, connections: number): Case[] {
  const int = (below: number) => Math.floor(random() * below);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const text = (chars: number) => Buffer.from(Array.from({ length: chars }, () => pick(ALPHABET)).join(''));
  const bomb = deflateMessage(Buffer.alloc(MAX_PAYLOAD * 64));
  const cases: Case[] = [];
  for (let c = 0; c < connections; c++) {
    const frames: Buffer[] = [requestHead([...REQUEST, COMPRESS_OFFER])];
    const echoes: Case['echoes'] = [];
    const pings: Buffer[] = [];
    const benign = int(7);
    for (let i = 0; i < benign; i++) {
      const which = int(6);
      if (which === 0) {
        const payload = text(int(40));
        pings.push(payload);
        frames.push(frame(Opcode.ping, payload));
        continue;
      }
      const binary = which === 1;
      // Repetitive text (it compresses), now and then a message of exactly maxPayload inflated.
      const payload = random() < 0.1 ? Buffer.alloc(MAX_PAYLOAD, 0x61) : Buffer.from(text(int(200)).toString().repeat(1 + int(4)));
      const compress = which !== 5;
      const body = compress ? deflateMessage(payload) : payload;
      const cuts = [0, ...Array.from({ length: int(4) }, () => int(body.length + 1)).sort((a, b) => a - b), body.length];
      for (let f = 0; f + 1 < cuts.length; f++) {
        const opcode = f === 0 ? (binary ? Opcode.binary : Opcode.text) : Opcode.continuation;
        frames.push(frame(opcode, body.subarray(cuts[f], cuts[f + 1]), { fin: f + 2 === cuts.length, rsv: compress && f === 0 ? 0x40 : 0 }));
        if (f + 2 < cuts.length && random() < 0.5) {
          const ping = text(int(10));
          pings.push(ping);
          frames.push(frame(Opcode.ping, ping));
        }
      }
      echoes.push({ data: payload, binary });
    }
    const endings: [string, () => Buffer, Expect][] = [
      ['compressed data zlib refuses', () => frame(pick([Opcode.text, Opcode.binary]), Buffer.from([0xff, 0xff, int(256), int(256)]), { rsv: 0x40 }), { kind: 'close-code', code: 1007 }],
      ['a zip bomb', () => frame(Opcode.binary, bomb, { rsv: 0x40 }), { kind: 'close-code', code: 1009 }],
      ['compressed invalid UTF-8', () => frame(Opcode.text, deflateMessage(Buffer.concat([text(int(10)), pick(INVALID_UTF8)])), { rsv: 0x40 }), { kind: 'close-code', code: 1007 }],
      ['RSV1 on a continuation', () => Buffer.concat([frame(Opcode.text, deflateMessage(text(5)), { fin: false, rsv: 0x40 }), frame(Opcode.continuation, text(3), { rsv: 0x40 })]), { kind: 'close-code', code: 1002 }],
      ['RSV1 on a control frame', () => frame(pick([Opcode.ping, Opcode.pong, Opcode.close]), closePayload(1000), { rsv: 0x40 }), { kind: 'close-code', code: 1002 }],
      ['RSV2 or RSV3', () => frame(pick([Opcode.text, Opcode.binary]), deflateMessage(text(5)), { rsv: pick([0x60, 0x50, 0x20, 0x10]) }), { kind: 'close-code', code: 1002 }],
      ['close', () => frame(Opcode.close, closePayload(1000, text(int(10)))), { kind: 'close-code', code: 1000 }],
    ];
    const [name, make, expect] = pick(endings);
    frames.push(make());
    const all = Buffer.concat(frames);
    const cut = int(all.length);
    const pieces = random() < 0.5 ? [all] : [all.subarray(0, cut), all.subarray(cut)].filter((p) => p.length > 0);
    cases.push({ name: `after a compressed upgrade: ${benign} legal inputs, then ${name}`, pieces, inputs: benign + 1, expect, echoes, pings });
  }
  return cases;
}

const PLAIN_REQUEST_LINE = Buffer.from('GET /ws HTTP/1.1\r\n', 'latin1');

/**
 * The same pieces with the upgrade request's path given `?room=<room>` (serve --mode broadcast: a
 * room of one, where nothing is relayed and only control frames and closes come back). The bytes
 * are cut where they were: every boundary after the request line moves by what was inserted.
 * Pieces with no plain `GET /ws HTTP/1.1` request line (broken upgrades) are left as they are.
 */
export function inRoom(pieces: readonly Buffer[], room: number): Buffer[] {
  const whole = Buffer.concat(pieces);
  if (whole.indexOf(PLAIN_REQUEST_LINE) !== 0) return [...pieces];
  const at = 'GET /ws'.length;
  const inserted = Buffer.from(`?room=${room}`, 'latin1');
  const moved = Buffer.concat([whole.subarray(0, at), inserted, whole.subarray(at)]);
  const out: Buffer[] = [];
  let from = 0;
  let boundary = 0;
  for (const piece of pieces) {
    boundary += piece.length;
    const to = boundary <= at ? boundary : boundary + inserted.length;
    out.push(moved.subarray(from, to));
    from = to;
  }
  return out;
}
