/**
 * The capacity search of `wsbench find`, apart from how a step is run: loads grow geometrically
 * (× growth) from `from` while every step holds, up to `to`; after the first step that fails, the
 * search bisects between the last step that held and the first that failed, until they are within
 * `precision` of each other (a share of the failing load). A step the generator limited stops the
 * search: its answer is blast's limit, not the server's.
 */

export type StepVerdict = 'held' | 'failed' | 'generator-limited';

export interface SearchOptions {
  readonly from: number;
  readonly to: number;
  /** Each step's load over the last one's while every step holds: 2 doubles. */
  readonly growth: number;
  /** Stop bisecting when the failing and the holding load are within this share of the failing one. */
  readonly precision: number;
  /** Loads are whole numbers (connections), or rounded to 3 significant digits (rates). */
  readonly integer: boolean;
}

/** 'run-ended': the run ended by itself (every connection gone, a client process lost, an error): no answer. */
export type StoppedBy = 'precision' | 'upper-bound' | 'first-step-failed' | 'generator-limited' | 'interrupted' | 'run-ended';

export interface SearchOutcome {
  /** The largest load that held; null when none did. */
  readonly held: number | null;
  /** The smallest load that failed; null when none did. */
  readonly failed: number | null;
  readonly stoppedBy: StoppedBy;
  /** The load the generator limited, when it stopped the search. */
  readonly limitedAt: number | null;
}

export function roundLoad(value: number, integer: boolean): number {
  if (integer) return Math.max(1, Math.round(value));
  if (value <= 0) return value;
  const digits = Math.max(0, 2 - Math.floor(Math.log10(value)));
  return Math.round(value * 10 ** digits) / 10 ** digits;
}

/** Run the search; `judge` runs one step at a load and says how it went (undefined: interrupted). */
export async function searchCapacity(options: SearchOptions, judge: (load: number) => Promise<StepVerdict | undefined>): Promise<SearchOutcome> {
  let held: number | null = null;
  let failed: number | null = null;
  let load = roundLoad(Math.min(options.from, options.to), options.integer);
  for (;;) {
    const verdict = await judge(load);
    if (verdict === undefined) return { held, failed, stoppedBy: 'interrupted', limitedAt: null };
    if (verdict === 'generator-limited') return { held, failed, stoppedBy: 'generator-limited', limitedAt: load };
    if (verdict === 'held') held = held === null ? load : Math.max(held, load);
    else failed = failed === null ? load : Math.min(failed, load);
    if (failed === null) {
      if (load >= options.to) return { held, failed, stoppedBy: 'upper-bound', limitedAt: null };
      load = roundLoad(Math.min(options.to, load * options.growth), options.integer);
      continue;
    }
    if (held === null) return { held, failed, stoppedBy: 'first-step-failed', limitedAt: null };
    const next = roundLoad((held + failed) / 2, options.integer);
    if (failed - held <= options.precision * failed || next <= held || next >= failed) return { held, failed, stoppedBy: 'precision', limitedAt: null };
    load = next;
  }
}
