/**
 * churn: 10,000 connections that each live 10 s (±10%) and are replaced, for 60 s, against a serve
 * capped at exactly 10,000: `wsbench blast -c 10000 --rate 1 --lifetime 10s -d 60s` against
 * `wsbench serve --max 10000`.
 *
 * Turnover should run at -c / lifetime = 1,000 connects a second from the start of the run (the
 * ramp's connections get first lifetimes spread over one lifetime) while concurrency holds at -c.
 * The cap is exactly -c, so a replacement that arrives before serve has its old slot back (the worker
 * tells the primary over IPC after the TCP close) is refused with 503 and tried again after the
 * reconnect backoff: 503s are expected and harmless, a count above the cap is not.
 *
 * Reported per run: connects per second of the run (churn.connectsPerSecond), churned; the timeline's
 * open count in the run (min/median/max, against -c); serve's open from /healthz every ~250 ms from
 * blast's spawn to its exit (min/median/max in the run, and the max overall, which must never exceed
 * the cap); 503s as blast and serve count them; after blast exits, serve's open must reach 0 and
 * accepted == closed (every slot returned), and how long that took; blast's generator health
 * (bottleneck flag, CPU % and event-loop delay p99 per client process), and for blast's and serve's
 * processes their CPU % in the run and the share of it they spent runnable but waiting for a CPU
 * (/proc/PID/schedstat): on 2 shared cores, that says whether a "bottleneck" flag from event-loop
 * delay is blast's own work or the machine's.
 *
 * WSBENCH_CHURN_REPEATS (default 2) changes the number of runs. Unpinned, like a user would run them.
 */
import { readFileSync } from 'node:fs';
import type { ServeStats } from '../src/metrics/serve-stats.js';
import type { BlastResult } from '../src/metrics/blast-result.js';
import { decodeHistogram, summarize } from '../src/metrics/histogram.js';
import type { Benchmark } from './benchmark.js';
import {
  childrenOf, cpuUs, descendants, getJson, median, parseJsonOutput, round, sleep, startServer, startWsbench, stop, table, verdict, waitExit, waitFor,
} from './lib.js';

const CONNECTIONS = 10_000;
const LIFETIME = '10s';
const LIFETIME_S = 10;
const DURATION = '60s';
const REPEATS = Number(process.env.WSBENCH_CHURN_REPEATS ?? 2);
const TARGET_CONNECTS_PER_SECOND = CONNECTIONS / LIFETIME_S;
/** "About 1,000 a second": within 5%. */
const TARGET_TOLERANCE = 0.05;
const HEALTH_INTERVAL_MS = 250;

/** serve's /healthz, as far as this bench reads it. */
type Health = Pick<ServeStats, 'open' | 'accepted' | 'closed' | 'rejected' | 'handshakeTimeouts' | 'max'>;

interface ChurnRun {
  repeat: number;
  blastExitCode: number | null;
  endReason: string;
  rampMs: number | null;
  runMs: number | null;
  accepted: number;
  churned: number;
  connectsDuringRun: number;
  connectsPerSecond: number;
  connectRunP50Ms: number;
  connectRunP99Ms: number;
  timelineOpenInRun: { min: number; median: number; max: number; seconds: number; secondsBelow99Percent: number };
  /** Open at the end of each whole second of the run (the timeline). */
  timelineOpen: number[];
  serveOpenInRun: { min: number; median: number; max: number; samples: number };
  serveOpenMaxOverall: number;
  serveSamplesAboveCap: number;
  blastRejected: number;
  blastRejectedByStatus: Record<string, number>;
  blastFailed: number;
  blastFailedByReason: Record<string, number>;
  dropped: number;
  serve503s: number;
  serveRejected: Record<string, number>;
  serveHandshakeTimeouts: number;
  /** After blast exited: serve's counts once open reached 0 (or the wait ended), and how long it took. */
  serveAtEnd: { open: number; accepted: number; closed: number };
  slotsReturnedAfterExitMs: number;
  everySlotReturned: boolean;
  generatorBottleneck: boolean;
  generatorCpuPercent: number[];
  generatorRampCpuPercent: number[];
  generatorLoopDelayP99Ms: number[];
  serveCpuPercentInRun: number[];
  /** Processes (blast: coordinator, client processes; serve: primary, workers): % of the run spent runnable, waiting for a CPU. */
  blastCpuPercentInRun: number[];
  blastRunQueueWaitPercent: number[];
  serveRunQueueWaitPercent: number[];
  commands: string[];
}

