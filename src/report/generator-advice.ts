/**
 * What a blast result says about wsbench itself, in sentences: when a client process was busy enough
 * to set the numbers, when failures were the generator's own limits, when a client process was lost.
 * A pure function of the result; the result itself carries only the figures.
 */
import { GENERATOR_LIMIT_REASONS } from '../metrics/blast-counters.js';
import type { BlastResult } from '../metrics/blast-result.js';
import { formatCount } from './format.js';

export function generatorWarnings(result: BlastResult): string[] {
  const warnings: string[] = [];
  for (const index of result.missingClientProcesses) {
    const connections = result.plan.connectionsPerWorker[index] ?? 0;
    warnings.push(`client process ${index} exited before reporting; its ${formatCount(connections)} connections are missing from the result`);
  }
  for (const w of result.generator.workers.filter((worker) => worker.busy)) {
    warnings.push(
      `client process ${w.index} ran at ${w.cpuPercent}% CPU with event-loop delay p99 ${w.eventLoopDelayP99Ms} ms ` +
        `while ${w.phase === 'run' ? 'running traffic' : 'opening connections'}: ` +
        'wsbench itself may be the bottleneck; add --workers or lower the load',
    );
  }
  for (const [reason, count] of Object.entries(result.outcomes.failed.byReason)) {
    const limit = GENERATOR_LIMIT_REASONS[reason];
    if (limit) warnings.push(`${formatCount(count)} connections failed with ${reason}: ${limit}, a limit of the generator, not the server`);
  }
  if (result.messages.mismatched > 0) warnings.push(`${formatCount(result.messages.mismatched)} messages received were not the echo of what was outstanding (pushes, or changed bytes): none of them was timed or counted as received`);
  return warnings;
}

/** Next to the ETIMEDOUT count: how many of those the client's own stalls may explain. */
export function stalledTimeoutsNote(result: BlastResult): string | undefined {
  const stalled = result.outcomes.failed.timeoutsWhileClientStalled;
  if (!stalled) return undefined;
  return (
    `${formatCount(stalled)} of the ETIMEDOUT failures happened while this client process was itself stalled ` +
    `(its event loop late by 10% of --connect-timeout or more): wsbench, not the server, may explain them`
  );
}
