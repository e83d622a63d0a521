/**
 * serve-scale: `wsbench serve --max 50000` holding 50,000 idle connections opened by `wsbench blast
 * -c 50000 --rate 0 -d 5s`: time to reach 50,000, outcome counts, and the server's total RSS (the
 * serve process and its workers). See fifty-k.ts for how each figure is taken.
 */
import type { Benchmark } from './benchmark.js';
import { FIFTY_K, fiftyKRuns, type FiftyKRun } from './fifty-k.js';
import { median, round, table } from './lib.js';

const HOLD_SECONDS = 5;

export const serveScale: Benchmark = {
  name: 'serve-scale',
  description: `wsbench serve holding ${FIFTY_K.toLocaleString('en-US')} idle connections: ramp time, outcomes, server RSS`,
  async run() {
    const runs = await fiftyKRuns(HOLD_SECONDS);
    const of = (key: keyof FiftyKRun) => median(runs.map((r) => r[key] as number));
    const perConnection = median(runs.map((r) => (r.serverRssAtPeakBytes - r.serverRssBeforeBytes) / FIFTY_K));
    const figures = {
      rampMsMedian: of('rampMs'),
      resultMinusHoldMsMedian: of('resultMinusHoldMs'),
      acceptedMedian: of('accepted'),
      rejectedMedian: of('rejected'),
      failedMedian: of('failed'),
      serverOpenPeakMedian: of('serverOpenPeak'),
      serverProcesses: runs[0]?.serverProcesses,
      serverRssBeforeBytesMedian: of('serverRssBeforeBytes'),
      serverRssAtPeakBytesMedian: of('serverRssAtPeakBytes'),
      serverBytesPerConnectionMedian: Math.round(perConnection),
      serverCpuPercentDuringRamp: runs.map((r) => r.serverCpuPercentDuringRamp),
      allAccepted: runs.every((r) => r.accepted === FIFTY_K && r.failed === 0 && r.rejected === 0),
    };
    const text =
      table(
        ['run', 'ramp ms', 'accepted', 'rejected', 'failed', 'server procs', 'server RSS MB', 'B/conn'],
        [
          ...runs.map((r) => [`#${r.repeat + 1}`, r.rampMs, r.accepted, r.rejected, r.failed, r.serverProcesses, round(r.serverRssAtPeakBytes / 1048576, 1), Math.round((r.serverRssAtPeakBytes - r.serverRssBeforeBytes) / FIFTY_K)] as (string | number)[]),
          ['median', of('rampMs'), of('accepted'), of('rejected'), of('failed'), figures.serverProcesses ?? NaN, round(of('serverRssAtPeakBytes') / 1048576, 1), figures.serverBytesPerConnectionMedian],
        ],
      ) + `ramp = blast spawn → server counts ${FIFTY_K} accepted (±200 ms); server RSS sums the serve process and its workers\n` +
      `server CPU % during the ramp (primary, workers…): ${runs.map((r) => r.serverCpuPercentDuringRamp.join('/')).join('  ')}\n`;
    return { figures, runs, commands: runs[0]?.commands ?? [], table: text };
  },
};
