/**
 * Message templates (--message, --subscribe, a scenario's send): text with placeholders, compiled
 * once into literal parts and placeholder codes, so building a message is a loop over parts with no
 * parsing of the text per message.
 *
 *   {{seq}}        this connection's message number, from 1
 *   {{conn}}       the connection's number in the whole run, from 0 (unique over client processes)
 *   {{worker}}     the client process's number, from 0
 *   {{now_us}}     the host's monotonic clock in µs (CLOCK_MONOTONIC, shared by every process on
 *                  the host; strictly increasing within a process), for latency carried in the payload
 *   {{uuid}}       a random UUID (v4)
 *   {{random:N}}   N random bytes, base64 (1 <= N <= 65536)
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
}

type Part = string | { code: Code; bytes: number };

/** Where a message comes from: its connection's numbers. */
export interface TemplateContext {
  /** This connection's message number, from 1. */
  readonly seq: number;
  readonly conn: number;
  readonly worker: number;
}

export const PLACEHOLDERS = ['seq', 'conn', 'worker', 'now_us', 'uuid', 'random:N'] as const;
const PLACEHOLDER = /\{\{\s*([a-z_]+)(?::(\d+))?\s*\}\}/g;
const MAX_RANDOM_BYTES = 65_536;

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
  readonly #parts: readonly Part[];

  constructor(source: string, option: string) {
    this.source = source;
    const parts: Part[] = [];
    let at = 0;
    for (const match of source.matchAll(PLACEHOLDER)) {
      if (match.index! > at) parts.push(source.slice(at, match.index));
      parts.push(placeholder(match[1]!, match[2], option, match[0]));
      at = match.index! + match[0].length;
    }
    if (at < source.length) parts.push(source.slice(at));
    const stray = source.replace(PLACEHOLDER, '').match(/\{\{[^}]*\}\}/);
    if (stray) throw new ConfigError(option, stray[0], `expected one of the placeholders {{${PLACEHOLDERS.join('}}, {{')}}}`);
    this.#parts = parts;
    this.constant = parts.every((part) => typeof part === 'string') ? Buffer.from(source) : undefined;
    const first = parts.findIndex((part) => typeof part !== 'string' && part.code === Code.nowUs);
    this.carriesTimestamp = first !== -1;
    if (first === -1) this.timestampAnchor = undefined;
    else {
      const before = first > 0 && typeof parts[first - 1] === 'string' ? (parts[first - 1] as string) : '';
      this.timestampAnchor = before.slice(-32);
    }
  }

  /** The message for this context, as the bytes to send. */
  render(context: TemplateContext): Buffer {
    if (this.constant) return this.constant;
    let text = '';
    for (const part of this.#parts) {
      if (typeof part === 'string') {
        text += part;
        continue;
      }
      switch (part.code) {
        case Code.seq:
          text += context.seq;
          break;
        case Code.conn:
          text += context.conn;
          break;
        case Code.worker:
          text += context.worker;
          break;
        case Code.nowUs:
          text += monotonicUs();
          break;
        case Code.uuid:
          text += randomUUID();
          break;
        case Code.random:
          text += randomBase64(part.bytes);
          break;
      }
    }
    return Buffer.from(text);
  }
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
export function findTimestampUs(message: Buffer, anchor: string): number | undefined {
  let at = 0;
  if (anchor !== '') {
    const found = message.indexOf(anchor);
    if (found === -1) return undefined;
    at = found + Buffer.byteLength(anchor);
  }
  let value = 0;
  let digits = 0;
  for (; at < message.length && digits < 17; at++, digits++) {
    const byte = message[at]!;
    if (byte < 0x30 || byte > 0x39) break;
    value = value * 10 + (byte - 0x30);
  }
  return digits === 0 ? undefined : value;
}
