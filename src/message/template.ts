/**
 * Message templates (--message, --subscribe, a scenario's send): text with placeholders, compiled
 * once into literal parts and placeholder codes, so building a message is a loop over parts with no
 * parsing of the text per message.
 *
 *   {{seq}}        this connection's message number, from 1
 *   {{conn}}       the connection's number in the whole run, from 0 (unique over client processes)
 *   {{worker}}     the client process's number, from 0
 *   {{now_us}}     the host's monotonic clock in µs (CLOCK_MONOTONIC, shared by every process on
 *                  the host; strictly increasing within a process, except that a flood's burst,
 *                  written at once, carries one value), for latency carried in the payload
 *   {{uuid}}       a random UUID (v4)
 *   {{random:N}}   N random bytes, base64 (1 <= N <= 65536)
 *   {{data.FIELD}} the connection's row of --data (data/data-file.ts): the same for every message of
 *                  the connection; compiled with the process's DataLayout, which says where in a row
 *                  the field is and how long its longest value is (maxBytes stays exact)
 */
import { randomFillSync, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ConfigError } from '../config/errors.js';

const enum Code {
  seq,
  conn,
  worker,
  nowUs,
  uuid,
  random,
  /** A field of the connection's --data row. */
  data,
  /** Literal text (compiled parts only). */
  literal,
}

/** `bytes`: {{random:N}}'s N; a data field's longest value in bytes. `column`: a data field's place in a row (-1: no --data). */
type Part = string | { code: Code; bytes: number; column?: number };
/** A part ready to write, all of one shape: literal text as its UTF-8 bytes. */
interface CompiledPart {
  readonly code: Code;
  readonly bytes: number;
  readonly literal: Buffer | undefined;
  readonly column: number;
}

/** Where a client process's rows carry each data field, and its longest value (UTF-8 bytes). */
export interface DataLayout {
  readonly fields: readonly string[];
  readonly maxBytes: readonly number[];
}

/** Where a message comes from: its connection's numbers. */
export interface TemplateContext {
  /** This connection's message number, from 1. */
  readonly seq: number;
  readonly conn: number;
  readonly worker: number;
  /** The connection's --data row (the values of DataLayout.fields); undefined without --data. */
  readonly data?: readonly string[] | undefined;
}

export const PLACEHOLDERS = ['seq', 'conn', 'worker', 'now_us', 'uuid', 'random:N', 'data.FIELD'] as const;
const PLACEHOLDER = /\{\{\s*(?:data\.([A-Za-z0-9_-]+)|([a-z_]+)(?::(\d+))?)\s*\}\}/g;
const MAX_RANDOM_BYTES = 65_536;
/** Digits of the largest safe integer: no {{seq}}, {{conn}}, {{worker}} or {{now_us}} is longer. */
const MAX_NUMBER_DIGITS = 16;
const UUID_CHARACTERS = 36;
/** Literal parts up to this long are copied byte by byte: cheaper than a copy call (measured). */
const SHORT_LITERAL_BYTES = 12;

export class MessageTemplate {
  /** The template's text, as given. */
  readonly source: string;
  /** The whole message when it has no placeholders: built once, sent as is. */
  readonly constant: Buffer | undefined;
  /** True when the message carries {{now_us}}: a receiver can time it. */
  readonly carriesTimestamp: boolean;
  /**
   * The literal text just before the first {{now_us}} (up to 32 characters): a receiver finds the
   * timestamp in a message by this anchor, even when a server wraps the message in its own. Empty
   * when {{now_us}} opens the template (then the message must start with it).
   */
  readonly timestampAnchor: string | undefined;
  /**
   * Where {{now_us}} begins in every rendered message, in bytes, when only literal text comes before
   * it (as in the default flood and publisher messages); undefined otherwise.
   */
  readonly timestampOffset: number | undefined;
  /** No rendered message is longer than this many bytes. */
  readonly maxBytes: number;
  readonly #parts: readonly CompiledPart[];
  readonly #anchorBytes: Buffer | undefined;
  #lastNowUs = -1;
  #lastNowUsLength = 0;
  readonly #nowUsDigits = Buffer.alloc(MAX_NUMBER_DIGITS);

