/**
 * permessage-deflate (RFC 7692) for both ends: the offer a client sends, the server's choice among
 * the offers it receives, the client's check of the server's answer, and a per-connection codec
 * that compresses and inflates whole messages with node:zlib.
 *
 * Negotiation follows RFC 7692 section 7 and answers as ws does (ws is the test oracle): a header
 * that does not parse, or an offer with an unknown, repeated or out-of-range parameter, is refused
 * (a server answers 400, as ws's server does); a server answer with a parameter the client did not
 * allow fails the client's upgrade ('bad-extension').
 *
 * Each message ends with a Z_SYNC_FLUSH whose trailing 00 00 ff ff is removed (section 7.2.1) and
 * added back before inflating (7.2.2). Every message is compressed and inflated in one synchronous
 * zlib call on a fresh state, freed when it returns: no zlib stream is kept, nothing runs on libuv's
 * thread pool, and what is sent after a message (a pong, a close frame, the TCP end) can never
 * overtake it nor be lost behind it.
 *
 * Context takeover (ws's default, and blast's and serve's) without a kept stream: what a peer with
 * takeover holds between messages is its LZ77 window, the last 2^windowBits bytes of the messages
 * already sent in that direction, uncompressed. A preset dictionary is exactly that state (RFC 1951
 * back-references into bytes the decoder already has; zlib's deflateSetDictionary and
 * inflateSetDictionary). So each direction with takeover keeps the last bytes of its messages:
 *
 * - sending: the last DEFLATE_DICTIONARY_BYTES (8 KB) sent, given to deflate as its dictionary. Any
 *   suffix of the peer's window is a valid one; setting it costs hashing every byte, per message,
 *   so 8 KB rather than 32 KB (measured on 600 B JSON: ~30 µs of deflate with 8 KB, ~70 µs with
 *   32 KB, the same ratio, 0.148; 4 KB: ~23 µs at 0.162; none: ~17 µs at 0.406);
 * - receiving: the last 2^windowBits bytes received (32 KB at 15), the inflater's dictionary: the
 *   peer may reach back that far.
 *
 * Each is held in a buffer of its size plus a quarter, grown as traffic comes, so a connection
 * with takeover both ways holds at most 10 KB + 40 KB at windowBits 15 (a kept deflate and inflate
 * stream held ~300 KB of zlib state), and nothing for a direction without it. test/permessage-deflate
 * shows the equivalence against ws's streams with takeover, byte for byte, over long sequences in
 * both roles and every window size. zlib deflates with a 9-bit window when asked for 8 (as ws does,
 * through Node), which reaches back at most 250 bytes (2^9 - 262), inside an 8-bit peer's window.
 *
 * Inflation stops as soon as its output passes the largest message allowed (maxPayload: zlib's
 * maxOutputLength) and the message fails with 1009, so a small frame that inflates to gigabytes
 * costs at most that much output. Data zlib cannot inflate fails with 1007. A call blocks the
 * event loop for its message's own time (bounded by maxPayload).
 */
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';

export const EXTENSION_NAME = 'permessage-deflate';
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const MIN_WINDOW_BITS = 8;
const MAX_WINDOW_BITS = 15;

/** What a connection agreed on: the parameters of RFC 7692 section 7.1, resolved. */
export interface DeflateParams {
  /** The server starts each message it sends with a fresh context. */
  readonly serverNoContextTakeover: boolean;
  /** The client starts each message it sends with a fresh context. */
  readonly clientNoContextTakeover: boolean;
  /** The largest LZ77 window the server compresses with (8-15). */
  readonly serverMaxWindowBits: number;
  /** The largest LZ77 window the client compresses with (8-15). */
  readonly clientMaxWindowBits: number;
}

/** What a client asks for (blast's --compress options). */
export interface DeflateOffer {
  readonly clientNoContextTakeover: boolean;
  readonly serverNoContextTakeover: boolean;
  /** Asked of both sides when set: server_max_window_bits and client_max_window_bits with this value. */
  readonly windowBits?: number;
}

/** What a server is willing to do (serve's --compress options). */
export interface DeflateServerPolicy {
  /** Always ask the client to reset its context (memory: no window kept per connection between messages). */
  readonly clientNoContextTakeover: boolean;
  /** Always reset our own context after each message. */
  readonly serverNoContextTakeover: boolean;
}

