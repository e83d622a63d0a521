/**
 * serve-echo-vs-go: echo throughput of `wsbench serve --workers 1` against the Go reference server
 * (../shared/peers/go-echo: gorilla/websocket, a goroutine per connection) and a plain ws echo
 * server, in one run. Issue 9's table: 100 connections, 64 B, the server pinned to core 0 and the
 * driver (`wsbench blast --workers 1`) to core 1; closed loop (-p 1) and pipelined (-p 16). Every
 * (loop, server) pair is measured REPEATS times, interleaved (the order flips each repeat), and the
 * medians compared. Target: wsbench at or above Go in both loops. Without Go (not installed, or
 * the build fails) the Go column is left out, and the benchmark says why.
 */
import { type Benchmark } from './benchmark.js';
import { goEcho, median, REPEATS, round, table, verdict, type ServerKind } from './lib.js';
import { measureEcho, type EchoMeasurement } from './serve-echo.js';

const PIPELINES = [1, 16] as const;
type Pipeline = (typeof PIPELINES)[number];
const SERVE_ARGS: Readonly<Record<ServerKind, readonly string[]>> = {
  wsbench: ['--workers', '1', '--max', '1000'],
  'go-echo': ['-max', '1000'],
  'plain-ws': [],
};
const blastArgs = (pipeline: Pipeline) => ['-c', '100', '-d', '5s', '--size', '64', '--workers', '1', '-p', String(pipeline), '--json', '--no-save'];

interface EchoVsGoRun extends EchoMeasurement {
  repeat: number;
  pipeline: Pipeline;
}

export const serveEchoVsGo: Benchmark = {
  name: 'serve-echo-vs-go',
  description: 'echo throughput, 100 connections, 64 B, closed loop (-p 1) and pipelined (-p 16): wsbench serve vs Go (gorilla) vs plain ws',
  async run() {
    const go = goEcho();
    if (go.skipped) process.stderr.write(`serve-echo-vs-go: ${go.skipped}; the Go column is left out\n`);
    const kinds: readonly ServerKind[] = go.binary ? ['go-echo', 'plain-ws', 'wsbench'] : ['plain-ws', 'wsbench'];
    const runs: EchoVsGoRun[] = [];
    const commands = new Set<string>();
    for (let repeat = 0; repeat < REPEATS; repeat++) {
      const order = repeat % 2 === 0 ? kinds : [...kinds].reverse();
      for (const pipeline of PIPELINES) {
        for (const kind of order) {
          runs.push({ repeat, pipeline, ...(await measureEcho(kind, SERVE_ARGS[kind], blastArgs(pipeline), commands)) });
        }
      }
    }
    const of = (kind: ServerKind, pipeline: Pipeline, key: keyof EchoMeasurement) =>
      median(runs.filter((r) => r.kind === kind && r.pipeline === pipeline).map((r) => r[key] as number));
    const ratioToGo = (kind: ServerKind, pipeline: Pipeline) => (go.binary ? round(of(kind, pipeline, 'messagesPerSecond') / of('go-echo', pipeline, 'messagesPerSecond'), 3) : NaN);
    const perServer = Object.fromEntries(
      kinds.map((kind) => [
        kind,
        Object.fromEntries(
          PIPELINES.map((pipeline) => [
            `p${pipeline}`,
            {
              messagesPerSecondMedian: of(kind, pipeline, 'messagesPerSecond'),
              ratioToGo: ratioToGo(kind, pipeline),
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
    const figures = { ...perServer, goSkipped: go.skipped, target: 'wsbench serve >= Go in both -p 1 and -p 16 (medians of 3, same run)', met };
    const rows = kinds.map((kind) => [
      kind,
      ...PIPELINES.flatMap((pipeline) => [of(kind, pipeline, 'messagesPerSecond'), go.binary ? `${ratioToGo(kind, pipeline).toFixed(2)}x` : '-', of(kind, pipeline, 'serverUsPerMessage'), of(kind, pipeline, 'generatorCpuPercent')]),
    ]);
    const text =
      table(['server', 'p1 msg/s', 'vs Go', 'µs/msg', 'driver %', 'p16 msg/s', 'vs Go', 'µs/msg', 'driver %'], rows) +
      (go.binary
        ? `wsbench/Go: p1 ${ratioToGo('wsbench', 1)}, p16 ${ratioToGo('wsbench', 16)}  (target >= 1.0 in both: ${verdict(met!)})\n`
        : `Go column skipped: ${go.skipped}\n`);
    return { figures, runs, commands: [...commands], table: text };
  },
};