  /**
   * `data`: this process's layout of --data rows. Without it (checking a template before the run) a
   * {{data.FIELD}} renders as nothing.
   */
  constructor(source: string, option: string, data?: DataLayout) {
    this.source = source;
    const parts: Part[] = [];
    let at = 0;
    for (const match of source.matchAll(PLACEHOLDER)) {
      if (match.index! > at) parts.push(source.slice(at, match.index));
      parts.push(match[1] !== undefined ? dataPart(match[1], data, option, match[0]) : placeholder(match[2]!, match[3], option, match[0]));
      at = match.index! + match[0].length;
    }
    if (at < source.length) parts.push(source.slice(at));
    const stray = source.replace(PLACEHOLDER, '').match(/\{\{[^}]*\}\}/);
    if (stray) throw new ConfigError(option, stray[0], `expected one of the placeholders {{${PLACEHOLDERS.join('}}, {{')}}}`);
    this.#parts = parts.map((part) => (typeof part === 'string' ? { code: Code.literal, bytes: 0, literal: Buffer.from(part), column: -1 } : { column: -1, ...part, literal: undefined }));
    this.maxBytes = this.#parts.reduce((total, part) => total + maxPartBytes(part), 0);
    this.constant = parts.every((part) => typeof part === 'string') ? Buffer.from(source) : undefined;
    const first = parts.findIndex((part) => typeof part !== 'string' && part.code === Code.nowUs);
    this.carriesTimestamp = first !== -1;
    if (first === -1) {
      this.timestampAnchor = undefined;
      this.timestampOffset = undefined;
    } else {
      const before = first > 0 && typeof parts[first - 1] === 'string' ? (parts[first - 1] as string) : '';
      this.timestampAnchor = before.slice(-32);
      this.#anchorBytes = Buffer.from(this.timestampAnchor);
      const leading = this.#parts.slice(0, first);
      this.timestampOffset = leading.every((part) => part.literal) ? leading.reduce((total, part) => total + part.literal!.length, 0) : undefined;
    }
  }

  /** The message for this context, as the bytes to send. */
  render(context: TemplateContext): Buffer {
    if (this.constant) return this.constant;
    if (scratch.length < this.maxBytes) scratch = Buffer.allocUnsafe(this.maxBytes);
    const length = this.writeInto(scratch, 0, context, this.carriesTimestamp ? monotonicUs() : 0);
    return Buffer.from(scratch.subarray(0, length));
  }

  /**
   * Write the message for this context into `target` at `at`, with `nowUs` as its {{now_us}};
   * returns its length. `target` needs maxBytes of room there. A sender that builds many messages
   * into one buffer (flood) uses this: no string and no Buffer per message.
   */
  writeInto(target: Buffer, at: number, context: TemplateContext, nowUs: number): number {
    const start = at;
    for (const part of this.#parts) {
      switch (part.code) {
        case Code.literal: {
          const literal = part.literal!;
          const length = literal.length;
          if (length > SHORT_LITERAL_BYTES) target.set(literal, at);
          else for (let i = 0; i < length; i++) target[at + i] = literal[i]!;
          at += length;
          break;
        }
        case Code.seq:
          at = writeDecimal(target, at, context.seq);
          break;
        case Code.conn:
          at = writeDecimal(target, at, context.conn);
          break;
        case Code.worker:
          at = writeDecimal(target, at, context.worker);
          break;
        case Code.nowUs:
          at = this.#writeNowUs(target, at, nowUs);
          break;
        case Code.uuid:
          at += target.write(randomUUID(), at, 'latin1');
          break;
        case Code.random:
          at += target.write(randomBase64(part.bytes), at, 'latin1');
          break;
        case Code.data:
          if (context.data !== undefined && part.column >= 0) at += target.write(context.data[part.column]!, at);
          break;
      }
    }
    return at - start;
  }

  /**
   * {{now_us}}: a flood writes one value into a whole burst, so its digits are kept and copied
   * (one copy instead of a dozen divisions per message).
   */
  #writeNowUs(target: Buffer, at: number, nowUs: number): number {
    if (nowUs !== this.#lastNowUs) {
      this.#lastNowUs = nowUs;
      this.#lastNowUsLength = writeDecimal(this.#nowUsDigits, 0, nowUs);
    }
    const digits = this.#nowUsDigits;
    const length = this.#lastNowUsLength;
    for (let i = 0; i < length; i++) target[at + i] = digits[i]!;
    return at + length;
  }

  /**
   * The timestamp a message carries (see findTimestampUs). When the message is laid out as this
   * template renders it, it is read where it must be, with no search.
   */
  timestampOf(message: Buffer): number | undefined {
    const anchor = this.#anchorBytes;
    if (anchor === undefined) return undefined;
    const offset = this.timestampOffset;
    if (offset !== undefined && message.length > offset) {
      const from = offset - anchor.length;
      let matches = true;
      for (let i = 0; i < anchor.length; i++) {
        if (message[from + i] !== anchor[i]) {
          matches = false;
          break;
        }
      }
      if (matches) return readDigits(message, offset);
    }
    return findTimestampUs(message, anchor);
  }
}

/** Where render() builds a message before copying it out: grown to the largest template's maxBytes. */
let scratch = Buffer.allocUnsafe(1024);

function maxPartBytes(part: CompiledPart): number {
  if (part.literal) return part.literal.length;
  if (part.code === Code.uuid) return UUID_CHARACTERS;
  if (part.code === Code.random) return 4 * Math.ceil(part.bytes / 3);
  if (part.code === Code.data) return part.bytes;
  return MAX_NUMBER_DIGITS;
}