export class ExtensionError extends Error {}

/** One extension of a Sec-WebSocket-Extensions header: its name and its parameters in order. */
export interface ExtensionOffer {
  readonly name: string;
  readonly params: ReadonlyArray<readonly [string, string | true]>;
}

/**
 * Parse a Sec-WebSocket-Extensions header (RFC 6455 9.1 grammar, as ws's extension.parse accepts
 * it: tokens, `;` between parameters, `,` between extensions, quoted values). Throws ExtensionError
 * on a malformed header.
 */
export function parseExtensions(header: string): ExtensionOffer[] {
  const offers: ExtensionOffer[] = [];
  // Split respecting quoted strings.
  const items: string[][] = [[]];
  let current = '';
  let quoted = false;
  for (let i = 0; i < header.length; i++) {
    const char = header[i]!;
    if (quoted) {
      if (char === '\\') {
        current += header[++i] ?? '';
        continue;
      }
      if (char === '"') quoted = false;
      current += char;
      continue;
    }
    if (char === '"') {
      quoted = true;
      current += char;
    } else if (char === ';') {
      items[items.length - 1]!.push(current);
      current = '';
    } else if (char === ',') {
      items[items.length - 1]!.push(current);
      items.push([]);
      current = '';
    } else {
      current += char;
    }
  }
  if (quoted) throw new ExtensionError('unterminated quoted string');
  items[items.length - 1]!.push(current);
  for (const parts of items) {
    const name = parts[0]!.trim();
    if (!isToken(name)) throw new ExtensionError(`bad extension name "${name}"`);
    const params: Array<[string, string | true]> = [];
    for (const part of parts.slice(1)) {
      const equals = part.indexOf('=');
      const key = (equals === -1 ? part : part.slice(0, equals)).trim();
      if (!isToken(key)) throw new ExtensionError(`bad parameter name "${key}"`);
      if (equals === -1) {
        params.push([key, true]);
        continue;
      }
      let value = part.slice(equals + 1).trim();
      if (value.startsWith('"')) {
        if (value.length < 2 || !value.endsWith('"')) throw new ExtensionError(`bad quoted value for ${key}`);
        value = value.slice(1, -1);
      }
      if (!isToken(value)) throw new ExtensionError(`bad value for ${key}`);
      params.push([key, value]);
    }
    offers.push({ name, params });
  }
  return offers;
}

function isToken(text: string): boolean {
  return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(text);
}

interface RawParams {
  server_no_context_takeover?: true;
  client_no_context_takeover?: true;
  server_max_window_bits?: number;
  client_max_window_bits?: number | true;
}

/** Check one permessage-deflate parameter list (section 7.1): known names, each once, valid values. */
function normalize(params: ExtensionOffer['params'], fromClient: boolean): RawParams {
  const seen = new Set<string>();
  const out: RawParams = {};
  for (const [key, value] of params) {
    if (seen.has(key)) throw new ExtensionError(`parameter ${key} given twice`);
    seen.add(key);
    switch (key) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        if (value !== true) throw new ExtensionError(`${key} takes no value`);
        out[key] = true;
        break;
      case 'server_max_window_bits':
        out.server_max_window_bits = windowBits(key, value);
        break;
      case 'client_max_window_bits':
        // A client may offer it with no value (section 7.1.2.2); a server's answer must carry one.
        if (value === true && fromClient) out.client_max_window_bits = true;
        else out.client_max_window_bits = windowBits(key, value);
        break;
      default:
        throw new ExtensionError(`unknown parameter ${key}`);
    }
  }
  return out;
}

function windowBits(key: string, value: string | true): number {
  if (value === true || !/^\d+$/.test(value)) throw new ExtensionError(`${key} needs a value of 8-15`);
  const bits = Number(value);
  if (bits < MIN_WINDOW_BITS || bits > MAX_WINDOW_BITS) throw new ExtensionError(`${key}=${value} is outside 8-15`);
  return bits;
}

