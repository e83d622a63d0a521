/**
 * socketio-vs-artillery: 1,000 Socket.IO clients emitting "echo" with an ack, closed loop (one emit
 * in flight each), against one socket.io 4 server (socketio-server.ts, WebSocket transport) on core 0,
 * every client on core 1:
 *
 *   blast      wsbench blast --protocol socketio --workers 1 -c 1000 --event echo
 *   artillery  Artillery's socketio engine (the npm `artillery` package, installed outside the
 *              project: ARTILLERY_BIN, else /tmp/artillery/node_modules/.bin/artillery; install it with
 *              `PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix /tmp/artillery artillery`).
 *              Where it is not there or does not run, its column is skipped, saying so.
 *
 * Both are counted the same way, from outside: once all 1,000 are connected and acks flow, 1 s later
 * the client tree's CPU (utime + stime from /proc, the process and its descendants) and the server's
 * ack count (its GET /count) are read, and again WINDOW_MS later. CPU per ack = ΔCPU / Δacks; memory
 * per connection = the client tree's RSS at the end of the window / 1,000. blast's own result gives
 * its ack latency histogram (p50, p99, max, count). Artillery times acks as well but prints only a
 * summary (ms percentiles) when its run ends, which this window cuts short.
 */
import { join } from 'node:path';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { BlastResult } from '../src/metrics/blast-result.js';
import { type Benchmark } from './benchmark.js';
import {
  benchDist, CLIENT_CORE, cpuUs, descendants, freePort, getJson, parseJsonOutput, round, SERVER_CORE, sleep, startNode, startProgram, startWsbench, stop,
  table, treeRssBytes, verdict, waitExit, waitFor, waitForPort, type Started,
} from './lib.js';

type ClientKind = 'blast' | 'artillery';
const CONNECTIONS = 1000;
const RUN_SECONDS = 14;
const SETTLE_MS = 1000;
const WINDOW_MS = 4000;
const PAYLOAD = 'x'.repeat(32);
const artilleryBin = process.env.ARTILLERY_BIN ?? '/tmp/artillery/node_modules/.bin/artillery';

interface Run {
  kind: ClientKind;
  windowAcks: number;
  acksPerSecond: number;
  cpuUsPerAck: number;
  cpuPercent: number;
  rssBytes: number;
  rssBytesPerConnection: number;
  /** blast: its ack round trips (run phase), µs. */
  ackLatency?: { p50_us: number; p99_us: number; max_us: number; count: number };
  /** Artillery: what it printed about ack latency, if anything. */
  artilleryLatencyLines?: string[];
}

function artillerySkipped(): string | undefined {
  if (!existsSync(artilleryBin)) return `artillery column skipped: ${artilleryBin} not found (install it with PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix /tmp/artillery artillery, or set ARTILLERY_BIN)`;
  return undefined;
}

/** Artillery's script: 1,000 virtual users arrive over 2 s, each emitting echo with an ack in a loop. */
function artilleryScript(port: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'wsbench-artillery-'));
  const file = join(dir, 'socketio.yml');
  writeFileSync(
    file,
    [
      'config:',
      `  target: "http://127.0.0.1:${port}"`,
      '  socketio:',
      '    transports: ["websocket"]',
      '  phases:',
      `    - duration: 2`,
      `      arrivalCount: ${CONNECTIONS}`,
      'scenarios:',
      '  - engine: socketio',
      '    flow:',
      '      - loop:',
      // acknowledge beside emit (not inside it): Artillery then passes an ack callback and times the ack.
      '          - emit:',
      '              channel: "echo"',
      `              data: "${PAYLOAD}"`,
      '            acknowledge:',
      `              data: "${PAYLOAD}"`,
      '        count: 1000000',
      '',
    ].join('\n'),
  );
  return file;
}

function startClient(kind: ClientKind, port: number): Started {
  if (kind === 'blast') {
    return startWsbench(
      ['blast', `ws://127.0.0.1:${port}`, '--protocol', 'socketio', '-c', String(CONNECTIONS), '-d', `${RUN_SECONDS}s`, '--workers', '1', '--event', 'echo', '--message', JSON.stringify(PAYLOAD), '--json', '--no-save'],
      { core: CLIENT_CORE },
    );
  }
  return startProgram(process.execPath, [artilleryBin, 'run', '--quiet', artilleryScript(port)], { core: CLIENT_CORE, env: { ARTILLERY_DISABLE_TELEMETRY: 'true', DO_NOT_TRACK: '1' } });
}

/** CPU of a process and all its descendants (blast's worker; Artillery's workers), µs. */
function treeCpuUs(pid: number): number {
  return [pid, ...descendants(pid)].reduce((sum, p) => sum + (cpuUs(p) ?? 0), 0);
}