/**
 * Write a number's decimal digits (as `${value}` would) at target[at]; returns the end. Integer
 * arithmetic on 31-bit parts: a dozen float divisions per number cost more than the rest of a message.
 */
function writeDecimal(target: Buffer, at: number, value: number): number {
  if (value >= 0 && value <= 0x7fffffff && (value | 0) === value) {
    let digits = 1;
    for (let rest = value; rest >= 10; rest = (rest / 10) | 0) digits++;
    writeDigits(target, at, digits, value);
    return at + digits;
  }
  if (!Number.isSafeInteger(value) || value < 0) return at + target.write(String(value), at, 'latin1');
  // Over 2^31: the part above the last eight digits, then those eight, zero-padded.
  const high = Math.floor(value / 1e8);
  at = writeDecimal(target, at, high);
  writeDigits(target, at, 8, value - high * 1e8);
  return at + 8;
}

/** `value` (0 <= value < 2^31) as exactly `digits` digits at target[at], zero-padded. */
function writeDigits(target: Buffer, at: number, digits: number, value: number): void {
  for (let i = at + digits - 1, rest = value; i >= at; i--) {
    const quotient = (rest / 10) | 0;
    target[i] = 0x30 + rest - quotient * 10;
    rest = quotient;
  }
}

/** {{data.FIELD}}: its place in this process's rows; refused when the rows have no such field. */
function dataPart(field: string, data: DataLayout | undefined, option: string, text: string): Part {
  if (data === undefined) return { code: Code.data, bytes: 0, column: -1 };
  const column = data.fields.indexOf(field);
  if (column === -1) throw new ConfigError(option, text, `expected a field of --data (${data.fields.join(', ')})`);
  return { code: Code.data, bytes: data.maxBytes[column]!, column };
}

function placeholder(name: string, argument: string | undefined, option: string, text: string): Part {
  const codes: Record<string, Code> = { seq: Code.seq, conn: Code.conn, worker: Code.worker, now_us: Code.nowUs, uuid: Code.uuid };
  if (name === 'random') {
    const bytes = Number(argument);
    if (argument === undefined || !Number.isInteger(bytes) || bytes < 1 || bytes > MAX_RANDOM_BYTES) {
      throw new ConfigError(option, text, `expected {{random:N}} with N from 1 to ${MAX_RANDOM_BYTES} (random bytes, base64)`);
    }
    return { code: Code.random, bytes };
  }
  const code = codes[name];
  if (code === undefined || argument !== undefined) {
    throw new ConfigError(option, text, `expected one of the placeholders {{${PLACEHOLDERS.join('}}, {{')}}}`);
  }
  return { code, bytes: 0 };
}

/**
 * performance.now() counts from this process's start on the monotonic clock; this offset, taken
 * once, puts it on the host's CLOCK_MONOTONIC (process.hrtime), which every process shares.
 */
const monotonicOffsetMs = Number(process.hrtime.bigint()) / 1e6 - performance.now();
let lastUs = 0;

/** The host's monotonic clock in whole µs, strictly increasing within this process. */
export function monotonicUs(): number {
  const now = Math.floor((performance.now() + monotonicOffsetMs) * 1000);
  lastUs = now > lastUs ? now : lastUs + 1;
  return lastUs;
}

/** The monotonic clock in µs, as a fraction (for latency: no rounding, no uniqueness bump). */
export function monotonicNowUs(): number {
  return (performance.now() + monotonicOffsetMs) * 1000;
}

const pool = Buffer.allocUnsafe(64 * 1024);
let poolAt = pool.length;

function randomBase64(bytes: number): string {
  if (bytes > pool.length) return randomFillSync(Buffer.allocUnsafe(bytes)).toString('base64');
  if (poolAt + bytes > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const text = pool.toString('base64', poolAt, poolAt + bytes);
  poolAt += bytes;
  return text;
}

/**
 * The timestamp a message carries: the digits after `anchor` (the template's text before
 * {{now_us}}), or undefined when the message has none.
 */
export function findTimestampUs(message: Buffer, anchor: string | Buffer): number | undefined {
  let at = 0;
  if (anchor.length > 0) {
    const found = message.indexOf(anchor);
    if (found === -1) return undefined;
    at = found + (typeof anchor === 'string' ? Buffer.byteLength(anchor) : anchor.length);
  }
  return readDigits(message, at);
}

/** The decimal number at message[at] (at most 17 digits), or undefined if no digit is there. */
function readDigits(message: Buffer, at: number): number | undefined {
  let value = 0;
  let digits = 0;
  for (; at < message.length && digits < 17; at++, digits++) {
    const byte = message[at]!;
    if (byte < 0x30 || byte > 0x39) break;
    value = value * 10 + (byte - 0x30);
  }
  return digits === 0 ? undefined : value;
}