/** The Sec-WebSocket-Extensions value a client sends for `offer`. */
export function offerHeader(offer: DeflateOffer): string {
  let header = EXTENSION_NAME;
  if (offer.clientNoContextTakeover) header += '; client_no_context_takeover';
  if (offer.serverNoContextTakeover) header += '; server_no_context_takeover';
  if (offer.windowBits !== undefined) header += `; server_max_window_bits=${offer.windowBits}; client_max_window_bits=${offer.windowBits}`;
  else header += '; client_max_window_bits';
  return header;
}

/**
 * The client's check of the server's answer (section 7.1): undefined when the server declined (no
 * header, or no permessage-deflate in it); the agreed parameters when it accepted; ExtensionError
 * when it answered something the client did not offer (another extension, a parameter not allowed,
 * a window larger than asked).
 */
export function acceptAnswer(header: string | undefined, offer: DeflateOffer): DeflateParams | undefined {
  if (header === undefined) return undefined;
  const extensions = parseExtensions(header);
  if (extensions.length !== 1 || extensions[0]!.name !== EXTENSION_NAME) throw new ExtensionError(`answer "${header}" names an extension not offered`);
  const raw = normalize(extensions[0]!.params, false);
  if (raw.client_no_context_takeover === undefined && offer.clientNoContextTakeover) {
    // A server may leave it out; the client then still resets, as it offered (section 7.1.1.2 lets it).
  }
  if (offer.windowBits !== undefined) {
    if (raw.server_max_window_bits === undefined || raw.server_max_window_bits > offer.windowBits) throw new ExtensionError(`server_max_window_bits missing or over the ${offer.windowBits} offered`);
    if (typeof raw.client_max_window_bits === 'number' && raw.client_max_window_bits > offer.windowBits) throw new ExtensionError(`client_max_window_bits over the ${offer.windowBits} offered`);
  }
  if (offer.serverNoContextTakeover && !raw.server_no_context_takeover) throw new ExtensionError('server_no_context_takeover was asked for and not granted');
  return {
    serverNoContextTakeover: raw.server_no_context_takeover === true,
    clientNoContextTakeover: raw.client_no_context_takeover === true || offer.clientNoContextTakeover,
    serverMaxWindowBits: raw.server_max_window_bits ?? MAX_WINDOW_BITS,
    clientMaxWindowBits: typeof raw.client_max_window_bits === 'number' ? raw.client_max_window_bits : (offer.windowBits ?? MAX_WINDOW_BITS),
  };
}

/**
 * The server's choice (section 7.1, as ws's acceptAsServer with its defaults): the first
 * permessage-deflate offer it can accept, the answer header, and the agreed parameters; undefined
 * when none was offered. Throws ExtensionError on a malformed header or an invalid offer (the
 * upgrade is then refused with 400, as ws refuses it).
 */
export function acceptOffer(header: string, policy: DeflateServerPolicy): { header: string; params: DeflateParams } | undefined {
  const offers = parseExtensions(header).filter((extension) => extension.name === EXTENSION_NAME);
  if (offers.length === 0) return undefined;
  const normalized = offers.map((offer) => ({ offer, raw: normalize(offer.params, true) }));
  const chosen = normalized[0]!;
  const answer: Array<[string, string | true]> = [];
  const raw = chosen.raw;
  const serverNoContextTakeover = raw.server_no_context_takeover === true || policy.serverNoContextTakeover;
  const clientNoContextTakeover = raw.client_no_context_takeover === true || policy.clientNoContextTakeover;
  // The answer keeps the offer's order, then adds what the policy asks (ws formats it the same way).
  for (const [key] of chosen.offer.params) {
    if (key === 'server_no_context_takeover' || key === 'client_no_context_takeover') answer.push([key, true]);
    else if (key === 'server_max_window_bits') answer.push([key, String(raw.server_max_window_bits)]);
    else if (key === 'client_max_window_bits' && typeof raw.client_max_window_bits === 'number') answer.push([key, String(raw.client_max_window_bits)]);
  }
  if (serverNoContextTakeover && !raw.server_no_context_takeover) answer.push(['server_no_context_takeover', true]);
  if (clientNoContextTakeover && !raw.client_no_context_takeover) answer.push(['client_no_context_takeover', true]);
  return {
    header: [EXTENSION_NAME, ...answer.map(([key, value]) => (value === true ? key : `${key}=${value}`))].join('; '),
    params: {
      serverNoContextTakeover,
      clientNoContextTakeover,
      serverMaxWindowBits: raw.server_max_window_bits ?? MAX_WINDOW_BITS,
      clientMaxWindowBits: typeof raw.client_max_window_bits === 'number' ? raw.client_max_window_bits : MAX_WINDOW_BITS,
    },
  };
}