const ms = (us: number) => round(us / 1000, 1);
const stats = (values: number[]) => ({ min: values.length ? Math.min(...values) : NaN, median: median(values), max: values.length ? Math.max(...values) : NaN });
/** Time a process's main thread has spent runnable but waiting for a CPU, ns. */
function runQueueWaitNs(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]);
  } catch {
    return NaN;
  }
}
const total503 = (rejected: Record<string, number>) => (rejected.full ?? 0) + (rejected['worker-full'] ?? 0) + (rejected['queue-timeout'] ?? 0) + (rejected['shutting-down'] ?? 0);

async function churnRun(repeat: number): Promise<ChurnRun> {
  const server = await startServer('wsbench', ['--max', String(CONNECTIONS)]);
  const health = () => getJson<Health>(`http://127.0.0.1:${server.port}/healthz`, 2000);
  try {
    await waitFor('the server workers', 15_000, () => childrenOf(server.process.pid).length > 0);
    await sleep(1000);
    const servePids = [server.process.pid, ...descendants(server.process.pid)];
    const load = startWsbench(['blast', server.url, '-c', String(CONNECTIONS), '--rate', '1', '--lifetime', LIFETIME, '--lifetime-jitter', '10%', '-d', DURATION, '--json', '--no-save']);
    try {
      let exited = false;
      void load.exited.then(() => (exited = true));
      // serve's open count from blast's spawn to its exit: [ms since spawn, open].
      const samples: [number, number][] = [];
      let serveCpuAtRun: number[] | undefined;
      let runStartedAt = NaN;
      let serveCpuAtEnd: number[] | undefined;
      let blastPids: number[] = [];
      let atRun: { blastCpu: number[]; blastWait: number[]; serveWait: number[] } | undefined;
      let atEnd: typeof atRun;
      let lastAt = NaN;
      while (!exited) {
        const at = performance.now();
        const h = await health().catch(() => undefined);
        if (h) {
          samples.push([Math.round(at - load.startedAt), h.open]);
          // The run begins when the ramp is done: serve counts every connection open for the first time.
          const reading = () => ({ blastCpu: blastPids.map((pid) => cpuUs(pid) ?? NaN), blastWait: blastPids.map(runQueueWaitNs), serveWait: servePids.map(runQueueWaitNs) });
          if (!serveCpuAtRun && h.open >= CONNECTIONS) {
            blastPids = [load.pid, ...descendants(load.pid)];
            serveCpuAtRun = servePids.map((pid) => cpuUs(pid) ?? NaN);
            atRun = reading();
            runStartedAt = performance.now();
          }
          // The last reading before blast starts closing (its run ends -d after the ramp).
          if (serveCpuAtRun && performance.now() - runStartedAt < 59_000) {
            serveCpuAtEnd = servePids.map((pid) => cpuUs(pid) ?? NaN);
            atEnd = reading();
            lastAt = performance.now();
          }
        }
        await sleep(Math.max(0, HEALTH_INTERVAL_MS - (performance.now() - at)));
      }
      const { code } = await waitExit(load, 60_000);
      const result = parseJsonOutput<BlastResult>(load);

      // Every slot back: open 0 and accepted == closed.
      const exitedAt = performance.now();
      let end = await health();
      let slotsReturnedAfterExitMs = NaN;
      try {
        await waitFor('serve open 0, accepted == closed', 15_000, async () => {
          end = await health();
          return end.open === 0 && end.accepted === end.closed;
        }, 100);
        slotsReturnedAfterExitMs = Math.round(performance.now() - exitedAt);
      } catch {
        // Reported as not returned.
      }

      // The run's samples: from the end of the ramp (blast's rampMs after its start) to its end.
      const rampEnd = (result.rampMs ?? 0) + 500;
      const runEnd = rampEnd + (result.runMs ?? 0) - 1000;
      const inRun = samples.filter(([t]) => t >= rampEnd && t <= runEnd).map(([, open]) => open);
      const timelineRun = (result.timeline ?? []).filter((entry) => entry.phase === 'run');
      // The last, partial, second is the close: leave it out.
      const timelineOpen = timelineRun.slice(0, -1).map((entry) => entry.open);
      const seconds = (lastAt - runStartedAt) / 1000;
      const percentOf = (from: number[] | undefined, to: number[] | undefined, perSecond: number) =>
        from && to && seconds > 0 ? to.map((v, i) => round((v - from[i]!) / perSecond / seconds)) : [];
      const runConnects = result.histograms.connectRun_us;
      const connectRun = runConnects ? summarize(decodeHistogram(runConnects)) : undefined;
      return {
        repeat,
        blastExitCode: code,
        endReason: result.endReason,
        rampMs: result.rampMs,
        runMs: result.runMs,
        accepted: result.outcomes.accepted,
        churned: result.churn?.churned ?? 0,
        connectsDuringRun: result.churn?.connectsDuringRun ?? 0,
        connectsPerSecond: result.churn?.connectsPerSecond ?? 0,
        connectRunP50Ms: ms(connectRun?.p50_us ?? NaN),
        connectRunP99Ms: ms(connectRun?.p99_us ?? NaN),
        timelineOpenInRun: { ...stats(timelineOpen), seconds: timelineOpen.length, secondsBelow99Percent: timelineOpen.filter((open) => open < 0.99 * CONNECTIONS).length },
        timelineOpen,
        serveOpenInRun: { ...stats(inRun), samples: inRun.length },
        serveOpenMaxOverall: Math.max(0, ...samples.map(([, open]) => open)),
        serveSamplesAboveCap: samples.filter(([, open]) => open > CONNECTIONS).length,
        blastRejected: result.outcomes.rejected.total,
        blastRejectedByStatus: result.outcomes.rejected.byStatus,
        blastFailed: result.outcomes.failed.total,
        blastFailedByReason: result.outcomes.failed.byReason,
        dropped: result.outcomes.dropped.total,
        serve503s: total503(end.rejected),
        serveRejected: Object.fromEntries(Object.entries(end.rejected).filter(([, n]) => n > 0)),
        serveHandshakeTimeouts: end.handshakeTimeouts,
        serveAtEnd: { open: end.open, accepted: end.accepted, closed: end.closed },
        slotsReturnedAfterExitMs,
        everySlotReturned: end.open === 0 && end.accepted === end.closed,
        generatorBottleneck: result.generator.bottleneck,
        generatorCpuPercent: result.generator.workers.map((w) => w.cpuPercent),
        generatorRampCpuPercent: result.generator.workers.map((w) => w.ramp.cpuPercent),
        generatorLoopDelayP99Ms: result.generator.workers.map((w) => w.eventLoopDelayP99Ms),
        serveCpuPercentInRun: percentOf(serveCpuAtRun, serveCpuAtEnd, 1e4),
        blastCpuPercentInRun: percentOf(atRun?.blastCpu, atEnd?.blastCpu, 1e4),
        blastRunQueueWaitPercent: percentOf(atRun?.blastWait, atEnd?.blastWait, 1e7),
        serveRunQueueWaitPercent: percentOf(atRun?.serveWait, atEnd?.serveWait, 1e7),
        commands: [server.process.command, load.command],
      };
    } finally {
      await stop(load, 'SIGINT', 20_000);
    }
  } finally {
    await stop(server.process, 'SIGTERM', 15_000);
  }
}

