/**
 * serve-echo: echo throughput of `wsbench serve --workers 1` against a plain ws echo server. The
 * server runs on core 0, the driver (`wsbench blast`, one client process) on core 1, so each has a
 * core; the driver's CPU says whether the server was the bottleneck.
 */
import type { BlastResult } from '../src/metrics/blast-result.js';
import { interleaved, type Benchmark } from './benchmark.js';
import {
  CLIENT_CORE, cpuUs, median, parseJsonOutput, REPEATS, round, SERVER_CORE, serverFastPaths, startServer, startWsbench, stop, table, verdict,
  waitExit, type FastPaths, type ServerKind,
} from './lib.js';

const KINDS: readonly ServerKind[] = ['plain-ws', 'wsbench'];
const SERVE_ARGS = ['--workers', '1', '--max', '1000'];
const BLAST_ARGS = ['-c', '100', '-d', '5s', '--size', '64', '--workers', '1', '--json', '--no-save'];

/** One measurement: a fresh server, one blast against it. */
export interface EchoMeasurement {
  kind: ServerKind;
  messagesPerSecond: number;
  accepted: number;
  generatorCpuPercent: number;
  serverCpuPercent: number;
  /** Server CPU over the whole blast / messages echoed: steadier than msg/s on a shared machine. */
  serverUsPerMessage: number;
  roundTripP50Ms: number;
  roundTripP99Ms: number;
  /** Fast paths the server ran (its /healthz; wsbench only) and the driver's client process ran. */
  serverFastPaths?: FastPaths;
  driverFastPaths?: FastPaths;
}

interface EchoRun extends EchoMeasurement {
  repeat: number;
}

/**
 * Start a `kind` server on the server core, run one `wsbench blast` (blastArgs, which must include
 * --json) against it from the client core, stop the server. Commands run are added to `commands`.
 * serverEnv is added to the server's environment only (e.g. portableEnv), not the driver's.
 */
export async function measureEcho(
  kind: ServerKind,
  serveArgs: readonly string[],
  blastArgs: readonly string[],
  commands: Set<string>,
  serverEnv?: Readonly<Record<string, string>>,
): Promise<EchoMeasurement> {
  const server = await startServer(kind, serveArgs, serverEnv ? { core: SERVER_CORE, env: serverEnv } : { core: SERVER_CORE });
  commands.add(server.process.command);
  try {
    const fastPaths = await serverFastPaths(server);
    const cpuBefore = cpuUs(server.process.pid) ?? 0;
    const driver = startWsbench(['blast', server.url, ...blastArgs], { core: CLIENT_CORE });
    commands.add(driver.command);
    const { code, wallMs } = await waitExit(driver, 60_000);
    const serverCpu = (cpuUs(server.process.pid) ?? 0) - cpuBefore;
    if (code !== 0) throw new Error(`${driver.command} exited ${code}: ${driver.stderr().slice(-500)}`);
    const result = parseJsonOutput<BlastResult>(driver);
    return {
      kind,
      messagesPerSecond: result.messages.perSecond,
      accepted: result.outcomes.accepted,
      generatorCpuPercent: result.generator.workers[0]?.cpuPercent ?? NaN,
      serverCpuPercent: round((serverCpu / (wallMs * 1000)) * 100),
      serverUsPerMessage: round(serverCpu / result.messages.received, 2),
      roundTripP50Ms: result.latency.roundTrip.p50_us / 1000,
      roundTripP99Ms: result.latency.roundTrip.p99_us / 1000,
      serverFastPaths: fastPaths,
      driverFastPaths: result.runtime?.fastPaths,
    };
  } finally {
    await stop(server.process);
  }
}

export const serveEcho: Benchmark = {
  name: 'serve-echo',
  description: 'echo throughput, 100 connections closed loop, 64 B: wsbench serve vs plain ws',
  async run() {
    const runs: EchoRun[] = [];
    const commands = new Set<string>();
    for (const { repeat, kind } of interleaved(KINDS, REPEATS)) {
      runs.push({ repeat, ...(await measureEcho(kind, SERVE_ARGS, BLAST_ARGS, commands)) });
    }
    const of = (kind: ServerKind, key: keyof EchoRun) => median(runs.filter((r) => r.kind === kind).map((r) => r[key] as number));
    const ratio = of('wsbench', 'messagesPerSecond') / of('plain-ws', 'messagesPerSecond');
    const perServer = Object.fromEntries(
      KINDS.map((kind) => [
        kind,
        {
          messagesPerSecondMedian: of(kind, 'messagesPerSecond'),
          generatorCpuPercentMedian: of(kind, 'generatorCpuPercent'),
          serverCpuPercentMedian: of(kind, 'serverCpuPercent'),
          serverUsPerMessageMedian: of(kind, 'serverUsPerMessage'),
          roundTripP50MsMedian: of(kind, 'roundTripP50Ms'),
          roundTripP99MsMedian: of(kind, 'roundTripP99Ms'),
        },
      ]),
    );
    const costRatio = of('wsbench', 'serverUsPerMessage') / of('plain-ws', 'serverUsPerMessage');
    const figures = { ...perServer, ratioWsbenchToPlain: round(ratio, 3), serverCpuPerMessageRatioWsbenchToPlain: round(costRatio, 3), target: 'wsbench >= 1.0x plain ws', met: ratio >= 1 };
    const text =
      table(
        ['server', 'msg/s (median)', 'server µs/msg', 'server CPU %', 'driver CPU %', 'rtt p50 ms', 'rtt p99 ms'],
        KINDS.map((kind) => [kind, of(kind, 'messagesPerSecond'), of(kind, 'serverUsPerMessage'), of(kind, 'serverCpuPercent'), of(kind, 'generatorCpuPercent'), of(kind, 'roundTripP50Ms'), of(kind, 'roundTripP99Ms')]),
      ) + `ratio wsbench/plain = ${round(ratio, 3)}  (target >= 1.0: ${verdict(ratio >= 1)}); server CPU per message wsbench/plain = ${round(costRatio, 3)}\n`;
    return { figures, runs, commands: [...commands], table: text };
  },
};
