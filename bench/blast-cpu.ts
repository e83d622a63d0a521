/**
 * blast-cpu: client CPU per echoed message, `wsbench blast --workers 1` against a naive ws client
 * (naive-client.ts), both closed loop with 100 connections and 64 B messages, against `wsbench serve
 * --workers 1` on core 0; the clients run on core 1.
 *
 * Headline figure: a steady-state window. 1 s after the first echo, the client's CPU (user+sys from
 * /proc/PID/stat, summed over the process and its children: for blast the coordinator and its worker)
 * and the server's messagesIn are read, and again 3 s later; µs per message = ΔCPU / Δmessages. This
 * leaves out process start-up, the ramp and the close. Also recorded: whole-run CPU (last /proc
 * reading of each process, sampled every 100 ms) divided by all messages the client counted.
 */
import type { BlastResult } from '../src/metrics/blast-result.js';
import { interleaved, type Benchmark } from './benchmark.js';
import {
  benchDist, childrenOf, CLIENT_CORE, cpuUs, userCpuUs, CpuSampler, median, parseJsonOutput, REPEATS, round, SERVER_CORE, sleep, startNode,
  startServer, startWsbench, stop, table, verdict, waitExit, waitFor, type ServerUnderTest, type Started,
} from './lib.js';
import { join } from 'node:path';

type ClientKind = 'naive-ws' | 'wsbench';
const KINDS: readonly ClientKind[] = ['naive-ws', 'wsbench'];
const CONNECTIONS = 100;
const SETTLE_MS = 1000;
const WINDOW_MS = 3000;

interface CpuRun {
  repeat: number;
  kind: ClientKind;
  windowMessages: number;
  windowMessagesPerSecond: number;
  /** Client tree (process + children) CPU per message in the window, µs. */
  windowUsPerMessage: number;
  /** The blast worker alone (the process holding the sockets); the naive client is one process. */
  windowWorkerUsPerMessage: number;
  windowCpuPercent: number;
  /** User-mode share of the tree's CPU in the window: the rest is the kernel's TCP work. */
  windowUserUsPerMessage: number;
  wholeRunMessages: number;
  wholeRunUsPerMessage: number;
}

function startClient(kind: ClientKind, server: ServerUnderTest): Started {
  return kind === 'naive-ws'
    ? startNode(join(benchDist, 'naive-client.js'), ['echo', server.url, String(CONNECTIONS), '5000', '64'], { core: CLIENT_CORE })
    : startWsbench(['blast', server.url, '-c', String(CONNECTIONS), '-d', '5s', '--workers', '1', '--json', '--no-save'], { core: CLIENT_CORE });
}

/** Tree CPU, its user-mode part, and the worker's CPU (blast: the child; naive: the process itself), µs. */
function clientCpu(kind: ClientKind, pid: number): { tree: number; treeUser: number; worker: number } {
  const children = childrenOf(pid);
  const treeUser = [pid, ...children].reduce((total, p) => total + (userCpuUs(p) ?? 0), 0);
  const own = cpuUs(pid) ?? NaN;
  const childCpu = children.map((c) => cpuUs(c) ?? 0);
  const worker = kind === 'wsbench' ? (childCpu[0] ?? NaN) : own;
  return { tree: own + childCpu.reduce((a, b) => a + b, 0), treeUser, worker };
}

export const blastCpu: Benchmark = {
  name: 'blast-cpu',
  description: 'client CPU per echoed message, 100 connections closed loop, 64 B: wsbench blast vs naive ws client',
  async run() {
    const runs: CpuRun[] = [];
    const commands = new Set<string>();
    for (const { repeat, kind } of interleaved(KINDS, REPEATS)) {
      const server = await startServer('wsbench', ['--workers', '1', '--max', '1000'], { core: SERVER_CORE });
      commands.add(server.process.command);
      try {
        const client = startClient(kind, server);
        commands.add(client.command);
        const sampler = new CpuSampler(client.pid, 100);
        try {
          await waitFor('the first echoes', 20_000, async () => (await server.counts()).messagesIn > 0);
          await sleep(SETTLE_MS);
          if (kind === 'wsbench') await waitFor('the blast worker', 5000, () => childrenOf(client.pid).length > 0);
          const cpuA = clientCpu(kind, client.pid);
          const messagesA = (await server.counts()).messagesIn;
          const timeA = performance.now();
          await sleep(WINDOW_MS);
          const cpuB = clientCpu(kind, client.pid);
          const messagesB = (await server.counts()).messagesIn;
          const windowMs = performance.now() - timeA;
          const { code } = await waitExit(client, 60_000);
          sampler.stop();
          if (code !== 0) throw new Error(`${client.command} exited ${code}: ${client.stderr().slice(-500)}`);
          const wholeRunMessages =
            kind === 'wsbench'
              ? parseJsonOutput<BlastResult>(client).messages.received
              : parseJsonOutput<{ totalMessages: number }>(client).totalMessages;
          const windowMessages = messagesB - messagesA;
          runs.push({
            repeat,
            kind,
            windowMessages,
            windowMessagesPerSecond: Math.round((windowMessages * 1000) / windowMs),
            windowUsPerMessage: round((cpuB.tree - cpuA.tree) / windowMessages, 2),
            windowWorkerUsPerMessage: round((cpuB.worker - cpuA.worker) / windowMessages, 2),
            windowUserUsPerMessage: round((cpuB.treeUser - cpuA.treeUser) / windowMessages, 2),
            windowCpuPercent: round(((cpuB.tree - cpuA.tree) / (windowMs * 1000)) * 100),
            wholeRunMessages,
            wholeRunUsPerMessage: round(sampler.totalUs() / wholeRunMessages, 2),
          });
        } finally {
          sampler.stop();
          await stop(client);
        }
      } finally {
        await stop(server.process);
      }
    }
    const of = (kind: ClientKind, key: keyof CpuRun) => median(runs.filter((r) => r.kind === kind).map((r) => r[key] as number));
    const ratio = of('wsbench', 'windowUsPerMessage') / of('naive-ws', 'windowUsPerMessage');
    const keys: (keyof CpuRun)[] = ['windowUsPerMessage', 'windowWorkerUsPerMessage', 'windowMessagesPerSecond', 'windowCpuPercent', 'windowUserUsPerMessage', 'wholeRunUsPerMessage'];
    const perClient = Object.fromEntries(KINDS.map((kind) => [kind, Object.fromEntries(keys.map((key) => [`${key}Median`, of(kind, key)]))]));
    const figures = { ...perClient, ratioWsbenchToNaive: round(ratio, 3), target: 'wsbench <= 0.5x naive ws client', met: ratio <= 0.5 };
    const text =
      table(
        ['client', 'µs/msg (tree)', 'µs/msg (worker)', 'user µs/msg', 'msg/s', 'client CPU %', 'µs/msg whole run'],
        KINDS.map((kind) => [kind, of(kind, 'windowUsPerMessage'), of(kind, 'windowWorkerUsPerMessage'), of(kind, 'windowUserUsPerMessage'), of(kind, 'windowMessagesPerSecond'), of(kind, 'windowCpuPercent'), of(kind, 'wholeRunUsPerMessage')]),
      ) + `ratio wsbench/naive = ${round(ratio, 3)}  (target <= 0.5: ${verdict(ratio <= 0.5)})\n`;
    return { figures, runs, commands: [...commands], table: text };
  },
};
