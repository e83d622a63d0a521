/**
 * Exact work split: `total` over `parts` shares that add up to the total, the remainder spread one
 * each over the first shares (never dropped, unlike a plain floor division).
 */
export function splitExact(total: number, parts: number): number[] {
  if (!Number.isInteger(total) || total < 0) throw new RangeError(`total must be a non-negative integer, got ${total}`);
  if (!Number.isInteger(parts) || parts < 1) throw new RangeError(`parts must be a positive integer, got ${parts}`);
  const base = Math.floor(total / parts);
  const remainder = total - base * parts;
  return Array.from({ length: parts }, (_, index) => base + (index < remainder ? 1 : 0));
}

/** Split a real-valued rate (per second) into shares that add up to it. */
export function splitRate(total: number, parts: number): number[] {
  const share = total / parts;
  const shares = Array.from({ length: parts }, () => share);
  shares[parts - 1] = total - share * (parts - 1);
  return shares;
}
