/**
 * serve-echo-vs-go: echo throughput of `wsbench serve --workers 1` against the Go reference server
 * (../shared/peers/go-echo: gorilla/websocket, a goroutine per connection) and a plain ws echo
 * server, in one run. Issue 9's table: 100 connections, 64 B, the server pinned to core 0 and the
 * driver (`wsbench blast --workers 1`) to core 1; closed loop (-p 1) and pipelined (-p 16). Every
 * (loop, server) pair is measured REPEATS times, interleaved (the order flips each repeat), and the
 * medians compared. Target: wsbench at or above Go in both loops. Without Go (not installed, or
 * the build fails) the Go column is left out, and the benchmark says why.
 *
 * wsbench-portable is the same `wsbench serve` with WSBENCH_PORTABLE=sharedReads in the server's
 * environment only (the driver keeps its fast paths), run beside the fast one: fastOverPortable is
 * what serve's shared read buffer buys in msg/s. It is not part of the target.
 */
import { type Benchmark } from './benchmark.js';
import { fastPathsNote, goEcho, median, portableEnv, REPEATS, round, table, verdict, type ServerKind } from './lib.js';
import { measureEcho, type EchoMeasurement } from './serve-echo.js';

const PIPELINES = [1, 16] as const;
type Pipeline = (typeof PIPELINES)[number];
/** A column of the table: a server kind, or wsbench serve with its fast path off. */
type Column = ServerKind | 'wsbench-portable';
const PORTABLE_SERVE_ENV = portableEnv(['sharedReads']);
const SERVERS: Readonly<Record<Column, { kind: ServerKind; args: readonly string[]; env?: Readonly<Record<string, string>> }>> = {
  wsbench: { kind: 'wsbench', args: ['--workers', '1', '--max', '1000'] },
  'wsbench-portable': { kind: 'wsbench', args: ['--workers', '1', '--max', '1000'], env: PORTABLE_SERVE_ENV },
  'go-echo': { kind: 'go-echo', args: ['-max', '1000'] },
  'plain-ws': { kind: 'plain-ws', args: [] },
};
const blastArgs = (pipeline: Pipeline) => ['-c', '100', '-d', '5s', '--size', '64', '--workers', '1', '-p', String(pipeline), '--json', '--no-save'];

interface EchoVsGoRun extends Omit<EchoMeasurement, 'kind'> {
  repeat: number;
  pipeline: Pipeline;
  kind: Column;
}