/** Bytes through a codec (or several: blast sums a process's connections into its counters). */
export interface DeflateTally {
  /** Messages compressed: their bytes before, and after (the frames' payloads). */
  deflateBytesIn: number;
  deflateBytesOut: number;
  /** Compressed messages received: their bytes as they came, and inflated. */
  inflateBytesIn: number;
  inflateBytesOut: number;
}

/** Why an inflation failed, with the close code that goes with it. */
export type InflateFailure = { readonly code: 1007 | 1009; readonly reason: 'invalid-compressed-data' | 'message-too-big' };

type DeflateCallback = (compressed: Buffer) => void;
type InflateCallback = (failure: InflateFailure | undefined, message: Buffer | undefined) => void;

/**
 * How much of what was sent a compressor with context takeover looks back into: the preset
 * dictionary of each call. Any suffix of the peer's window is a valid dictionary (the peer keeps
 * at least 2^windowBits bytes), and setting one costs hashing every byte of it, per message: a
 * smaller one trades a little ratio for CPU (bench/compress-cost: figures in the README).
 */
export const DEFLATE_DICTIONARY_BYTES = 8 * 1024;

/**
 * The last `size` bytes of a direction's uncompressed messages: what a peer with context takeover
 * has in its LZ77 window. Kept in one buffer of size + size/4 bytes at most (grown as traffic comes,
 * so a connection that sent little holds little), the newest bytes at the end; when they would
 * pass its end the last `size` are moved to the front, so copying costs about four bytes per byte.
 */
class History {
  #buffer: Buffer | undefined;
  #length = 0;
  readonly #capacity: number;
  constructor(readonly size: number) {
    this.#capacity = size + (size >> 2);
  }

