/** Number formatting for humans. Values are stored raw (µs, bytes) and scaled only here. */

export function formatCount(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Microseconds as milliseconds with two decimals, as wrk2 and autocannon print them. */
export function formatMs(microseconds: number): string {
  return (microseconds / 1000).toFixed(2);
}

/** A duration in ms as seconds with one decimal (`2.0 s`), or a dash when there was none. */
export function formatSeconds(ms: number | null): string {
  return ms === null ? '–' : `${(ms / 1000).toFixed(1)} s`;
}
