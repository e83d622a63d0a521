/**
 * Field validators shared by every config. Each takes the user-facing option name, so that every
 * error names the option, the value and what is allowed. Values may arrive as strings (from the CLI)
 * or as numbers (from the API); both go through the same checks.
 */
import { ConfigError } from './errors.js';
import { parseCount, parseDurationMs, parseSizeBytes } from './units.js';

type Raw = string | number | undefined;

function toNumber(value: string | number, parse: (text: string) => number): number {
  return typeof value === 'number' ? value : parse(value);
}

export function integer(option: string, value: Raw, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  const parsed = toNumber(value, parseCount);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
    throw new ConfigError(option, value, `expected ${range} (suffixes k and m allowed)`);
  }
  return parsed;
}

/** Node's timers hold at most 2^31-1 ms (24.8 days); a longer one fires at once. */
const MAX_DURATION_MS = 2 ** 31 - 1;

export function durationMs(option: string, value: Raw, fallback: number, minMs: number): number {
  if (value === undefined) return fallback;
  const parsed = toNumber(value, parseDurationMs);
  if (!Number.isFinite(parsed) || parsed < minMs || parsed > MAX_DURATION_MS) {
    throw new ConfigError(option, value, `expected a duration from ${minMs}ms to 24d such as 500ms, 5s or 2m (a bare number is seconds)`);
  }
  return Math.round(parsed);
}

export function sizeBytes(option: string, value: Raw, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const parsed = toNumber(value, parseSizeBytes);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new ConfigError(option, value, `expected a size from ${min} to ${max} bytes such as 64, 4kb or 1mb`);
  }
  return parsed;
}

export function rate(option: string, value: Raw, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = toNumber(value, parseCount);
  if (!Number.isFinite(parsed) || parsed < 0) {
    throw new ConfigError(option, value, 'expected a rate >= 0 per second such as 10, 0.5 or 2k');
  }
  return parsed;
}

export function oneOf<T extends string>(option: string, value: string | undefined, fallback: T, allowed: readonly T[]): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(option, value, `expected one of ${allowed.join(', ')}`);
  }
  return value as T;
}

export function urlPath(option: string, value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  if (!value.startsWith('/') || /\s/.test(value)) {
    throw new ConfigError(option, value, 'expected a path that starts with / and has no spaces');
  }
  return value;
}

export function host(option: string, value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  if (value.length === 0 || /[\s/]/.test(value)) {
    throw new ConfigError(option, value, 'expected a host name or IP address such as 127.0.0.1 or ::1');
  }
  return value;
}
