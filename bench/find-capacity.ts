/**
 * find-capacity: `wsbench find` against servers whose capacity is known: `wsbench serve --max 20000`
 * (503 past the cap), and the Go reference (../shared/peers/go-echo) with `-max 15000 -delay 20ms`
 * (a handler that works 20 ms per message; 503 past its semaphore). Reported: the capacity found,
 * how far it is from the cap, the number of steps and the search's wall time. Target (issue 18):
 * serve's cap found within 5% in under 2 minutes.
 */
import type { Benchmark } from './benchmark.js';
import type { FindResult } from '../src/find/find.js';
import { goEcho, parseJsonOutput, round, startServer, startWsbench, stop, table, verdict, waitExit, type ServerKind } from './lib.js';

const STEP = '5s';

interface Case {
  readonly label: string;
  readonly kind: ServerKind;
  readonly cap: number;
  readonly serverArgs: readonly string[];
  readonly until: readonly string[];
}

const CASES: readonly Case[] = [
  { label: 'wsbench serve --max 20000', kind: 'wsbench', cap: 20_000, serverArgs: ['--max', '20000'], until: ['failed:ratio<0.001'] },
  { label: 'go-echo -max 15000 -delay 20ms', kind: 'go-echo', cap: 15_000, serverArgs: ['-max', '15000', '-delay', '20ms'], until: ['failed:ratio<0.001', 'rtt:p(99)<500ms'] },
];

export const findCapacity: Benchmark = {
  name: 'find-capacity',
  description: 'wsbench find against serve --max 20000 and go-echo -max 15000 -delay 20ms: capacity found, steps, time (target: within 5% in < 2 min)',
  async run() {
    const runs: Record<string, unknown>[] = [];
    const commands: string[] = [];
    const rows: (string | number)[][] = [];
    const figures: Record<string, unknown> = {};
    for (const c of CASES) {
      if (c.kind === 'go-echo' && goEcho().skipped) {
        rows.push([c.label, '-', '-', '-', '-', `skipped: ${goEcho().skipped}`]);
        figures[c.kind] = { skipped: goEcho().skipped };
        continue;
      }
      const server = await startServer(c.kind, c.serverArgs);
      try {
        const args = ['find', server.url, '-c', '1k..40k', ...c.until.flatMap((u) => ['--until', u]), '--step-duration', STEP, '--json', '--no-save'];
        const search = startWsbench(args);
        commands.push(server.process.command, search.command);
        const { code, wallMs } = await waitExit(search, 600_000);
        const result = parseJsonOutput<FindResult>(search);
        const found = result.capacity.count;
        const offPercent = found === null ? NaN : round(((c.cap - found) / c.cap) * 100, 2);
        const within = found !== null && found <= c.cap && offPercent <= 5;
        const run = {
          server: c.label,
          exitCode: code,
          capacity: found,
          firstFailed: result.capacity.firstFailed,
          stoppedBy: result.capacity.stoppedBy,
          cap: c.cap,
          offPercent,
          steps: result.steps.length,
          wallSeconds: round(wallMs / 1000),
          stepLoads: result.steps.map((s) => `${s.load}:${s.verdict}`),
          generatorBusySteps: result.steps.filter((s) => s.generator.busy).length,
        };
        runs.push(run);
        figures[c.kind] = { ...run, withinFivePercent: within, underTwoMinutes: wallMs < 120_000 };
        rows.push([c.label, found ?? '-', `${offPercent}%`, result.steps.length, `${round(wallMs / 1000)} s`, `${verdict(within && wallMs < 120_000)} (${result.capacity.stoppedBy})`]);
      } finally {
        await stop(server.process, 'SIGTERM', 15_000);
      }
    }
    return {
      figures,
      runs,
      commands,
      table: table(['server', 'capacity found', 'under the cap', 'steps', 'time', 'within 5% in < 2 min'], rows),
    };
  },
};
