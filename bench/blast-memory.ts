/**
 * blast-memory: client RSS per idle open connection, `wsbench blast --workers 1 --rate 0` against
 * the naive ws client (naive-client.ts idle), each holding 100 and then 10,000 idle connections to
 * `wsbench serve --workers 1` (core 0); clients on core 1. The RSS read is that of the process
 * holding the sockets: blast's worker (the coordinator's child; the coordinator is reported apart),
 * or the naive client itself, 2 s after the server counts every connection open.
 * Two figures: RSS at 10k / 10,000 (includes the runtime's fixed cost) and
 * (RSS at 10k − RSS at 100) / 9,900 (the marginal cost of one more connection).
 *
 * wsbench-portable is the same blast with WSBENCH_PORTABLE=directWrites,directReads in its
 * environment (its worker inherits it): sockets written and read through net's public API. It runs
 * beside the fast one and is not part of the target.
 */
import { join } from 'node:path';
import { interleaved, type Benchmark } from './benchmark.js';
import {
  benchDist, CLIENT_CORE, median, portableEnv, REPEATS, round, rssBytes, SERVER_CORE, sleep, startNode, startServer, startWsbench, stop, table,
  verdict, waitFor, waitForChildren, type Started,
} from './lib.js';

// blast's client processes run with a capped young generation themselves (src/blast/coordinator.ts),
// so no separate capped run is needed here.
type ClientKind = 'naive-ws' | 'wsbench' | 'wsbench-portable';
// wsbench and wsbench-portable stay next to each other whichever way the order runs.
const KINDS: readonly ClientKind[] = ['naive-ws', 'wsbench', 'wsbench-portable'];
const PORTABLE_BLAST_ENV = portableEnv(['directWrites', 'directReads']);
const SMALL = 100;
const LARGE = 10_000;
const SETTLE_MS = 2000;
/** Issue 9: blast's client at most 2 KB (2048 B) per connection (3.3 KB before it). */
const TARGET_BYTES = 2048;

interface MemoryRun {
  repeat: number;
  kind: ClientKind;
  connections: number;
  workerRssBytes: number;
  coordinatorRssBytes: number;
}

function startClient(kind: ClientKind, url: string, connections: number): Started {
  if (kind === 'naive-ws') return startNode(join(benchDist, 'naive-client.js'), ['idle', url, String(connections)], { core: CLIENT_CORE });
  const args = ['blast', url, '-c', String(connections), '--rate', '0', '-d', '15s', '--workers', '1', '--no-save', '--quiet'];
  return startWsbench(args, kind === 'wsbench-portable' ? { core: CLIENT_CORE, env: PORTABLE_BLAST_ENV } : { core: CLIENT_CORE });
}

export const blastMemory: Benchmark = {
  name: 'blast-memory',
  description: `client RSS per idle connection at ${LARGE.toLocaleString('en-US')}: wsbench blast vs naive ws client, and wsbench blast with WSBENCH_PORTABLE=directWrites,directReads`,
  async run() {
    const runs: MemoryRun[] = [];
    const commands = new Set<string>();
    for (const { repeat, kind } of interleaved(KINDS, REPEATS)) {
      for (const connections of [SMALL, LARGE]) {
        // --max 20000 would need two server workers at this fd limit; 19000 fits one.
        const server = await startServer('wsbench', ['--workers', '1', '--max', '19000'], { core: SERVER_CORE });
        commands.add(server.process.command);
        try {
          const client = startClient(kind, server.url, connections);
          commands.add(client.command);
          try {
            const workerPid = kind !== 'naive-ws' ? (await waitForChildren(client.pid, 1, 10_000))[0]! : client.pid;
            await waitFor(`${connections} open connections`, 60_000, async () => (await server.counts()).open >= connections, 200);
            await sleep(SETTLE_MS);
            runs.push({
              repeat,
              kind,
              connections,
              workerRssBytes: rssBytes(workerPid) ?? NaN,
              coordinatorRssBytes: kind !== 'naive-ws' ? (rssBytes(client.pid) ?? NaN) : 0,
            });
          } finally {
            await stop(client, kind !== 'naive-ws' ? 'SIGINT' : 'SIGTERM');
          }
        } finally {
          await stop(server.process);
        }
      }
    }
    const rss = (kind: ClientKind, connections: number, repeat: number) =>
      runs.find((r) => r.kind === kind && r.connections === connections && r.repeat === repeat)?.workerRssBytes ?? NaN;
    const perRepeat = (f: (repeat: number) => number) => median(Array.from({ length: REPEATS }, (_, repeat) => f(repeat)));
    const summary = Object.fromEntries(
      KINDS.map((kind) => [
        kind,
        {
          bytesPerConnectionAt10kMedian: Math.round(perRepeat((r) => rss(kind, LARGE, r) / LARGE)),
          marginalBytesPerConnectionMedian: Math.round(perRepeat((r) => (rss(kind, LARGE, r) - rss(kind, SMALL, r)) / (LARGE - SMALL))),
          workerRssAt100BytesMedian: perRepeat((r) => rss(kind, SMALL, r)),
          workerRssAt10kBytesMedian: perRepeat((r) => rss(kind, LARGE, r)),
          coordinatorRssBytesMedian: median(runs.filter((r) => r.kind === kind).map((r) => r.coordinatorRssBytes)),
        },
      ]),
    ) as unknown as Record<ClientKind, Record<string, number>>;
    const marginal = summary.wsbench.marginalBytesPerConnectionMedian!;
    const at10k = summary.wsbench.bytesPerConnectionAt10kMedian!;
    const portableMarginal = summary['wsbench-portable'].marginalBytesPerConnectionMedian!;
    const figures = {
      ...summary,
      ratioMarginalWsbenchToNaive: round(marginal / summary['naive-ws'].marginalBytesPerConnectionMedian!, 3),
      target: `wsbench <= 2 KB (${TARGET_BYTES} B) per connection, marginal`,
      metMarginal: marginal <= TARGET_BYTES,
      metAt10k: at10k <= TARGET_BYTES,
      portableEnv: PORTABLE_BLAST_ENV,
      // Below 1 (a positive saving), the fast paths cost less memory per connection than the portable path.
      ratioMarginalWsbenchToPortable: round(marginal / portableMarginal, 3),
      fastPathSavesMarginalBytesPerConnection: portableMarginal - marginal,
    };
    const mb = (bytes: number) => round(bytes / 1048576, 1);
    const text =
      table(
        ['client', 'B/conn at 10k', 'marginal B/conn', 'RSS@100 MB', 'RSS@10k MB', 'coordinator MB'],
        KINDS.map((kind) => {
          const s = summary[kind];
          return [kind, s.bytesPerConnectionAt10kMedian!, s.marginalBytesPerConnectionMedian!, mb(s.workerRssAt100BytesMedian!), mb(s.workerRssAt10kBytesMedian!), mb(s.coordinatorRssBytesMedian!)];
        }),
      ) +
      `wsbench marginal ${marginal} B/conn (target <= ${TARGET_BYTES}: ${verdict(marginal <= TARGET_BYTES)}); ` +
      `at 10k ${at10k} B/conn, the runtime's fixed cost included (${verdict(at10k <= TARGET_BYTES)})\n` +
      `wsbench fast/portable (blast WSBENCH_PORTABLE=${PORTABLE_BLAST_ENV.WSBENCH_PORTABLE}): marginal ${marginal} / ${portableMarginal} B/conn = ${round(marginal / portableMarginal, 3)}\n`;
    return { figures, runs, commands: [...commands], table: text };
  },
};
