/**
 * The fast paths that rest on internals (Node's, or a library's), and which of them this process
 * runs.
 *
 * Each fast path is off until a self-test at its first use proves that it behaves here: a loopback
 * round of real bytes through it, compared byte for byte (see proveHandleIo in blast/handle-io.ts
 * and proveSharedReads in serve/server-connection.ts). A check of an internal's *shape* is not
 * enough: on Node 26 every shape serve and blast looked for was still there while the behaviour
 * under it had changed, and serve lost frames. Where a self-test fails, or the internal is missing,
 * or WSBENCH_PORTABLE turns it off, the portable path (public APIs only) runs, and the result, serve's
 * /healthz and the summary say so.
 *
 * WSBENCH_PORTABLE=all (or 1) turns every fast path off; a comma-separated list of names turns
 * those off. The test suite uses it to keep the portable path tested on every Node.
 */

export const FAST_PATH_NAMES = ['directWrites', 'directReads', 'sharedReads', 'histogramIndex'] as const;
export type FastPathName = (typeof FAST_PATH_NAMES)[number];

/** What each fast path replaces, for the README and the summary. */
export const FAST_PATH_TEXT: Readonly<Record<FastPathName, string>> = {
  directWrites: "blast writes frames to the socket's libuv handle (process.binding('stream_wrap'), handle.writeBuffer)",
  directReads: "blast takes reads at the handle's onread, past net's onStreamRead",
  sharedReads: "serve switches accepted sockets to one shared read buffer (net's private onread fields, handle.useUserBuffer)",
  histogramIndex: "latency is recorded through hdr-histogram-js's bucket internals instead of recordValue",
};

/** One fast path's verdict: on, or off and why. */
export interface FastPathVerdict {
  readonly on: boolean;
  readonly why?: string;
}

export type FastPathVerdicts = Partial<Record<FastPathName, FastPathVerdict>>;

/** What a result or /healthz says of the runtime. */
export interface RuntimeReport {
  readonly node: string;
  /** Each fast path this side uses: true when it ran, false when the portable path ran. */
  readonly fastPaths: Partial<Record<FastPathName, boolean>>;
  /** For each fast path that is off: why. */
  readonly portableBecause?: Partial<Record<FastPathName, string>>;
}

/** Why `name` is turned off by WSBENCH_PORTABLE, or undefined when it is not. */
export function forcedOff(name: FastPathName, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env.WSBENCH_PORTABLE?.trim();
  if (!value || value === '0') return undefined;
  if (value === 'all' || value === '1') return `WSBENCH_PORTABLE=${value}`;
  return value.split(',').some((part) => part.trim() === name) ? `WSBENCH_PORTABLE=${value}` : undefined;
}

export function on(): FastPathVerdict {
  return { on: true };
}
export function off(why: string): FastPathVerdict {
  return { on: false, why };
}

/**
 * One report from the verdicts of one or more processes: a fast path counts as on only where it was
 * on in every process that reported it.
 */
export function runtimeReport(verdicts: readonly FastPathVerdicts[], node = process.version): RuntimeReport {
  const fastPaths: Partial<Record<FastPathName, boolean>> = {};
  const portableBecause: Partial<Record<FastPathName, string>> = {};
  for (const name of FAST_PATH_NAMES) {
    for (const set of verdicts) {
      const verdict = set[name];
      if (!verdict) continue;
      fastPaths[name] = (fastPaths[name] ?? true) && verdict.on;
      if (!verdict.on && portableBecause[name] === undefined) portableBecause[name] = verdict.why ?? 'off';
    }
  }
  return Object.keys(portableBecause).length > 0 ? { node, fastPaths, portableBecause } : { node, fastPaths };
}

/** A line for the summary when any fast path is off; undefined when all ran. */
export function portableLine(report: RuntimeReport | undefined): string | undefined {
  if (!report?.portableBecause) return undefined;
  const parts = Object.entries(report.portableBecause).map(([name, why]) => `${name} (${why})`);
  return `Node ${report.node}: the portable path ran for ${parts.join('; ')}`;
}

/** For the self-tests: poll `check` every few ms until it holds (true) or `timeoutMs` passes (false). */
export async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) return false;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return true;
}

/** Reports of several runs (merged shards) as one: each Node named once, a path on only where on in all. */
export function mergeRuntimeReports(reports: readonly (RuntimeReport | undefined)[]): RuntimeReport | undefined {
  const known = reports.filter((report): report is RuntimeReport => report !== undefined);
  if (known.length === 0) return undefined;
  const verdicts: FastPathVerdicts[] = known.map((report) => {
    const set: FastPathVerdicts = {};
    for (const [name, ran] of Object.entries(report.fastPaths) as [FastPathName, boolean][]) {
      set[name] = ran ? on() : off(report.portableBecause?.[name] ?? 'off');
    }
    return set;
  });
  return runtimeReport(verdicts, [...new Set(known.map((report) => report.node))].join(', '));
}
