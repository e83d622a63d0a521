/** What every benchmark file exports, and what run.ts does with it. */
export interface BenchmarkOutcome {
  /** The headline figures: medians, ratios, targets and verdicts. */
  readonly figures: Record<string, unknown>;
  /** Every individual measurement, so medians can be checked. */
  readonly runs: readonly unknown[];
  /** The commands the benchmark ran (one of each kind). */
  readonly commands: readonly string[];
  /** Short human summary, printed to stdout. */
  readonly table: string;
}

export interface Benchmark {
  readonly name: string;
  readonly description: string;
  run(): Promise<BenchmarkOutcome>;
}

/** Interleave the kinds so drift on a noisy machine falls on both sides: A B, B A, A B, … */
export function interleaved<T>(kinds: readonly T[], repeats: number): { repeat: number; kind: T }[] {
  const order: { repeat: number; kind: T }[] = [];
  for (let repeat = 0; repeat < repeats; repeat++) {
    const round = repeat % 2 === 0 ? kinds : [...kinds].reverse();
    for (const kind of round) order.push({ repeat, kind });
  }
  return order;
}
