/**
 * The message patterns of issue 10, measured end to end with the wsbench binary on both sides:
 *
 * - broadcast-fanout: `serve --mode broadcast` (default workers) with 10,000 connections in one
 *   room, one of which publishes 10 msg/s (`blast -c 10000 --publishers 1 --rate 10`). Delivery
 *   latency p50/p99/max, deliveries per second, missed, serve's CPU, and blast's own load.
 * - reply-vs-echo: 1,000 connections, closed loop, the same JSON-RPC message, against `serve --mode
 *   reply` (paired by id) and plain echo, side by side, interleaved; server on core 0 (one worker),
 *   blast (one process) on core 1. Round trip p50/p99 and msg/s, and whose CPU ran out.
 *
 * Medians of 3. Each run's client health (CPU, event-loop delay) is kept: when blast is busy, it,
 * not the server, may have set the figure, and the table says so.
 */
import type { BlastResult } from '../src/metrics/blast-result.js';
import { interleaved, type Benchmark } from './benchmark.js';
import {
  CLIENT_CORE, CpuSampler, median, parseJsonOutput, REPEATS, round, SERVER_CORE, startServer, startWsbench, stop, table, waitExit, waitFor,
} from './lib.js';

const PUBLISH_RATE = 10;
const SUBSCRIBERS = 10_000;
const RUN = '20s';

interface BroadcastRun {
  repeat: number;
  accepted: number;
  published: number;
  delivered: number;
  missed: number;
  deliveriesPerSecond: number;
  deliveryP50Ms: number;
  deliveryP99Ms: number;
  deliveryMaxMs: number;
  serveCpuPercent: number;
  blastBusy: boolean;
  blastCpuPercentMax: number;
  blastLoopDelayP99MsMax: number;
}

export const broadcastFanout: Benchmark = {
  name: 'broadcast-fanout',
  description: `serve --mode broadcast: ${SUBSCRIBERS} connections in one room, one publisher at ${PUBLISH_RATE} msg/s`,
  async run() {
    const runs: BroadcastRun[] = [];
    const commands = new Set<string>();
    for (let repeat = 0; repeat < REPEATS; repeat++) {
      const server = await startServer('wsbench', ['--mode', 'broadcast', '--max', String(SUBSCRIBERS + 100)]);
      commands.add(server.process.command);
      const serveCpu = new CpuSampler(server.process.pid, 100);
      try {
        const driver = startWsbench(['blast', server.url, '-c', String(SUBSCRIBERS), '--publishers', '1', '--rate', String(PUBLISH_RATE), '-d', RUN, '--json', '--no-save']);
        commands.add(driver.command);
        // serve's CPU over the run: from when every connection is open (serve's own count) to the
        // end of the blast, which adds the delivery drain (until a second without one) and the close.
        await waitFor('every subscriber open', 120_000, async () => (await server.counts()).open >= SUBSCRIBERS, 100);
        serveCpu.sample();
        const before = serveCpu.totalUs();
        const runStartedAt = performance.now();
        const { code } = await waitExit(driver, 300_000);
        const wallMs = performance.now() - runStartedAt;
        serveCpu.sample();
        if (code !== 0) throw new Error(`${driver.command} exited ${code}: ${driver.stderr().slice(-500)}`);
        const result = parseJsonOutput<BlastResult>(driver);
        const fanout = result.fanout!;
        const runMs = result.runMs ?? 1;
        const workers = result.generator.workers;
        runs.push({
          repeat,
          accepted: result.outcomes.accepted,
          published: fanout.published,
          delivered: fanout.delivered,
          missed: fanout.missed,
          deliveriesPerSecond: Math.round((fanout.delivered * 1000) / runMs),
          deliveryP50Ms: result.latency.roundTrip.p50_us / 1000,
          deliveryP99Ms: result.latency.roundTrip.p99_us / 1000,
          deliveryMaxMs: result.latency.roundTrip.max_us / 1000,
          serveCpuPercent: round(((serveCpu.totalUs() - before) / (wallMs * 1000)) * 100),
          blastBusy: result.generator.bottleneck,
          blastCpuPercentMax: Math.max(...workers.map((w) => w.cpuPercent)),
          blastLoopDelayP99MsMax: Math.max(...workers.map((w) => w.eventLoopDelayP99Ms)),
        });
      } finally {
        serveCpu.stop();
        await stop(server.process);
      }
    }
    const of = (key: keyof BroadcastRun) => median(runs.map((r) => r[key] as number));
    const busyRuns = runs.filter((r) => r.blastBusy).length;
    const figures = {
      subscribers: SUBSCRIBERS,
      publishRate: PUBLISH_RATE,
      ...Object.fromEntries((['accepted', 'published', 'delivered', 'missed', 'deliveriesPerSecond', 'deliveryP50Ms', 'deliveryP99Ms', 'deliveryMaxMs', 'serveCpuPercent', 'blastCpuPercentMax', 'blastLoopDelayP99MsMax'] as const).map((k) => [`${k}Median`, of(k)])),
      blastBusyRuns: busyRuns,
    };
    const text =
      table(
        ['accepted', 'published', 'delivered', 'missed', 'deliveries/s', 'delivery p50 ms', 'p99 ms', 'max ms', 'serve CPU % (all cores)', 'blast CPU % (busiest process)'],
        [[of('accepted'), of('published'), of('delivered'), of('missed'), of('deliveriesPerSecond'), of('deliveryP50Ms'), of('deliveryP99Ms'), of('deliveryMaxMs'), of('serveCpuPercent'), of('blastCpuPercentMax')]],
      ) + `blast was busy (CPU >= 85% or loop delay p99 >= 50 ms) in ${busyRuns} of ${runs.length} runs${busyRuns ? ': the delivery figures include its own delay' : ''}\n`;
    return { figures, runs, commands: [...commands], table: text };
  },
};

