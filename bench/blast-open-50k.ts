/**
 * blast-open-50k: how long `wsbench blast -c 50000` takes to open all 50,000 connections against
 * `wsbench serve --max 50000` on this machine. Target: under 30 s. The ramp is measured from the
 * server side (fifty-k.ts); the blast result's durationMs − hold is recorded as an upper bound.
 */
import type { Benchmark } from './benchmark.js';
import { FIFTY_K, fiftyKRuns, type FiftyKRun } from './fifty-k.js';
import { median, round, table, verdict } from './lib.js';

const HOLD_SECONDS = 2;
const TARGET_MS = 30_000;

export const blastOpen50k: Benchmark = {
  name: 'blast-open-50k',
  description: `time for wsbench blast to open ${FIFTY_K.toLocaleString('en-US')} connections (target < 30 s)`,
  async run() {
    const runs = await fiftyKRuns(HOLD_SECONDS);
    const of = (key: keyof FiftyKRun) => median(runs.map((r) => r[key] as number));
    const ramp = of('rampMs');
    const met = runs.every((r) => r.accepted === FIFTY_K) && ramp < TARGET_MS;
    const figures = {
      rampMsMedian: ramp,
      resultMinusHoldMsMedian: of('resultMinusHoldMs'),
      acceptedMedian: of('accepted'),
      failedMedian: of('failed'),
      clientProcesses: runs[0]?.clientProcesses,
      clientRssAtPeakBytesMedian: of('clientRssAtPeakBytes'),
      connectP50MsMedian: of('connectP50Ms'),
      connectP99MsMedian: of('connectP99Ms'),
      connectMaxMsMedian: of('connectMaxMs'),
      clientCpuPercentDuringRamp: runs.map((r) => r.clientCpuPercentDuringRamp),
      serverCpuPercentDuringRamp: runs.map((r) => r.serverCpuPercentDuringRamp),
      generatorCpuPercent: runs.map((r) => r.generatorCpuPercent),
      generatorLoopDelayP99Ms: runs.map((r) => r.generatorLoopDelayP99Ms),
      target: 'all 50,000 open in < 30 s',
      met,
    };
    const text =
      table(
        ['run', 'ramp ms', 'result−hold ms', 'accepted', 'failed', 'connect p50 ms', 'p99 ms', 'client RSS MB'],
        [
          ...runs.map((r) => [`#${r.repeat + 1}`, r.rampMs, r.resultMinusHoldMs, r.accepted, r.failed, r.connectP50Ms, r.connectP99Ms, round(r.clientRssAtPeakBytes / 1048576, 1)] as (string | number)[]),
          ['median', ramp, of('resultMinusHoldMs'), of('accepted'), of('failed'), of('connectP50Ms'), of('connectP99Ms'), round(of('clientRssAtPeakBytes') / 1048576, 1)],
        ],
      ) + `median ramp ${round(ramp / 1000, 2)} s (target < 30 s: ${verdict(met)})\n` +
      `CPU % during the ramp, blast (coordinator, workers…): ${runs.map((r) => r.clientCpuPercentDuringRamp.join('/')).join('  ')}; ` +
      `serve (primary, workers…): ${runs.map((r) => r.serverCpuPercentDuringRamp.join('/')).join('  ')}\n`;
    return { figures, runs, commands: runs[0]?.commands ?? [], table: text };
  },
};
