/**
 * soak (`npm run soak`, not in npm test): 10 minutes of churn at the cap. `wsbench serve --max 1000`
 * (default workers) takes rounds of `wsbench blast -c 1500 --rate 20 -d 5s`: every round fills the cap,
 * is refused 500 times, echoes, and closes everything. Every 10 s the server's RSS and open files
 * (over its processes) are sampled. Target: after a 2-minute warm-up both stay flat (under 10%
 * growth from the first sample after warm-up to the last), and no round has a failed connection.
 *
 * SOAK_MINUTES shortens or lengthens it (default 10).
 */
import { readdirSync } from 'node:fs';
import { cleanupAll, descendants, environment, parseJsonOutput, round, sleep, startServer, startWsbench, stop, treeRssBytes, verdict, waitExit, writeResult } from './lib.js';
import type { BlastResult } from '../src/metrics/blast-result.js';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 10);
const WARM_UP_MS = Math.min(120_000, (MINUTES * 60_000) / 5);
const MAX = 1000;
const SAMPLE_MS = 10_000;

function openFiles(pid: number): number {
  let total = 0;
  for (const process of [pid, ...descendants(pid)]) {
    try {
      total += readdirSync(`/proc/${process}/fd`).length;
    } catch {
      // gone
    }
  }
  return total;
}

process.on('exit', cleanupAll);
const startedAt = Date.now();
const server = await startServer('wsbench', ['--max', String(MAX)]);
const samples: { atS: number; rssBytes: number; openFiles: number }[] = [];
const rounds: { round: number; accepted: number; rejected: number; failed: number; dropped: number; mismatched: number }[] = [];
const sampler = setInterval(() => {
  samples.push({ atS: Math.round((Date.now() - startedAt) / 1000), rssBytes: treeRssBytes(server.process.pid), openFiles: openFiles(server.process.pid) });
}, SAMPLE_MS);
try {
  for (let n = 0; Date.now() - startedAt < MINUTES * 60_000; n++) {
    const load = startWsbench(['blast', server.url, '-c', String(MAX * 1.5), '--rate', '20', '-d', '5s', '--json', '--no-save']);
    const { code } = await waitExit(load, 120_000);
    if (code !== 0) throw new Error(`round ${n}: ${load.command} exited ${code}: ${load.stderr().slice(-500)}`);
    const result = parseJsonOutput<BlastResult>(load);
    rounds.push({
      round: n,
      accepted: result.outcomes.accepted,
      rejected: result.outcomes.rejected.total,
      failed: result.outcomes.failed.total,
      dropped: result.outcomes.dropped.total,
      mismatched: result.messages.mismatched,
    });
    await sleep(500);
  }
} finally {
  clearInterval(sampler);
  await stop(server.process, 'SIGTERM', 15_000);
}
const afterWarmUp = samples.filter((s) => s.atS * 1000 >= WARM_UP_MS);
const growth = (key: 'rssBytes' | 'openFiles') => {
  if (afterWarmUp.length < 2) return NaN;
  const first = afterWarmUp[0]![key];
  const last = afterWarmUp[afterWarmUp.length - 1]![key];
  return round(((last - first) / first) * 100);
};
const errors = rounds.filter((r) => r.failed > 0 || r.mismatched > 0 || r.accepted !== MAX).length;
const figures = {
  minutes: MINUTES,
  rounds: rounds.length,
  roundsWithErrors: errors,
  rssGrowthPercentAfterWarmUp: growth('rssBytes'),
  openFilesGrowthPercentAfterWarmUp: growth('openFiles'),
  rssFirstAfterWarmUpMB: afterWarmUp[0] ? round(afterWarmUp[0].rssBytes / 1048576) : NaN,
  rssLastMB: samples.length ? round(samples[samples.length - 1]!.rssBytes / 1048576) : NaN,
  target: 'RSS and open files grow < 10% after warm-up; every round: the cap accepted, 0 failed, 0 mismatched',
};
const met = errors === 0 && figures.rssGrowthPercentAfterWarmUp < 10 && figures.openFilesGrowthPercentAfterWarmUp < 10;
const path = writeResult('soak', { schemaVersion: 1, benchmark: 'soak', command: 'npm run soak', environment: environment(), figures: { ...figures, met }, samples, rounds });
process.stdout.write(
  `soak: ${rounds.length} rounds in ${MINUTES} min, ${errors} with errors; after warm-up RSS ${figures.rssGrowthPercentAfterWarmUp}% ` +
    `(${figures.rssFirstAfterWarmUpMB} → ${figures.rssLastMB} MB), open files ${figures.openFilesGrowthPercentAfterWarmUp}%: ${verdict(met)}\nresults: ${path}\n`,
);
process.exitCode = met ? 0 : 1;