type ReplyKind = 'echo' | 'reply';
const REPLY_KINDS: readonly ReplyKind[] = ['echo', 'reply'];
const REQUEST = '{"jsonrpc":"2.0","id":{{seq}},"method":"ping","params":{"conn":{{conn}}}}';

interface ReplyRun {
  repeat: number;
  kind: ReplyKind;
  messagesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  unmatched: number;
  mismatched: number;
  serverCpuPercent: number;
  blastCpuPercent: number;
  blastBusy: boolean;
}

export const replyVsEcho: Benchmark = {
  name: 'reply-vs-echo',
  description: 'request/response by id against serve --mode reply, beside echo: 1,000 connections, closed loop',
  async run() {
    const runs: ReplyRun[] = [];
    const commands = new Set<string>();
    for (const { repeat, kind } of interleaved(REPLY_KINDS, REPEATS)) {
      const server = await startServer('wsbench', ['--mode', kind, '--workers', '1', '--max', '2000'], { core: SERVER_CORE });
      commands.add(server.process.command);
      const serverCpu = new CpuSampler(server.process.pid, 100);
      try {
        const pattern = kind === 'reply' ? ['--reply-id', 'id'] : [];
        const driver = startWsbench(['blast', server.url, '-c', '1000', '-d', '10s', '--workers', '1', '--message', REQUEST, ...pattern, '--json', '--no-save'], { core: CLIENT_CORE });
        commands.add(driver.command);
        const before = serverCpu.totalUs();
        const { code, wallMs } = await waitExit(driver, 120_000);
        serverCpu.sample();
        if (code !== 0) throw new Error(`${driver.command} exited ${code}: ${driver.stderr().slice(-500)}`);
        const result = parseJsonOutput<BlastResult>(driver);
        runs.push({
          repeat,
          kind,
          messagesPerSecond: result.messages.perSecond,
          p50Ms: result.latency.roundTrip.p50_us / 1000,
          p99Ms: result.latency.roundTrip.p99_us / 1000,
          unmatched: result.messages.unmatched,
          mismatched: result.messages.mismatched,
          serverCpuPercent: round(((serverCpu.totalUs() - before) / (wallMs * 1000)) * 100),
          blastCpuPercent: result.generator.workers[0]?.cpuPercent ?? NaN,
          blastBusy: result.generator.bottleneck,
        });
      } finally {
        serverCpu.stop();
        await stop(server.process);
      }
    }
    const of = (kind: ReplyKind, key: keyof ReplyRun) => median(runs.filter((r) => r.kind === kind).map((r) => r[key] as number));
    const keys = ['messagesPerSecond', 'p50Ms', 'p99Ms', 'unmatched', 'mismatched', 'serverCpuPercent', 'blastCpuPercent'] as const;
    const figures = {
      ...Object.fromEntries(REPLY_KINDS.map((kind) => [kind, Object.fromEntries(keys.map((k) => [`${k}Median`, of(kind, k)]))])),
      ratioReplyToEcho: round(of('reply', 'messagesPerSecond') / of('echo', 'messagesPerSecond'), 3),
      blastBusyRuns: runs.filter((r) => r.blastBusy).length,
    };
    const text =
      table(
        ['server mode', 'msg/s', 'rtt p50 ms', 'rtt p99 ms', 'unmatched', 'mismatched', 'server CPU %', 'blast CPU %'],
        REPLY_KINDS.map((kind) => [kind, of(kind, 'messagesPerSecond'), of(kind, 'p50Ms'), of(kind, 'p99Ms'), of(kind, 'unmatched'), of(kind, 'mismatched'), of(kind, 'serverCpuPercent'), of(kind, 'blastCpuPercent')]),
      ) + `reply/echo msg/s = ${figures.ratioReplyToEcho}; blast busy in ${figures.blastBusyRuns} of ${runs.length} runs (then its CPU, not the server's, set the rate)\n`;
    return { figures, runs, commands: [...commands], table: text };
  },
};
