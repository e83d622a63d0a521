/**
 * Human units on input, as tcpkali and autocannon take them: counts (`50k`, `1.5m`), durations
 * (`30s`, `500ms`, `2m`; a bare number is seconds) and sizes (`64`, `4kb`, `1mb`; a bare number is
 * bytes). Each parser returns NaN for input it does not understand; the caller names the option.
 */

const countSuffix: Record<string, number> = { '': 1, k: 1e3, m: 1e6 };
const durationSuffixMs: Record<string, number> = { ms: 1, s: 1000, '': 1000, m: 60_000, h: 3_600_000 };
const sizeSuffix: Record<string, number> = { '': 1, b: 1, kb: 1024, k: 1024, mb: 1024 ** 2, m: 1024 ** 2, gb: 1024 ** 3 };

function parseWithSuffix(text: string, table: Record<string, number>): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!match) return Number.NaN;
  const scale = table[match[2]!.toLowerCase()];
  if (scale === undefined) return Number.NaN;
  return Number(match[1]) * scale;
}

/** `50k` → 50000. Not necessarily an integer; callers check. */
export function parseCount(text: string): number {
  return parseWithSuffix(text, countSuffix);
}

/** `30s` → 30000 (milliseconds). */
export function parseDurationMs(text: string): number {
  return parseWithSuffix(text, durationSuffixMs);
}

/** `1mb` → 1048576 (bytes). */
export function parseSizeBytes(text: string): number {
  return parseWithSuffix(text, sizeSuffix);
}

/** `95%` or `95` → 95 (percent). */
export function parsePercent(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(text);
  return match ? Number(match[1]) : Number.NaN;
}

export function formatDurationMs(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