export const serveEchoVsGo: Benchmark = {
  name: 'serve-echo-vs-go',
  description:
    'echo throughput, 100 connections, 64 B, closed loop (-p 1) and pipelined (-p 16): wsbench serve vs Go (gorilla) vs plain ws, and wsbench serve with WSBENCH_PORTABLE=sharedReads',
  async run() {
    const go = goEcho();
    if (go.skipped) process.stderr.write(`serve-echo-vs-go: ${go.skipped}; the Go column is left out\n`);
    // wsbench and wsbench-portable stay next to each other whichever way the order runs.
    const kinds: readonly Column[] = go.binary ? ['go-echo', 'plain-ws', 'wsbench', 'wsbench-portable'] : ['plain-ws', 'wsbench', 'wsbench-portable'];
    const runs: EchoVsGoRun[] = [];
    const commands = new Set<string>();
    for (let repeat = 0; repeat < REPEATS; repeat++) {
      const order = repeat % 2 === 0 ? kinds : [...kinds].reverse();
      for (const pipeline of PIPELINES) {
        for (const kind of order) {
          const server = SERVERS[kind];
          runs.push({ repeat, pipeline, ...(await measureEcho(server.kind, server.args, blastArgs(pipeline), commands, server.env)), kind });
        }
      }
    }
    const of = (kind: Column, pipeline: Pipeline, key: keyof EchoMeasurement) =>
      median(runs.filter((r) => r.kind === kind && r.pipeline === pipeline).map((r) => r[key] as number));
    const ratioToGo = (kind: Column, pipeline: Pipeline) => (go.binary ? round(of(kind, pipeline, 'messagesPerSecond') / of('go-echo', pipeline, 'messagesPerSecond'), 3) : NaN);
    /** Fast wsbench msg/s over portable wsbench msg/s: above 1, the shared read buffer pays. */
    const fastOverPortable = (pipeline: Pipeline) => round(of('wsbench', pipeline, 'messagesPerSecond') / of('wsbench-portable', pipeline, 'messagesPerSecond'), 3);
    /** Server CPU per echoed message, portable over fast: steadier than msg/s on a shared machine. */
    const portableOverFastCost = (pipeline: Pipeline) => round(of('wsbench-portable', pipeline, 'serverUsPerMessage') / of('wsbench', pipeline, 'serverUsPerMessage'), 3);
    const perServer = Object.fromEntries(
      kinds.map((kind) => [
        kind,
        Object.fromEntries(
          PIPELINES.map((pipeline) => [
            `p${pipeline}`,
            {
              messagesPerSecondMedian: of(kind, pipeline, 'messagesPerSecond'),
              ratioToGo: ratioToGo(kind, pipeline),
              ...(kind === 'wsbench-portable' ? { fastOverPortable: fastOverPortable(pipeline) } : {}),
              serverUsPerMessageMedian: of(kind, pipeline, 'serverUsPerMessage'),
              serverCpuPercentMedian: of(kind, pipeline, 'serverCpuPercent'),
              generatorCpuPercentMedian: of(kind, pipeline, 'generatorCpuPercent'),
              roundTripP50MsMedian: of(kind, pipeline, 'roundTripP50Ms'),
              roundTripP99MsMedian: of(kind, pipeline, 'roundTripP99Ms'),
            },
          ]),
        ),
      ]),
    );
    const met = go.binary ? PIPELINES.every((pipeline) => ratioToGo('wsbench', pipeline) >= 1) : undefined;
    const serverFastPaths = (kind: Column) => runs.filter((r) => r.kind === kind).map((r) => r.serverFastPaths);
    const notes =
      fastPathsNote('wsbench', serverFastPaths('wsbench'), ['sharedReads'], true) +
      fastPathsNote('wsbench-portable', serverFastPaths('wsbench-portable'), ['sharedReads'], false);
    const figures = {
      ...perServer,
      goSkipped: go.skipped,
      target: 'wsbench serve >= Go in both -p 1 and -p 16 (medians of 3, same run)',
      met,
      portableEnv: PORTABLE_SERVE_ENV,
      fastOverPortable: Object.fromEntries(PIPELINES.map((pipeline) => [`p${pipeline}`, fastOverPortable(pipeline)])),
      serverUsPerMessagePortableOverFast: Object.fromEntries(PIPELINES.map((pipeline) => [`p${pipeline}`, portableOverFastCost(pipeline)])),
      fastPathsAsMeant: notes === '',
    };
    const rows = kinds.map((kind) => [
      kind,
      ...PIPELINES.flatMap((pipeline) => [of(kind, pipeline, 'messagesPerSecond'), go.binary ? `${ratioToGo(kind, pipeline).toFixed(2)}x` : '-', of(kind, pipeline, 'serverUsPerMessage'), of(kind, pipeline, 'generatorCpuPercent')]),
    ]);
    const text =
      table(['server', 'p1 msg/s', 'vs Go', 'µs/msg', 'driver %', 'p16 msg/s', 'vs Go', 'µs/msg', 'driver %'], rows) +
      (go.binary
        ? `wsbench/Go: p1 ${ratioToGo('wsbench', 1)}, p16 ${ratioToGo('wsbench', 16)}  (target >= 1.0 in both: ${verdict(met!)})\n`
        : `Go column skipped: ${go.skipped}\n`) +
      `wsbench fast/portable (server WSBENCH_PORTABLE=${PORTABLE_SERVE_ENV.WSBENCH_PORTABLE}): msg/s p1 ${fastOverPortable(1)}, p16 ${fastOverPortable(16)}; ` +
      `server µs/msg portable/fast p1 ${portableOverFastCost(1)}, p16 ${portableOverFastCost(16)}\n` +
      notes;
    return { figures, runs, commands: [...commands], table: text };
  },
};
