/**
 * serve-memory: server RSS per idle open connection at 10,000 connections, `wsbench serve
 * --workers 1` against plain ws. Target (issue 9): at most 5 KB (5,000 bytes) per connection, and
 * no more than plain ws. Each measurement starts a fresh server (core 0), reads its RSS
 * (summed over its processes)
 * after a settle, opens 10,000 idle connections with `wsbench blast --rate 0` (core 1), waits until
 * the server itself counts them open, settles 2 s, reads RSS again, then ends the blast.
 */
import { interleaved, type Benchmark } from './benchmark.js';
import {
  CLIENT_CORE, median, REPEATS, round, SERVER_CORE, treeRssBytes, sleep, startServer, startWsbench, stop, table, verdict, waitFor,
  type ServerKind,
} from './lib.js';

const CONNECTIONS = 10_000;
/** Issue 9's target for wsbench serve: RSS per idle connection, bytes (KB = 1000 bytes). */
const TARGET_BYTES_PER_CONNECTION = 5_000;
const SETTLE_MS = 2000;
const KINDS: readonly ServerKind[] = ['plain-ws', 'wsbench'];
/**
 * --max 15000 keeps the one worker in the server's own process (it runs behind a primary only near
 * its fd limit); RSS is summed over the server's processes all the same.
 */
const SERVE_ARGS = ['--workers', '1', '--max', '15000'];
const BLAST_ARGS = ['-c', String(CONNECTIONS), '--rate', '0', '-d', '20s', '--workers', '1', '--no-save', '--quiet'];

interface MemoryRun {
  repeat: number;
  kind: ServerKind;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  open: number;
  bytesPerConnection: number;
}

export const serveMemory: Benchmark = {
  name: 'serve-memory',
  description: `server RSS per idle connection at ${CONNECTIONS.toLocaleString('en-US')}: wsbench serve vs plain ws`,
  async run() {
    const runs: MemoryRun[] = [];
    const commands = new Set<string>();
    for (const { repeat, kind } of interleaved(KINDS, REPEATS)) {
      const server = await startServer(kind, SERVE_ARGS, { core: SERVER_CORE });
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
          runs.push({ repeat, kind, rssBeforeBytes, rssAfterBytes, open, bytesPerConnection: Math.round((rssAfterBytes - rssBeforeBytes) / CONNECTIONS) });
        } finally {
          await stop(load, 'SIGINT');
        }
      } finally {
        await stop(server.process);
      }
    }
    const of = (kind: ServerKind, key: keyof MemoryRun) => median(runs.filter((r) => r.kind === kind).map((r) => r[key] as number));
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
    const figures = { ...perServer, ratioWsbenchToPlain: round(ratio, 3), target: `wsbench <= ${TARGET_BYTES_PER_CONNECTION} B per connection and <= plain ws`, met };
    const mb = (bytes: number) => round(bytes / 1048576, 1);
    const text =
      table(
        ['server', 'B/conn (median)', 'RSS before MB', 'RSS at 10k MB'],
        KINDS.map((kind) => [kind, of(kind, 'bytesPerConnection'), mb(of(kind, 'rssBeforeBytes')), mb(of(kind, 'rssAfterBytes'))]),
      ) +
      `wsbench ${perConnection} B per connection (target <= ${TARGET_BYTES_PER_CONNECTION}); ratio wsbench/plain = ${round(ratio, 3)} (target <= 1.0): ${verdict(met)}\n`;
    return { figures, runs, commands: [...commands], table: text };
  },
};
