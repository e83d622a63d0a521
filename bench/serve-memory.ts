/**
 * serve-memory: server RSS per idle open connection at 10,000 connections, `wsbench serve
 * --workers 1` against plain ws. Target (issue 9): at most 5 KB (5,000 bytes) per connection, and
 * no more than plain ws. Each measurement starts a fresh server (core 0), reads its RSS
 * (summed over its processes)
 * after a settle, opens 10,000 idle connections with `wsbench blast --rate 0` (core 1), waits until
 * the server itself counts them open, settles 2 s, reads RSS again, then ends the blast.
 *
 * wsbench-portable is the same `wsbench serve` with WSBENCH_PORTABLE=sharedReads in the server's
 * environment only: its sockets read through net's own buffers, not the shared one. It runs beside
 * the fast one and is not part of the target.
 */
import { interleaved, type Benchmark } from './benchmark.js';
import {
  CLIENT_CORE, fastPathsNote, median, portableEnv, REPEATS, round, SERVER_CORE, serverFastPaths, treeRssBytes, sleep, startServer, startWsbench, stop,
  table, verdict, waitFor, type FastPaths, type ServerKind,
} from './lib.js';

const CONNECTIONS = 10_000;
/** Issue 9's target for wsbench serve: RSS per idle connection, bytes (KB = 1000 bytes). */
const TARGET_BYTES_PER_CONNECTION = 5_000;
const SETTLE_MS = 2000;
/** A column: a server kind, or wsbench serve with its fast path off (next to wsbench in both orders). */
type Column = ServerKind | 'wsbench-portable';
const KINDS: readonly Column[] = ['plain-ws', 'wsbench', 'wsbench-portable'];
const PORTABLE_SERVE_ENV = portableEnv(['sharedReads']);
/**
 * --max 15000 keeps the one worker in the server's own process (it runs behind a primary only near
 * its fd limit); RSS is summed over the server's processes all the same.
 */
const SERVE_ARGS = ['--workers', '1', '--max', '15000'];
const BLAST_ARGS = ['-c', String(CONNECTIONS), '--rate', '0', '-d', '20s', '--workers', '1', '--no-save', '--quiet'];

interface MemoryRun {
  repeat: number;
  kind: Column;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  open: number;
  bytesPerConnection: number;
  /** wsbench: the fast paths the server ran (its /healthz). */
  serverFastPaths?: FastPaths;
}

export const serveMemory: Benchmark = {
  name: 'serve-memory',
  description: `server RSS per idle connection at ${CONNECTIONS.toLocaleString('en-US')}: wsbench serve vs plain ws, and wsbench serve with WSBENCH_PORTABLE=sharedReads`,
  async run() {
    const runs: MemoryRun[] = [];
    const commands = new Set<string>();
    for (const { repeat, kind } of interleaved(KINDS, REPEATS)) {
      const server =
        kind === 'wsbench-portable'
          ? await startServer('wsbench', SERVE_ARGS, { core: SERVER_CORE, env: PORTABLE_SERVE_ENV })
          : await startServer(kind, SERVE_ARGS, { core: SERVER_CORE });
      commands.add(server.process.command);
      try {
        await sleep(SETTLE_MS);
        const rssBeforeBytes = treeRssBytes(server.process.pid);
        const load = startWsbench(['blast', server.url, ...BLAST_ARGS], { core: CLIENT_CORE });
        commands.add(load.command);
        try {
          let open = 0;
          await waitFor(`${CONNECTIONS} open connections on ${kind}`, 60_000, async () => (open = (await server.counts()).open) >= CONNECTIONS, 200);
          await sleep(SETTLE_MS);
          const rssAfterBytes = treeRssBytes(server.process.pid);
          open = (await server.counts()).open;
          // Asked after the RSS readings, so /healthz's own first answer costs nothing in them.
          const fastPaths = await serverFastPaths(server);
          runs.push({
            repeat,
            kind,
            rssBeforeBytes,
            rssAfterBytes,
            open,
            bytesPerConnection: Math.round((rssAfterBytes - rssBeforeBytes) / CONNECTIONS),
            serverFastPaths: fastPaths,
          });
        } finally {
          await stop(load, 'SIGINT');
        }
      } finally {
        await stop(server.process);
      }
    }
    const of = (kind: Column, key: keyof MemoryRun) => median(runs.filter((r) => r.kind === kind).map((r) => r[key] as number));
    const ratio = of('wsbench', 'bytesPerConnection') / of('plain-ws', 'bytesPerConnection');
    const perServer = Object.fromEntries(
      KINDS.map((kind) => [
        kind,
        {
          bytesPerConnectionMedian: of(kind, 'bytesPerConnection'),
          rssBeforeBytesMedian: of(kind, 'rssBeforeBytes'),
          rssAfterBytesMedian: of(kind, 'rssAfterBytes'),
        },
      ]),
    );
    const perConnection = of('wsbench', 'bytesPerConnection');
    const met = perConnection <= TARGET_BYTES_PER_CONNECTION && ratio <= 1;
    // Fast over portable: below 1, the shared read buffer saves memory per idle connection.
    const portable = of('wsbench-portable', 'bytesPerConnection');
    const fastPathNotes =
      fastPathsNote('wsbench', runs.filter((r) => r.kind === 'wsbench').map((r) => r.serverFastPaths), ['sharedReads'], true) +
      fastPathsNote('wsbench-portable', runs.filter((r) => r.kind === 'wsbench-portable').map((r) => r.serverFastPaths), ['sharedReads'], false);
    const figures = {
      ...perServer,
      ratioWsbenchToPlain: round(ratio, 3),
      target: `wsbench <= ${TARGET_BYTES_PER_CONNECTION} B per connection and <= plain ws`,
      met,
      portableEnv: PORTABLE_SERVE_ENV,
      ratioWsbenchToPortable: round(perConnection / portable, 3),
      fastPathSavesBytesPerConnection: portable - perConnection,
      fastPathsAsMeant: fastPathNotes === '',
    };
    const mb = (bytes: number) => round(bytes / 1048576, 1);
    const text =
      table(
        ['server', 'B/conn (median)', 'RSS before MB', 'RSS at 10k MB'],
        KINDS.map((kind) => [kind, of(kind, 'bytesPerConnection'), mb(of(kind, 'rssBeforeBytes')), mb(of(kind, 'rssAfterBytes'))]),
      ) +
      `wsbench ${perConnection} B per connection (target <= ${TARGET_BYTES_PER_CONNECTION}); ratio wsbench/plain = ${round(ratio, 3)} (target <= 1.0): ${verdict(met)}\n` +
      `wsbench fast/portable (server WSBENCH_PORTABLE=${PORTABLE_SERVE_ENV.WSBENCH_PORTABLE}): ${perConnection} / ${portable} B per connection = ${round(perConnection / portable, 3)}\n` +
      fastPathNotes;
    return { figures, runs, commands: [...commands], table: text };
  },
};
