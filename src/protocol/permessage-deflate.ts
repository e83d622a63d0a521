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
 * added back before inflating (7.2.2). How a direction is compressed depends on its context:
 *
 * - With context takeover (ws's default, and blast's and serve's): a zlib stream, asynchronous,
 *   made on the first message and kept for the connection's life, as the context must be. Node's
 *   synchronous zlib calls close their stream after one call, so only a stream can keep it.
 * - Without it: one synchronous call per message on a fresh state, freed when it returns. Measured
 *   (bench/compress-cost and a loop of 1,000 codecs, 1 KB JSON): a kept stream costs ~300 KB of RSS
 *   per connection (deflate's window and hash tables at windowBits 15, memLevel 8, and inflate's
 *   window), and an asynchronous stream's deflate + inflate ~110 µs of CPU per message against
 *   ~50 µs for the synchronous pair. ws resets its streams instead and keeps their memory. The
 *   synchronous call blocks the event loop for the message's own time (bounded by maxPayload).
 *
 * Inflation stops as soon as its output passes the largest message allowed (maxPayload): a stream
 * is reset, a synchronous call stops at maxOutputLength, and the message fails with 1009, so a
 * small frame that inflates to gigabytes costs at most one zlib output chunk past the limit. Data
 * zlib cannot inflate fails with 1007.
 */
import { constants, createDeflateRaw, createInflateRaw, deflateRawSync, inflateRawSync, type DeflateRaw, type InflateRaw } from 'node:zlib';

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
 * One connection's compressor and decompressor. `isServer` picks which of the agreed parameters
 * govern what this end sends and what it receives. Messages are compressed in the order given and
 * their callbacks called in that order; one message is inflated at a time (the frame parser waits
 * for each before it reads on).
 */
export class DeflateCodec {
  #deflate: DeflateRaw | undefined;
  #inflate: InflateRaw | undefined;
  readonly #sendNoContext: boolean;
  readonly #receiveNoContext: boolean;
  readonly #sendWindowBits: number;
  readonly #receiveWindowBits: number;
  /** Messages waiting for the compressor, which takes one at a time. */
  readonly #deflateQueue: Array<{ data: Buffer; callback: DeflateCallback }> = [];
  #deflating = false;
  #deflateChunks: Buffer[] = [];
  #deflateLength = 0;
  #inflateChunks: Buffer[] = [];
  #inflateLength = 0;
  #inflateFailure: InflateFailure | undefined;
  #closed = false;
  constructor(
    readonly params: DeflateParams,
    isServer: boolean,
    readonly maxPayloadBytes: number,
    /** Where the bytes in and out are added up (its own unless given). */
    readonly tally: DeflateTally = { deflateBytesIn: 0, deflateBytesOut: 0, inflateBytesIn: 0, inflateBytesOut: 0 },
  ) {
    this.#sendNoContext = isServer ? params.serverNoContextTakeover : params.clientNoContextTakeover;
    this.#receiveNoContext = isServer ? params.clientNoContextTakeover : params.serverNoContextTakeover;
    this.#sendWindowBits = isServer ? params.serverMaxWindowBits : params.clientMaxWindowBits;
    this.#receiveWindowBits = isServer ? params.clientMaxWindowBits : params.serverMaxWindowBits;
  }

  /** Does compress() call back before it returns (no context takeover)? Then its input need not be a copy. */
  get compressesAtOnce(): boolean {
    return this.#sendNoContext;
  }

  /** Compress one whole message; `callback` gets the payload of its first (RSV1) frame. */
  compress(data: Buffer, callback: DeflateCallback): void {
    if (this.#closed) return;
    if (this.#sendNoContext) {
      // A fresh state per message: synchronous, nothing kept (see the module comment).
      const compressed = stripTrailer(deflateRawSync(data, { windowBits: this.#sendWindowBits, finishFlush: constants.Z_SYNC_FLUSH }));
      this.tally.deflateBytesIn += data.length;
      this.tally.deflateBytesOut += compressed.length;
      return callback(compressed);
    }
    this.#deflateQueue.push({ data, callback });
    if (!this.#deflating) this.#nextDeflate();
  }

  #nextDeflate(): void {
    const job = this.#deflateQueue.shift();
    if (!job || this.#closed) {
      this.#deflating = false;
      return;
    }
    this.#deflating = true;
    const deflate = (this.#deflate ??= this.#createDeflate());
    deflate.write(job.data);
    deflate.flush(constants.Z_SYNC_FLUSH, () => {
      if (this.#closed) return;
      const compressed = stripTrailer(this.#deflateChunks.length === 1 ? this.#deflateChunks[0]! : Buffer.concat(this.#deflateChunks, this.#deflateLength));
      this.#deflateChunks = [];
      this.#deflateLength = 0;
      this.tally.deflateBytesIn += job.data.length;
      this.tally.deflateBytesOut += compressed.length;
      job.callback(compressed);
      this.#nextDeflate();
    });
  }

  #createDeflate(): DeflateRaw {
    const deflate = createDeflateRaw({ windowBits: this.#sendWindowBits, memLevel: 8, level: constants.Z_DEFAULT_COMPRESSION });
    deflate.on('data', (chunk: Buffer) => {
      this.#deflateChunks.push(chunk);
      this.#deflateLength += chunk.length;
    });
    deflate.on('error', () => {});
    return deflate;
  }

  /**
   * Inflate one whole message (its frames' payloads joined). `callback` gets the message, or the
   * failure (1009 past maxPayloadBytes, 1007 for data zlib refuses); after a failure nothing more
   * is inflated (the connection is being failed), while what is being compressed still completes.
   */
  decompress(data: Buffer, callback: InflateCallback): void {
    if (this.#closed) return;
    if (this.#receiveNoContext) return this.#inflateOnce(data, callback);
    const inflate = (this.#inflate ??= this.#createInflate());
    this.#inflateFailure = undefined;
    this.#inflateCallback = callback;
    this.tally.inflateBytesIn += data.length;
    inflate.write(data);
    inflate.write(TRAILER);
    inflate.flush(() => this.#inflateDone());
  }

  /** The flush finished, or the stream errored (then no flush callback comes): answer once. */
  #inflateDone(): void {
    const callback = this.#inflateCallback;
    this.#inflateCallback = undefined;
    if (!callback || this.#closed) return;
    const failure = this.#inflateFailure;
    const chunks = this.#inflateChunks;
    const length = this.#inflateLength;
    this.#inflateChunks = [];
    this.#inflateLength = 0;
    if (failure) {
      // Only the inflating side is done for: messages being compressed still go out before the close.
      this.#inflate?.close();
      this.#inflate = undefined;
      return callback(failure, undefined);
    }
    this.tally.inflateBytesOut += length;
    callback(undefined, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length));
  }

  #createInflate(): InflateRaw {
    // zlib refuses windowBits 8 for raw inflate; 9 inflates what a window of 8 produced.
    const inflate = createInflateRaw({ windowBits: Math.max(this.#receiveWindowBits, 9) });
    inflate.on('data', (chunk: Buffer) => {
      if (this.#inflateFailure) return;
      this.#inflateLength += chunk.length;
      if (this.#inflateLength > this.maxPayloadBytes) {
        // A zip bomb: stop here, drop what came, and fail with 1009 (reported when the flush ends).
        this.#inflateFailure = { code: 1009, reason: 'message-too-big' };
        this.#inflateChunks = [];
        this.#inflateLength = 0;
        inflate.reset();
        return;
      }
      this.#inflateChunks.push(chunk);
    });
    inflate.on('error', () => {
      this.#inflateFailure ??= { code: 1007, reason: 'invalid-compressed-data' };
      this.#inflateDone();
    });
    return inflate;
  }

  #inflateCallback: InflateCallback | undefined;

  /** A message compressed on a fresh state: inflated in one synchronous call, stopped at the limit. */
  #inflateOnce(data: Buffer, callback: InflateCallback): void {
    this.tally.inflateBytesIn += data.length;
    let message: Buffer;
    try {
      message = inflateRawSync(Buffer.concat([data, TRAILER]), {
        windowBits: Math.max(this.#receiveWindowBits, 9),
        finishFlush: constants.Z_SYNC_FLUSH,
        maxOutputLength: this.maxPayloadBytes,
      });
    } catch (error) {
      const tooBig = (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
      return callback(tooBig ? { code: 1009, reason: 'message-too-big' } : { code: 1007, reason: 'invalid-compressed-data' }, undefined);
    }
    this.tally.inflateBytesOut += message.length;
    callback(undefined, message);
  }

  /** Free both zlib streams (the connection closed). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#deflate?.close();
    this.#inflate?.close();
    this.#deflate = this.#inflate = undefined;
    this.#deflateQueue.length = 0;
  }
}

/** Section 7.2.1: a sync flush ends with 00 00 ff ff, which the frame leaves out. */
function stripTrailer(compressed: Buffer): Buffer {
  const end = compressed.length - 4;
  return end >= 0 && compressed[end] === 0 && compressed[end + 1] === 0 && compressed[end + 2] === 0xff && compressed[end + 3] === 0xff ? compressed.subarray(0, end) : compressed;
}