async function measure(kind: ClientKind): Promise<Run> {
  const port = await freePort();
  const server = startNode(join(benchDist, 'socketio-server.js'), [String(port)], { core: SERVER_CORE });
  try {
    await waitForPort(port, 10_000);
    const count = () => getJson<{ connected: number; acks: number }>(`http://127.0.0.1:${port}/count`);
    const client = startClient(kind, port);
    try {
      await waitFor(`${kind}: ${CONNECTIONS} connected`, 60_000, async () => (await count()).connected >= CONNECTIONS);
      await sleep(SETTLE_MS);
      const cpuBefore = treeCpuUs(client.pid);
      const acksBefore = (await count()).acks;
      const t0 = performance.now();
      await sleep(WINDOW_MS);
      const cpuAfter = treeCpuUs(client.pid);
      const acksAfter = (await count()).acks;
      const elapsedMs = performance.now() - t0;
      const rss = treeRssBytes(client.pid);
      const windowAcks = acksAfter - acksBefore;
      const run: Run = {
        kind,
        windowAcks,
        acksPerSecond: Math.round((windowAcks / elapsedMs) * 1000),
        cpuUsPerAck: windowAcks > 0 ? round((cpuAfter - cpuBefore) / windowAcks, 2) : Number.NaN,
        cpuPercent: round(((cpuAfter - cpuBefore) / 1000 / elapsedMs) * 100),
        rssBytes: rss,
        rssBytesPerConnection: Math.round(rss / CONNECTIONS),
      };
      if (kind === 'blast') {
        await waitExit(client, (RUN_SECONDS + 30) * 1000);
        const result = parseJsonOutput<BlastResult>(client);
        const rtt = result.latency.roundTrip;
        run.ackLatency = { p50_us: rtt.p50_us, p99_us: rtt.p99_us, max_us: rtt.max_us, count: rtt.count };
      } else {
        await stop(client, 'SIGINT', 5000);
        run.artilleryLatencyLines = (client.stdout() + client.stderr()).split('\n').filter((line) => /response_time|latency|ack/i.test(line)).slice(0, 12);
      }
      return run;
    } finally {
      await stop(client);
    }
  } finally {
    await stop(server);
  }
}

export const socketioVsArtillery: Benchmark = {
  name: 'socketio-vs-artillery',
  description: `${CONNECTIONS} Socket.IO clients emitting with acks against one socket.io server: client CPU per ack and memory per connection, blast vs Artillery's socketio engine`,
  async run() {
    const skipped = artillerySkipped();
    const kinds: ClientKind[] = skipped ? ['blast'] : ['blast', 'artillery'];
    const runs: Run[] = [];
    for (const kind of kinds) {
      try {
        runs.push(await measure(kind));
      } catch (error) {
        if (kind === 'blast') throw error;
        runs.push({ kind, windowAcks: 0, acksPerSecond: 0, cpuUsPerAck: Number.NaN, cpuPercent: 0, rssBytes: 0, rssBytesPerConnection: 0, artilleryLatencyLines: [`failed: ${(error as Error).message.split('\n')[0]}`] });
      }
    }
    const blast = runs.find((r) => r.kind === 'blast')!;
    const artillery = runs.find((r) => r.kind === 'artillery');
    const artilleryOk = artillery !== undefined && artillery.windowAcks > 0;
    const cpuRatio = artilleryOk ? round(artillery.cpuUsPerAck / blast.cpuUsPerAck, 2) : null;
    const figures = {
      connections: CONNECTIONS,
      blastCpuUsPerAck: blast.cpuUsPerAck,
      artilleryCpuUsPerAck: artilleryOk ? artillery.cpuUsPerAck : null,
      artilleryOverBlastCpuPerAck: cpuRatio,
      blastBytesPerConnection: blast.rssBytesPerConnection,
      artilleryBytesPerConnection: artilleryOk ? artillery.rssBytesPerConnection : null,
      blastAckLatency: blast.ackLatency,
      // Artillery times acks too (socketio.response_time), but prints only a summary (min, max, mean,
      // median, p95, p99 in ms, at 0.1 ms) at the end of its run, which the window here stops early;
      // blast's result carries the whole HDR histogram (µs, compressed base64) to merge, compare and gate.
      artilleryAckLatency: 'summary percentiles in ms at the end of its run; no histogram in its output',
      target: 'lower CPU per ack than Artillery, and an ack latency histogram',
      met: cpuRatio === null ? null : cpuRatio > 1 && blast.ackLatency !== undefined && blast.ackLatency.count > 0,
      skipped: skipped ?? (artilleryOk ? null : `artillery column empty: ${artillery?.artilleryLatencyLines?.join(' ')}`),
    };
    const rows = runs.map((r) => [r.kind, r.acksPerSecond, Number.isNaN(r.cpuUsPerAck) ? '-' : r.cpuUsPerAck, r.cpuPercent, round(r.rssBytes / 1048576), round(r.rssBytesPerConnection / 1024, 1), r.ackLatency ? `${round(r.ackLatency.p50_us / 1000, 2)} / ${round(r.ackLatency.p99_us / 1000, 2)}` : 'summary only']);
    return {
      figures,
      runs,
      commands: [startCommand('blast'), skipped ? '' : startCommand('artillery')].filter(Boolean),
      table:
        table(['client', 'acks/s', 'CPU µs/ack', 'CPU %', 'RSS MiB', 'KiB/conn', 'ack p50/p99 ms'], rows) +
        (skipped ? `${skipped}\n` : '') +
        (cpuRatio === null ? '' : `Artillery/blast CPU per ack: ${cpuRatio}× ${verdict(Boolean(figures.met))}\n`) +
        (artillery?.artilleryLatencyLines?.length ? `Artillery printed: ${artillery.artilleryLatencyLines.join(' | ')}\n` : ''),
    };
  },
};

function startCommand(kind: ClientKind): string {
  return kind === 'blast'
    ? `wsbench blast ws://127.0.0.1:PORT --protocol socketio -c ${CONNECTIONS} -d ${RUN_SECONDS}s --workers 1 --event echo --message '"${PAYLOAD}"' --json --no-save`
    : `artillery run --quiet socketio.yml (1,000 VUs over 2 s, each: loop emit echo with acknowledge)`;
}