  /** The last `size` bytes (a view: valid until the next append), undefined when none yet. */
  get window(): Buffer | undefined {
    if (this.#length === 0) return undefined;
    return this.#buffer!.subarray(Math.max(0, this.#length - this.size), this.#length);
  }

  append(data: Buffer): void {
    if (data.length === 0) return;
    if (data.length >= this.size) {
      this.#buffer ??= Buffer.allocUnsafe(this.#capacity);
      if (this.#buffer.length < this.size) this.#buffer = Buffer.allocUnsafe(this.#capacity);
      data.copy(this.#buffer, 0, data.length - this.size);
      this.#length = this.size;
      return;
    }
    const buffer = this.#buffer;
    if (buffer && this.#length + data.length <= buffer.length) {
      data.copy(buffer, this.#length);
      this.#length += data.length;
      return;
    }
    // Keep only what the window still needs of the old bytes, in front of the new ones.
    const kept = Math.min(this.#length, this.size - data.length);
    const needed = kept + data.length;
    let target = buffer;
    if (!target || target.length < this.#capacity) {
      const grown = Math.min(this.#capacity, Math.max(needed, (target?.length ?? 512) * 2));
      if (!target || grown > target.length) target = Buffer.allocUnsafe(grown);
    }
    if (kept > 0) buffer!.copy(target, 0, this.#length - kept, this.#length);
    data.copy(target, kept);
    this.#buffer = target;
    this.#length = needed;
  }
}

/**
 * One connection's compressor and decompressor. `isServer` picks which of the agreed parameters
 * govern what this end sends and what it receives. Every call is synchronous: compress() and
 * decompress() call back before they return (their callbacks are kept for callers written for
 * either), so frames leave in the order they were sent and nothing waits for a compressor on close.
 */
export class DeflateCodec {
  readonly #sendWindowBits: number;
  readonly #receiveWindowBits: number;
  /** What was sent (its last DEFLATE_DICTIONARY_BYTES), when this end keeps its context. */
  #sent: History | undefined;
  /** What was received (its last 2^windowBits bytes), when the peer keeps its context. */
  #received: History | undefined;
  #closed = false;
  constructor(
    readonly params: DeflateParams,
    isServer: boolean,
    readonly maxPayloadBytes: number,
    /** Where the bytes in and out are added up (its own unless given). */
    readonly tally: DeflateTally = { deflateBytesIn: 0, deflateBytesOut: 0, inflateBytesIn: 0, inflateBytesOut: 0 },
  ) {
    const sendNoContext = isServer ? params.serverNoContextTakeover : params.clientNoContextTakeover;
    const receiveNoContext = isServer ? params.clientNoContextTakeover : params.serverNoContextTakeover;
    // zlib compresses with 9 when asked for 8 (as ws's, through Node); 9 also inflates what 8 made.
    this.#sendWindowBits = Math.max(isServer ? params.serverMaxWindowBits : params.clientMaxWindowBits, 9);
    this.#receiveWindowBits = Math.max(isServer ? params.clientMaxWindowBits : params.serverMaxWindowBits, 9);
    if (!sendNoContext) this.#sent = new History(Math.min(DEFLATE_DICTIONARY_BYTES, 1 << this.#sendWindowBits));
    if (!receiveNoContext) this.#received = new History(1 << this.#receiveWindowBits);
  }

  /** Does compress() call back before it returns? Always: its input need not be a copy. */
  get compressesAtOnce(): boolean {
    return true;
  }

  /** Compress one whole message; `callback` gets the payload of its first (RSV1) frame, at once. */
  compress(data: Buffer, callback: DeflateCallback): void {
    const compressed = this.deflate(data);
    if (compressed) callback(compressed);
  }

  /** Compress one whole message: the payload of its first (RSV1) frame; undefined once closed. */
  deflate(data: Buffer): Buffer | undefined {
    if (this.#closed) return undefined;
    const history = this.#sent;
    const compressed = stripTrailer(
      deflateRawSync(data, {
        windowBits: this.#sendWindowBits,
        memLevel: 8,
        level: constants.Z_DEFAULT_COMPRESSION,
        finishFlush: constants.Z_SYNC_FLUSH,
        // The context a peer with takeover keeps: the bytes sent before (see the module comment).
        dictionary: history?.window,
      }),
    );
    history?.append(data);
    this.tally.deflateBytesIn += data.length;
    this.tally.deflateBytesOut += compressed.length;
    return compressed;
  }

  /**
   * Inflate one whole message (its frames' payloads joined). `callback` gets the message, or the
   * failure (1009 past maxPayloadBytes, 1007 for data zlib refuses), before this returns.
   */
  decompress(data: Buffer, callback: InflateCallback): void {
    if (this.#closed) return;
    const result = this.inflate(data);
    if (Buffer.isBuffer(result)) callback(undefined, result);
    else callback(result, undefined);
  }

  /**
   * Inflate one whole message in one synchronous call that stops at maxPayloadBytes of output
   * (so a zip bomb costs at most that much), on the window of what came before when the peer
   * keeps its context. After a failure the connection is being failed: the window is not updated.
   */
  inflate(data: Buffer): Buffer | InflateFailure {
    this.tally.inflateBytesIn += data.length;
    const history = this.#received;
    let message: Buffer;
    try {
      message = inflateRawSync(Buffer.concat([data, TRAILER]), {
        windowBits: this.#receiveWindowBits,
        finishFlush: constants.Z_SYNC_FLUSH,
        maxOutputLength: this.maxPayloadBytes,
        dictionary: history?.window,
      });
    } catch (error) {
      const tooBig = (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
      return tooBig ? { code: 1009, reason: 'message-too-big' } : { code: 1007, reason: 'invalid-compressed-data' };
    }
    history?.append(message);
    this.tally.inflateBytesOut += message.length;
    return message;
  }

  /** The connection closed: drop both windows; nothing more is compressed. */
  close(): void {
    this.#closed = true;
    this.#sent = this.#received = undefined;
  }
}

/** Section 7.2.1: a sync flush ends with 00 00 ff ff, which the frame leaves out. */
function stripTrailer(compressed: Buffer): Buffer {
  const end = compressed.length - 4;
  return end >= 0 && compressed[end] === 0 && compressed[end + 1] === 0 && compressed[end + 2] === 0xff && compressed[end + 3] === 0xff ? compressed.subarray(0, end) : compressed;
}