export const churn: Benchmark = {
  name: 'churn',
  description: `${CONNECTIONS.toLocaleString('en-US')} connections with --lifetime ${LIFETIME} for ${DURATION} against serve --max ${CONNECTIONS} (the cap exactly -c)`,
  async run() {
    const runs: ChurnRun[] = [];
    for (let repeat = 0; repeat < REPEATS; repeat++) {
      if (repeat > 0) await sleep(3000);
      const run = await churnRun(repeat);
      runs.push(run);
      process.stdout.write(
        `  #${repeat + 1}: ${run.connectsPerSecond} connects/s, open in the run (timeline) ${run.timelineOpenInRun.min}-${run.timelineOpenInRun.max}, ` +
          `serve open max ${run.serveOpenMaxOverall}, 503s ${run.serve503s}, slots returned ${run.everySlotReturned}, bottleneck ${run.generatorBottleneck}\n`,
      );
    }
    const m = (pick: (r: ChurnRun) => number) => median(runs.map(pick));
    const connectsPerSecond = m((r) => r.connectsPerSecond);
    const figures = {
      connections: CONNECTIONS,
      serveMax: CONNECTIONS,
      lifetime: LIFETIME,
      lifetimeJitter: '10%',
      duration: DURATION,
      repeats: REPEATS,
      targetConnectsPerSecond: TARGET_CONNECTS_PER_SECOND,
      medians: {
        connectsPerSecond,
        connectsDuringRun: m((r) => r.connectsDuringRun),
        churned: m((r) => r.churned),
        connectRunP50Ms: m((r) => r.connectRunP50Ms),
        connectRunP99Ms: m((r) => r.connectRunP99Ms),
        timelineOpenMin: m((r) => r.timelineOpenInRun.min),
        timelineOpenMedian: m((r) => r.timelineOpenInRun.median),
        timelineOpenMax: m((r) => r.timelineOpenInRun.max),
        timelineSecondsBelow99Percent: m((r) => r.timelineOpenInRun.secondsBelow99Percent),
        serveOpenMin: m((r) => r.serveOpenInRun.min),
        serveOpenMedian: m((r) => r.serveOpenInRun.median),
        serveOpenMax: m((r) => r.serveOpenMaxOverall),
        blast503s: m((r) => r.blastRejectedByStatus['503'] ?? 0),
        serve503s: m((r) => r.serve503s),
        blastFailed: m((r) => r.blastFailed),
        slotsReturnedAfterExitMs: m((r) => r.slotsReturnedAfterExitMs),
      },
      connectsPerSecondHeld: verdict(runs.every((r) => Math.abs(r.connectsPerSecond - TARGET_CONNECTS_PER_SECOND) <= TARGET_TOLERANCE * TARGET_CONNECTS_PER_SECOND)),
      serveOpenNeverAboveCap: verdict(runs.every((r) => r.serveSamplesAboveCap === 0)),
      everySlotReturned: verdict(runs.every((r) => r.everySlotReturned)),
      generatorBottleneck: runs.map((r) => r.generatorBottleneck),
    };
    const text =
      table(
        ['run', 'connects/s', 'churned', 'connect p99 ms', 'timeline open min', 'median', 'max', 'serve open min', 'median', 'max', '503s blast', '503s serve', 'failed', 'slots back', 'bottleneck', 'blast CPU %', 'waiting %', 'serve CPU %', 'waiting %'],
        runs.map((r) => [
          `#${r.repeat + 1}`, r.connectsPerSecond, r.churned, r.connectRunP99Ms, r.timelineOpenInRun.min, r.timelineOpenInRun.median, r.timelineOpenInRun.max,
          r.serveOpenInRun.min, r.serveOpenInRun.median, r.serveOpenMaxOverall, r.blastRejectedByStatus['503'] ?? 0, r.serve503s, r.blastFailed,
          r.everySlotReturned ? `yes (${r.slotsReturnedAfterExitMs} ms)` : `NO (open ${r.serveAtEnd.open})`, String(r.generatorBottleneck), r.blastCpuPercentInRun.join('/'), r.blastRunQueueWaitPercent.join('/'),
          r.serveCpuPercentInRun.join('/'), r.serveRunQueueWaitPercent.join('/'),
        ] as (string | number)[]),
      ) +
      `median ${connectsPerSecond} connects/s (target ${TARGET_CONNECTS_PER_SECOND} ±${TARGET_TOLERANCE * 100}%): ${figures.connectsPerSecondHeld}; ` +
      `serve open never above ${CONNECTIONS}: ${figures.serveOpenNeverAboveCap}; every slot returned: ${figures.everySlotReturned}\n`;
    return { figures, runs, commands: runs[0]?.commands ?? [], table: text };
  },
};
