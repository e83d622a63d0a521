/**
 * ramp-under-load: can a server accept new connections while the ones it has echo flat out?
 * `wsbench blast -c 5000 --ramp-traffic` (every connection echoes in a closed loop from the moment
 * it opens) against `wsbench serve --max 15000` with one worker and with its default workers, and
 * against the reference Go server (goroutine per connection). Unpinned, as a user would run them on
 * this 2-core machine. Interleaved, medians of 3.
 *
 * Target: every connection accepted against every server; wsbench serve's ramp time and connect p99
 * within 2x of the Go server's in the same run (moonshot: at or below).
 */
import type { BlastResult } from '../src/metrics/blast-result.js';
import { interleaved, type Benchmark } from './benchmark.js';
import { goEcho, median, parseJsonOutput, REPEATS, round, sleep, startServer, startWsbench, stop, table, verdict, waitExit, type ServerKind } from './lib.js';

const CONNECTIONS = 5000;
const BLAST_ARGS = ['-c', String(CONNECTIONS), '--ramp-traffic', '-d', '2s', '--json', '--no-save'];

interface Setup {
  readonly name: string;
  readonly kind: ServerKind;
  readonly args: readonly string[];
}
const SETUPS: readonly Setup[] = [
  { name: 'wsbench serve --workers 1', kind: 'wsbench', args: ['--max', '15000', '--workers', '1'] },
  { name: 'wsbench serve (default workers)', kind: 'wsbench', args: ['--max', '15000'] },
  { name: 'go-echo', kind: 'go-echo', args: ['-max', '15000'] },
];

interface RampRun {
  repeat: number;
  setup: string;
  accepted: number;
  failed: number;
  failedByReason: Record<string, number>;
  rampMs: number;
  connectP50Ms: number;
  connectP99Ms: number;
  messagesPerSecond: number;
  generatorCpuPercentDuringRamp: number[];
}

export const rampUnderLoad: Benchmark = {
  name: 'ramp-under-load',
  description: `${CONNECTIONS} connections that echo from the moment they open (--ramp-traffic): wsbench serve vs the Go reference`,
  async run() {
    const go = goEcho();
    const setups = SETUPS.filter((s) => s.kind !== 'go-echo' || go.binary);
    const runs: RampRun[] = [];
    const commands = new Set<string>();
    for (const { repeat, kind: setup } of interleaved(setups, REPEATS)) {
      const server = await startServer(setup.kind, setup.args);
      commands.add(server.process.command);
      try {
        const driver = startWsbench(['blast', server.url, ...BLAST_ARGS]);
        commands.add(driver.command);
        const { code } = await waitExit(driver, 180_000);
        if (code !== 0) throw new Error(`${driver.command} exited ${code}: ${driver.stderr().slice(-500)}`);
        const result = parseJsonOutput<BlastResult>(driver);
        runs.push({
          repeat,
          setup: setup.name,
          accepted: result.outcomes.accepted,
          failed: result.outcomes.failed.total,
          failedByReason: result.outcomes.failed.byReason,
          rampMs: result.rampMs ?? NaN,
          connectP50Ms: result.latency.connect.p50_us / 1000,
          connectP99Ms: result.latency.connect.p99_us / 1000,
          messagesPerSecond: result.messages.perSecond,
          generatorCpuPercentDuringRamp: result.generator.workers.map((w) => w.ramp.cpuPercent),
        });
      } finally {
        await stop(server.process);
      }
      // Let the closed sockets' TIME_WAIT and the previous server's exit settle.
      await sleep(1000);
    }
    const of = (setup: string, key: keyof RampRun) => median(runs.filter((r) => r.setup === setup).map((r) => r[key] as number));
    const allAccepted = runs.every((r) => r.accepted === CONNECTIONS && r.failed === 0);
    const goName = 'go-echo';
    const perSetup = Object.fromEntries(
      setups.map((s) => [s.name, { acceptedMedian: of(s.name, 'accepted'), failedMedian: of(s.name, 'failed'), rampMsMedian: of(s.name, 'rampMs'), connectP50MsMedian: of(s.name, 'connectP50Ms'), connectP99MsMedian: of(s.name, 'connectP99Ms') }]),
    );
    const versusGo = go.binary
      ? Object.fromEntries(
          setups
            .filter((s) => s.kind === 'wsbench')
            .map((s) => {
              const rampRatio = of(s.name, 'rampMs') / of(goName, 'rampMs');
              const p99Ratio = of(s.name, 'connectP99Ms') / of(goName, 'connectP99Ms');
              return [s.name, { rampRatioToGo: round(rampRatio, 2), connectP99RatioToGo: round(p99Ratio, 2), within2x: rampRatio <= 2 && p99Ratio <= 2, atOrBelowGo: rampRatio <= 1 && p99Ratio <= 1 }];
            }),
        )
      : { skipped: go.skipped };
    const figures = { connections: CONNECTIONS, ...perSetup, versusGo, allAccepted, target: 'all accepted; ramp and connect p99 within 2x of go-echo' };
    const rows = setups.map((s) => [s.name, of(s.name, 'accepted'), of(s.name, 'failed'), round(of(s.name, 'rampMs') / 1000, 2), of(s.name, 'connectP50Ms'), of(s.name, 'connectP99Ms')] as (string | number)[]);
    let text = table(['server', 'accepted', 'failed', 'ramp s', 'connect p50 ms', 'connect p99 ms'], rows);
    text += `every connection accepted against every server: ${verdict(allAccepted)}\n`;
    if (go.binary) {
      for (const [name, v] of Object.entries(versusGo as Record<string, { rampRatioToGo: number; connectP99RatioToGo: number; within2x: boolean }>)) {
        text += `${name} / go-echo: ramp ${v.rampRatioToGo}x, connect p99 ${v.connectP99RatioToGo}x (target <= 2x: ${verdict(v.within2x)})\n`;
      }
    } else {
      text += `${go.skipped}; its column is left out\n`;
    }
    return { figures, runs, commands: [...commands], table: text };
  },
};
