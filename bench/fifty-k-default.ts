/**
 * fifty-k-default: the card's pair with default options, at full scale. `wsbench blast -c 50000`
 * (closed-loop echo, ramp then a 10 s run) against `wsbench serve --max 50000` must give 50,000
 * accepted and 0 failed; against `serve --max 10000`, 10,000 accepted, 40,000 rejected (503) and 0
 * failed. Then the same with --ramp-traffic, where every connection echoes from the moment it opens:
 * still every connection accepted. Both need both cores, so nothing is pinned. Medians of 3.
 */
import type { BlastResult } from '../src/metrics/blast-result.js';
import type { Benchmark } from './benchmark.js';
import { median, parseJsonOutput, REPEATS, round, sleep, startServer, startWsbench, stop, table, treeRssBytes, verdict, waitExit } from './lib.js';

const CONNECTIONS = 50_000;

interface Case {
  readonly name: string;
  readonly max: number;
  readonly rampTraffic: boolean;
}
const CASES: readonly Case[] = [
  { name: 'serve --max 50000 / blast -c 50000', max: 50_000, rampTraffic: false },
  { name: 'serve --max 10000 / blast -c 50000', max: 10_000, rampTraffic: false },
  { name: 'serve --max 50000 / blast -c 50000 --ramp-traffic', max: 50_000, rampTraffic: true },
  { name: 'serve --max 10000 / blast -c 50000 --ramp-traffic', max: 10_000, rampTraffic: true },
];

interface FiftyKDefaultRun {
  repeat: number;
  case: string;
  accepted: number;
  rejected503: number;
  failed: number;
  failedByReason: Record<string, number>;
  rampMs: number;
  connectP99Ms: number;
  roundTripP99Ms: number;
  messagesPerSecond: number;
  serverRssPeakBytes: number;
  clientRssPeakBytes: number;
  ok: boolean;
}

export const fiftyKDefault: Benchmark = {
  name: 'fifty-k-default',
  description: 'blast -c 50000 with default options against serve --max 50000 and --max 10000, then with --ramp-traffic',
  async run() {
    const runs: FiftyKDefaultRun[] = [];
    const commands = new Set<string>();
    for (let repeat = 0; repeat < REPEATS; repeat++) {
      for (const testCase of CASES) {
        const server = await startServer('wsbench', ['--max', String(testCase.max)]);
        commands.add(server.process.command);
        try {
          const load = startWsbench(['blast', server.url, '-c', String(CONNECTIONS), ...(testCase.rampTraffic ? ['--ramp-traffic'] : []), '--json', '--no-save']);
          commands.add(load.command);
          let serverRssPeakBytes = 0;
          let clientRssPeakBytes = 0;
          const sampler = setInterval(() => {
            serverRssPeakBytes = Math.max(serverRssPeakBytes, treeRssBytes(server.process.pid));
            clientRssPeakBytes = Math.max(clientRssPeakBytes, treeRssBytes(load.pid));
          }, 500);
          const { code } = await waitExit(load, 300_000).finally(() => clearInterval(sampler));
          if (code !== 0) throw new Error(`${load.command} exited ${code}: ${load.stderr().slice(-500)}`);
          const result = parseJsonOutput<BlastResult>(load);
          const rejected503 = result.outcomes.rejected.byStatus['503'] ?? 0;
          const ok = result.outcomes.accepted === testCase.max && rejected503 === CONNECTIONS - testCase.max && result.outcomes.failed.total === 0;
          runs.push({
            repeat,
            case: testCase.name,
            accepted: result.outcomes.accepted,
            rejected503,
            failed: result.outcomes.failed.total,
            failedByReason: result.outcomes.failed.byReason,
            rampMs: result.rampMs ?? NaN,
            connectP99Ms: result.latency.connect.p99_us / 1000,
            roundTripP99Ms: result.latency.roundTrip.p99_us / 1000,
            messagesPerSecond: result.messages.perSecond,
            serverRssPeakBytes,
            clientRssPeakBytes,
            ok,
          });
        } finally {
          await stop(server.process, 'SIGTERM', 15_000);
        }
        // TIME_WAIT and closing sockets of the previous pair settle before the next.
        await sleep(3000);
      }
    }
    const of = (name: string, key: keyof FiftyKDefaultRun) => median(runs.filter((r) => r.case === name).map((r) => r[key] as number));
    const allOk = runs.every((r) => r.ok);
    const figures = {
      connections: CONNECTIONS,
      ...Object.fromEntries(
        CASES.map((c) => [
          c.name,
          {
            acceptedMedian: of(c.name, 'accepted'),
            rejected503Median: of(c.name, 'rejected503'),
            failedMedian: of(c.name, 'failed'),
            rampMsMedian: of(c.name, 'rampMs'),
            connectP99MsMedian: of(c.name, 'connectP99Ms'),
            roundTripP99MsMedian: of(c.name, 'roundTripP99Ms'),
            messagesPerSecondMedian: of(c.name, 'messagesPerSecond'),
            serverRssPeakMBMedian: round(of(c.name, 'serverRssPeakBytes') / 1048576),
            clientRssPeakMBMedian: round(of(c.name, 'clientRssPeakBytes') / 1048576),
          },
        ]),
      ),
      allRunsExact: allOk,
      target: 'max accepted, the rest rejected 503, 0 failed, in every run',
    };
    const rows = CASES.map((c) => [c.name, of(c.name, 'accepted'), of(c.name, 'rejected503'), of(c.name, 'failed'), round(of(c.name, 'rampMs') / 1000, 1), of(c.name, 'messagesPerSecond'), round(of(c.name, 'serverRssPeakBytes') / 1048576), round(of(c.name, 'clientRssPeakBytes') / 1048576)] as (string | number)[]);
    const text =
      table(['pair', 'accepted', 'rejected 503', 'failed', 'ramp s', 'run msg/s', 'server RSS MB', 'client RSS MB'], rows) +
      `exact in every run (max accepted, rest 503, 0 failed): ${verdict(allOk)}\n`;
    return { figures, runs, commands: [...commands], table: text };
  },
};
