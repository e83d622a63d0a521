/**
 * serve-accept: how fast each server accepts 10,000 WebSocket handshakes. A fresh server (core 0)
 * and `wsbench blast -c 10000 --rate 0 -d 0 --workers 1` (core 1). Reported: the time from starting
 * the blast process until the server counts 10,000 accepted (polled every 100 ms, so ±100 ms, and
 * it includes the blast's own start-up of ~0.2 s), the blast's wall time (start-up, ramp, close),
 * and connect latency p50/p99 from the blast JSON (TCP connect + upgrade, per connection).
 */
import type { BlastResult } from '../src/metrics/blast-result.js';
import { interleaved, type Benchmark } from './benchmark.js';
import {
  CLIENT_CORE, median, parseJsonOutput, REPEATS, round, SERVER_CORE, startServer, startWsbench, stop, table, waitExit, waitFor,
  type ServerKind,
} from './lib.js';

const CONNECTIONS = 10_000;
const KINDS: readonly ServerKind[] = ['plain-ws', 'wsbench'];
// 15000 keeps the one worker in-process; near its fd limit (e.g. 19000) a primary hands each socket over.
const SERVE_ARGS = ['--workers', '1', '--max', '15000'];
const BLAST_ARGS = ['-c', String(CONNECTIONS), '--rate', '0', '-d', '0', '--workers', '1', '--json', '--no-save'];

interface AcceptRun {
  repeat: number;
  kind: ServerKind;
  acceptedAllMs: number;
  blastWallMs: number;
  blastDurationMs: number;
  accepted: number;
  rejected: number;
  failed: number;
  connectP50Ms: number;
  connectP99Ms: number;
  connectMaxMs: number;
}

export const serveAccept: Benchmark = {
  name: 'serve-accept',
  description: `time to accept ${CONNECTIONS.toLocaleString('en-US')} handshakes: wsbench serve vs plain ws`,
  async run() {
    const runs: AcceptRun[] = [];
    const commands = new Set<string>();
    for (const { repeat, kind } of interleaved(KINDS, REPEATS)) {
      const server = await startServer(kind, SERVE_ARGS, { core: SERVER_CORE });
      commands.add(server.process.command);
      try {
        const load = startWsbench(['blast', server.url, ...BLAST_ARGS], { core: CLIENT_CORE });
        commands.add(load.command);
        let acceptedAllMs = NaN;
        let exited = false;
        void load.exited.then(() => (exited = true));
        await waitFor(`${CONNECTIONS} accepted on ${kind}`, 60_000, async () => {
          if ((await server.counts()).accepted >= CONNECTIONS) acceptedAllMs = performance.now() - load.startedAt;
          return !Number.isNaN(acceptedAllMs) || exited;
        }, 100);
        const { code, wallMs } = await waitExit(load, 60_000);
        if (code !== 0) throw new Error(`${load.command} exited ${code}: ${load.stderr().slice(-500)}`);
        const result = parseJsonOutput<BlastResult>(load);
        runs.push({
          repeat,
          kind,
          acceptedAllMs: Math.round(acceptedAllMs),
          blastWallMs: Math.round(wallMs),
          blastDurationMs: result.durationMs,
          accepted: result.outcomes.accepted,
          rejected: result.outcomes.rejected.total,
          failed: result.outcomes.failed.total,
          connectP50Ms: result.latency.connect.p50_us / 1000,
          connectP99Ms: result.latency.connect.p99_us / 1000,
          connectMaxMs: result.latency.connect.max_us / 1000,
        });
      } finally {
        await stop(server.process);
      }
    }
    const of = (kind: ServerKind, key: keyof AcceptRun) => median(runs.filter((r) => r.kind === kind).map((r) => r[key] as number));
    const keys: (keyof AcceptRun)[] = ['acceptedAllMs', 'blastWallMs', 'blastDurationMs', 'accepted', 'failed', 'connectP50Ms', 'connectP99Ms', 'connectMaxMs'];
    const perServer = Object.fromEntries(KINDS.map((kind) => [kind, Object.fromEntries(keys.map((key) => [`${key}Median`, of(kind, key)]))]));
    const ratio = of('wsbench', 'acceptedAllMs') / of('plain-ws', 'acceptedAllMs');
    const figures = { ...perServer, ratioAcceptTimeWsbenchToPlain: round(ratio, 3), target: 'none set (lower is better)' };
    const text =
      table(
        ['server', 'all accepted ms', 'blast wall ms', 'accepted', 'failed', 'connect p50 ms', 'p99 ms', 'max ms'],
        KINDS.map((kind) => [kind, of(kind, 'acceptedAllMs'), of(kind, 'blastWallMs'), of(kind, 'accepted'), of(kind, 'failed'), of(kind, 'connectP50Ms'), of(kind, 'connectP99Ms'), of(kind, 'connectMaxMs')]),
      ) + `time to accept all, wsbench/plain = ${round(ratio, 3)} (medians)\n`;
    return { figures, runs, commands: [...commands], table: text };
  },
};
