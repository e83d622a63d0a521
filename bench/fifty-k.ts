/**
 * One 50,000-connection run, shared by serve-scale (the server's view) and blast-open-50k (the
 * client's view): `wsbench serve --max 50000` and `wsbench blast -c 50000 --rate 0`, both with their
 * default worker counts and no pinning (they need both cores).
 *
 * Ramp time is measured from the server side: from spawning the blast process until the server's
 * /healthz counts 50,000 accepted, polled every 200 ms (so ±200 ms, including ~0.3 s of blast
 * start-up and worker forks). The blast result's durationMs − hold is recorded too; it is an upper
 * bound, as it also holds the close. CPU % per process over the ramp says which one set the pace
 * (blast's start-up is counted in its processes' share, so theirs are slight overestimates).
 */
import type { BlastResult } from '../src/metrics/blast-result.js';
import {
  childrenOf, cpuUs, descendants, parseJsonOutput, REPEATS, round, sleep, startServer, startWsbench, stop, treeRssBytes, waitExit, waitFor,
} from './lib.js';

export const FIFTY_K = 50_000;
const SETTLE_MS = 1000;

export interface FiftyKRun {
  /** Spawn of blast → server counts 50,000 accepted; NaN if it never did. */
  rampMs: number;
  /** durationMs from the blast JSON minus the hold: ramp + close, an upper bound on the ramp. */
  resultMinusHoldMs: number;
  blastWallMs: number;
  accepted: number;
  rejected: number;
  failed: number;
  failedByReason: Record<string, number>;
  serverOpenPeak: number;
  serverProcesses: number;
  serverRssBeforeBytes: number;
  /** Sum over the serve process and its worker children, 1 s after all were open. */
  serverRssAtPeakBytes: number;
  /** CPU % of each server process (primary first, then workers) from blast spawn to all accepted. */
  serverCpuPercentDuringRamp: number[];
  /** The same for blast: coordinator first, then its client processes. */
  clientCpuPercentDuringRamp: number[];
  clientProcesses: number;
  clientRssAtPeakBytes: number;
  connectP50Ms: number;
  connectP99Ms: number;
  connectMaxMs: number;
  generatorCpuPercent: number[];
  generatorLoopDelayP99Ms: number[];
  commands: string[];
}

export async function fiftyKRun(holdSeconds: number): Promise<FiftyKRun> {
  const server = await startServer('wsbench', ['--max', String(FIFTY_K)]);
  try {
    await waitFor('the server workers', 15_000, () => childrenOf(server.process.pid).length > 0);
    await sleep(SETTLE_MS);
    const serverRssBeforeBytes = treeRssBytes(server.process.pid);
    const serverPids = [server.process.pid, ...childrenOf(server.process.pid)];
    const serverCpuBefore = serverPids.map((pid) => cpuUs(pid) ?? NaN);
    const load = startWsbench(['blast', server.url, '-c', String(FIFTY_K), '--rate', '0', '-d', `${holdSeconds}s`, '--json', '--no-save']);
    try {
      let rampMs = NaN;
      let exited = false;
      let serverOpenPeak = 0;
      void load.exited.then(() => (exited = true));
      await waitFor(`${FIFTY_K} accepted`, 90_000, async () => {
        const counts = await server.counts();
        serverOpenPeak = Math.max(serverOpenPeak, counts.open);
        if (counts.accepted >= FIFTY_K) rampMs = performance.now() - load.startedAt;
        return !Number.isNaN(rampMs) || exited;
      }, 200);
      const rampSeconds = (performance.now() - load.startedAt) / 1000;
      const percent = (cpu: number | undefined, before: number) => round(((cpu ?? NaN) - before) / 1e4 / rampSeconds);
      const serverCpuPercentDuringRamp = serverPids.map((pid, i) => percent(cpuUs(pid), serverCpuBefore[i]!));
      const clientCpuPercentDuringRamp = [load.pid, ...childrenOf(load.pid)].map((pid) => percent(cpuUs(pid), 0));
      let serverRssAtPeakBytes = NaN;
      let clientRssAtPeakBytes = NaN;
      if (!exited) {
        await sleep(SETTLE_MS);
        serverOpenPeak = Math.max(serverOpenPeak, (await server.counts()).open);
        serverRssAtPeakBytes = treeRssBytes(server.process.pid);
        clientRssAtPeakBytes = treeRssBytes(load.pid);
      }
      const serverProcesses = 1 + descendants(server.process.pid).length;
      const clientProcesses = 1 + descendants(load.pid).length;
      const { code, wallMs } = await waitExit(load, 120_000);
      if (code !== 0) throw new Error(`${load.command} exited ${code}: ${load.stderr().slice(-500)}`);
      const result = parseJsonOutput<BlastResult>(load);
      return {
        rampMs: Math.round(rampMs),
        resultMinusHoldMs: result.durationMs - holdSeconds * 1000,
        blastWallMs: Math.round(wallMs),
        accepted: result.outcomes.accepted,
        rejected: result.outcomes.rejected.total,
        failed: result.outcomes.failed.total,
        failedByReason: result.outcomes.failed.byReason,
        serverOpenPeak,
        serverProcesses,
        serverRssBeforeBytes,
        serverRssAtPeakBytes,
        serverCpuPercentDuringRamp,
        clientCpuPercentDuringRamp,
        clientProcesses,
        clientRssAtPeakBytes,
        connectP50Ms: result.latency.connect.p50_us / 1000,
        connectP99Ms: result.latency.connect.p99_us / 1000,
        connectMaxMs: result.latency.connect.max_us / 1000,
        generatorCpuPercent: result.generator.workers.map((w) => w.cpuPercent),
        generatorLoopDelayP99Ms: result.generator.workers.map((w) => w.eventLoopDelayP99Ms),
        commands: [server.process.command, load.command],
      };
    } finally {
      await stop(load, 'SIGINT', 20_000);
    }
  } finally {
    await stop(server.process, 'SIGTERM', 15_000);
  }
}


/** REPEATS runs of fiftyKRun, with a pause between them so the previous run's sockets finish closing. */
export async function fiftyKRuns(holdSeconds: number, pauseMs = 3000): Promise<(FiftyKRun & { repeat: number })[]> {
  const runs: (FiftyKRun & { repeat: number })[] = [];
  for (let repeat = 0; repeat < REPEATS; repeat++) {
    if (repeat > 0) await sleep(pauseMs);
    runs.push({ repeat, ...(await fiftyKRun(holdSeconds)) });
  }
  return runs;
}
