/**
 * Blast progress on stderr: cli-progress bars on a TTY (connections during the ramp, then the run's
 * elapsed time with live counts), a plain line every 5 s elsewhere (CI logs).
 */
import { createRequire } from 'node:module';
import type { BlastProgress } from '../blast/coordinator.js';
import { sum } from '../metrics/blast-counters.js';
import { formatCount } from '../report/format.js';
import type { CliIo } from './io.js';

const PLAIN_INTERVAL_MS = 5000;

export interface ProgressView {
  update(progress: BlastProgress): void;
  stop(): void;
}

export function createProgress(io: CliIo, connections: number, durationMs: number): ProgressView {
  let lastMessages = 0;
  let lastAt = 0;
  let rate = 0;
  const measure = (p: BlastProgress) => {
    if (p.elapsedMs - lastAt >= 1000) {
      rate = ((p.counters.messagesReceived - lastMessages) * 1000) / (p.elapsedMs - lastAt);
      lastMessages = p.counters.messagesReceived;
      lastAt = p.elapsedMs;
    }
  };
  const counts = (p: BlastProgress) =>
    `accepted ${formatCount(p.counters.accepted)}  rejected ${formatCount(sum(p.counters.rejected))}  ` +
    `failed ${formatCount(sum(p.counters.failed))}  dropped ${formatCount(sum(p.counters.dropped))}  ` +
    `${formatCount(rate)} msg/s`;

  if (!io.stderrIsTTY) {
    let lastPrinted = 0;
    return {
      update(p) {
        measure(p);
        if (p.elapsedMs - lastPrinted < PLAIN_INTERVAL_MS && p.phase !== 'closing') return;
        lastPrinted = p.elapsedMs;
        const where = p.phase === 'ramp' ? `ramp ${formatCount(p.counters.attempted)}/${formatCount(connections)}` : `${p.phase} ${(p.runElapsedMs / 1000).toFixed(0)}s/${(durationMs / 1000).toFixed(0)}s`;
        io.stderr.write(`[${(p.elapsedMs / 1000).toFixed(0)}s] ${where}  ${counts(p)}\n`);
      },
      stop() {},
    };
  }

  // cli-progress is loaded only here, where a bar is drawn (a terminal): it takes ~20 ms to load.
  const { SingleBar } = createRequire(import.meta.url)('cli-progress') as typeof import('cli-progress');
  const bar = new SingleBar(
    { stream: io.stderr as NodeJS.WriteStream, hideCursor: true, clearOnComplete: false, format: '{label} [{bar}] {value}/{total} {detail}' },
  );
  let phase: BlastProgress['phase'] | undefined;
  let stopped = false;
  return {
    update(p) {
      if (stopped) return;
      measure(p);
      if (p.phase !== phase) {
        if (phase) bar.stop();
        phase = p.phase;
        if (p.phase === 'ramp') bar.start(connections, 0, { label: 'connecting', detail: '' });
        else if (p.phase === 'run') bar.start(Math.round(durationMs / 1000), 0, { label: 'running  ', detail: '' });
        else return;
      }
      if (p.phase === 'ramp') bar.update(p.counters.attempted, { detail: counts(p) });
      else if (p.phase === 'run') bar.update(Math.min(Math.round(p.runElapsedMs / 1000), Math.round(durationMs / 1000)), { detail: counts(p) });
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (phase) bar.stop();
    },
  };
}
