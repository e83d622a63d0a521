/**
 * multi-host: one `wsbench serve` and three `wsbench blast --shard i/3 --barrier` "hosts", each in
 * its own network namespace on a bridge (test/helpers/netns.ts), 3 × 15,000 connections by default,
 * then `wsbench merge` of the three results.
 *
 * The point: each namespace has its own ephemeral port range (32768–60999, ~28k ports toward one
 * server address and port), as each machine of a real multi-host run has. 45,000 connections from
 * one source address to one server address and port cannot exist (blast refuses such a plan); from
 * three namespaces they can, without --source-ip, as from three machines.
 *
 * Reported per shard and merged: ramp time (the result's rampMs, and how long each shard waited at
 * the start and run barriers), the run phases' overlap (share, together/span seconds), connect
 * p50/p99, accepted/failed, the generator's health (bottleneck, per-process CPU and event-loop delay
 * in the ramp and the run). Serve's side, read inside its namespace: accepted and open (its
 * /healthz, polled every 250 ms from the shards' spawn), the time until it counted them all, its
 * processes' CPU % during that time, their open descriptors and RSS at the peak; the established
 * connections by peer address (ss); conntrack entries in each namespace; memory available. Where
 * the machine's CPU went (/proc/stat: user, system, softirq, idle, steal) in the ramp and in the
 * run, how long each process's event loop waited for a CPU while runnable (/proc/PID/schedstat), and
 * the CPU other processes took meanwhile: on 2 shared cores, these say whether a slow ramp or a
 * "bottleneck" flag is wsbench's, the namespaces' (veth, bridge, conntrack) or the machine's.
 *
 * WSBENCH_MULTI_HOST_PER_SHARD (default 15000), WSBENCH_MULTI_HOST_RATE (msg/s per connection,
 * default 1; 0 holds idle connections) and WSBENCH_MULTI_HOST_HOLD (the run, default 10s) change the
 * scale. Every process runs under `timeout` and every namespace is deleted afterwards, also on error
 * and on Ctrl-C (an 'exit' handler).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { ServeStats } from '../src/metrics/serve-stats.js';
import { execFileSync } from 'node:child_process';
import { cpus, freemem, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Benchmark } from './benchmark.js';
import type { MergedResult } from '../src/gate/merge.js';
import type { BlastResult } from '../src/metrics/blast-result.js';
import { readFdLimit } from '../src/limits/fd-budget.js';
import { cpuUs, parseJsonOutput, round, rssBytes, sleep, startWsbench, table, waitExit, wsbenchBin } from './lib.js';
import {
  createNetwork, descendants, establishedPeers, execIn, httpGetIn, netnsSupport, spawnIn, waitForHttpIn, type NetnsNetwork, type NsProcess,
} from '../test/helpers/netns.js';

const SHARDS = 3;
const PER_SHARD = Number(process.env.WSBENCH_MULTI_HOST_PER_SHARD ?? 15_000);
const RATE = process.env.WSBENCH_MULTI_HOST_RATE ?? '1';
const HOLD = process.env.WSBENCH_MULTI_HOST_HOLD ?? '10s';
const TOTAL = PER_SHARD * SHARDS;
const SERVE_PORT = 8000;
const BARRIER_PORT = 7070;
/** Every process ends by itself by then, whatever happens to this one. */
const SERVE_MAX_SECONDS = 600;
const SHARD_MAX_SECONDS = 420;

/** serve's /healthz, as far as this bench reads it. */
type ServeHealth = Pick<ServeStats, 'accepted' | 'open' | 'closed' | 'rejected' | 'handshakeTimeouts' | 'workers' | 'messagesIn'>;

interface ShardFigures {
  shard: string;
  namespace: string;
  address: string;
  exitCode: number | null;
  sourceMode: string;
  rampMs: number | null;
  runMs: number | null;
  startWaitMs: number | null;
  runWaitMs: number | null;
  runStartedAt: string | null;
  runEndedAt: string | null;
  attempted: number;
  accepted: number;
  failed: number;
  failedByReason: Record<string, number>;
  generatorLimits: Record<string, number>;
  rejected: number;
  dropped: number;
  connectP50Ms: number;
  connectP99Ms: number;
  connectMaxMs: number;
  rttP50Ms: number;
  rttP99Ms: number;
  messagesPerSecond: number;
  bottleneck: boolean;
  /** Per client process: CPU % and event-loop delay p99 in the ramp and in its main phase. */
  workers: { rampCpuPercent: number; rampLoopDelayP99Ms: number; cpuPercent: number; loopDelayP99Ms: number; phase: string; busy: boolean }[];
  /** Established connections serve saw from this namespace's address when all were open. */
  serverSawFromAddress: number;
  /** Open descriptors of its processes (coordinator, client processes) at the peak. */
  fdsAtPeak: number[];
  rssAtPeakBytes: number;
  conntrackEntriesAtPeak: number | null;
}

function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

/** The node processes under a `timeout` wrapper: its descendants. */
function treeOf(run: NsProcess): number[] {
  return descendants(run.pid);
}

/** The machine's CPU time by kind, from /proc/stat's first line (clock ticks, all cores). */
const CPU_KINDS = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;
function machineCpu(): number[] {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 1 + CPU_KINDS.length);
  return fields.map(Number);
}

/** Where the machine's CPU went between two machineCpu() readings: % of all cores, by kind. */
function cpuSplit(from: number[], to: number[]): Record<string, number> {
  const delta = to.map((v, i) => v - from[i]!);
  const total = delta.reduce((a, b) => a + b, 0) || 1;
  return Object.fromEntries(CPU_KINDS.map((kind, i) => [kind, round((delta[i]! / total) * 100)]));
}

/** Time a process's main thread (its event loop) has spent runnable but waiting for a CPU, ns. */
function runQueueWaitNs(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]);
  } catch {
    return NaN;
  }
}

/**
 * CPU µs and name of every process now: its own user + system time and its reaped children's (so
 * that short-lived processes that ended in between, such as the ip, curl and ss this bench runs, are
 * counted with their parent).
 */
function allProcessesCpu(): Map<number, { comm: string; cpuUs: number }> {
  const ticks = (fields: string[], from: number) => Number(fields[from]) + Number(fields[from + 1]);
  const snapshot = new Map<number, { comm: string; cpuUs: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
      const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
      // utime, stime, cutime, cstime: fields 14 to 17 of stat.
      const own = ticks(fields, 11) + ticks(fields, 13);
      snapshot.set(Number(entry), { comm, cpuUs: (own * 1e6) / CLOCK_TICKS });
    } catch {
      // Gone meanwhile.
    }
  }
  return snapshot;
}

/** CPU % (of one core) between two snapshots of the processes not in `mine`, by name, largest first. */
function othersCpu(from: Map<number, { comm: string; cpuUs: number }>, to: Map<number, { comm: string; cpuUs: number }>, mine: Set<number>, seconds: number) {
  const byName = new Map<string, number>();
  for (const [pid, now] of to) {
    if (mine.has(pid)) continue;
    const used = now.cpuUs - (from.get(pid)?.cpuUs ?? 0);
    const name = pid === process.pid ? 'this bench (with the ip, curl and ss it ran)' : now.comm;
    if (used > 0) byName.set(name, (byName.get(name) ?? 0) + used);
  }
  const entries = [...byName].map(([name, us]) => [name, round(us / 1e4 / seconds)] as const).sort((a, b) => b[1] - a[1]);
  return { totalPercent: round(entries.reduce((n, [, p]) => n + p, 0)), top: Object.fromEntries(entries.slice(0, 6)) };
}

async function conntrackCount(namespace: string): Promise<number | null> {
  try {
    return Number((await execIn(namespace, ['cat', '/proc/sys/net/netfilter/nf_conntrack_count'])).trim());
  } catch {
    return null;
  }
}

const ms = (us: number) => round(us / 1000, 2);
const CORES = cpus().length;
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();
const describeSplit = (split: Record<string, number>) =>
  Object.entries(split)
    .filter(([, percent]) => percent >= 0.5)
    .map(([kind, percent]) => `${kind} ${percent}`)
    .join(', ');

export const multiHost: Benchmark = {
  name: 'multi-host',
  description: `${SHARDS} blast shards × ${PER_SHARD.toLocaleString('en-US')} connections from 3 network namespaces against one serve, started by a barrier, merged`,
  async run() {
    const support = netnsSupport();
    if (!support.ok) throw new Error(`network namespaces are not available: ${support.reason}`);
    const scratch = mkdtempSync(join(tmpdir(), 'wsbench-bench-multi-host-'));
    const started: NsProcess[] = [];
    let network: NetnsNetwork | undefined;
    // Ctrl-C, or an error that ends the process: every process by PID, then every namespace.
    const onExit = () => {
      for (const run of started) for (const pid of [run.pid, ...treeOf(run)]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
      try {
        network?.destroy();
      } catch {
        // The next run's sweep gets what is left.
      }
    };
    process.on('exit', onExit);
    const commands: string[] = [];
    try {
      network = createNetwork(SHARDS);
      const net = network;
      const url = `ws://${net.server.address}:${SERVE_PORT}/ws`;
      const healthz = `http://${net.server.address}:${SERVE_PORT}/healthz`;
      const health = async () => JSON.parse(await httpGetIn(net.server.name, healthz)) as ServeHealth;

      const serve = spawnIn(net.server.name, [process.execPath, wsbenchBin, 'serve', '--host', net.server.address, '--port', String(SERVE_PORT), '--max', String(TOTAL)], { maxSeconds: SERVE_MAX_SECONDS });
      started.push(serve);
      commands.push(serve.command.replace(wsbenchBin, 'bin/wsbench.js'));
      await serve.waitForStderr(/listening on ws:\/\/\S+/, 20_000);
      for (const client of net.clients) await waitForHttpIn(client.name, healthz, 15_000);
      await sleep(1000);
      const servePids = treeOf(serve);
      const serveCpuBefore = new Map(servePids.map((pid) => [pid, cpuUs(pid) ?? NaN]));
      const serveWaitBefore = new Map(servePids.map((pid) => [pid, runQueueWaitNs(pid)]));
      const before = await health();
      const machineAtSpawn = machineCpu();
      const processesAtSpawn = allProcessesCpu();

      const barrier = `http://${net.clients[0]!.address}:${BARRIER_PORT}`;
      const shards = net.clients.map((client, i) => {
        const args = ['blast', url, '-c', String(TOTAL), '--shard', `${i + 1}/${SHARDS}`, '--rate', RATE, '-d', HOLD, '--barrier', barrier, '--barrier-timeout', '3m', '--json', '--no-save'];
        const run = spawnIn(client.name, [process.execPath, wsbenchBin, ...args], { maxSeconds: SHARD_MAX_SECONDS });
        started.push(run);
        if (i === 0) commands.push(run.command.replace(wsbenchBin, 'bin/wsbench.js'));
        return run;
      });
      const spawnedAt = performance.now();
      let exitedCount = 0;
      for (const shard of shards) void shard.exited.then(() => exitedCount++);

      // Serve's count, from its namespace, until it has them all (or the shards are gone).
      let serverAllAcceptedMs = NaN;
      let openPeak = 0;
      let last = before;
      while (exitedCount < SHARDS && performance.now() - spawnedAt < 300_000) {
        try {
          last = await health();
          openPeak = Math.max(openPeak, last.open);
          if (last.accepted - before.accepted >= TOTAL) {
            serverAllAcceptedMs = performance.now() - spawnedAt;
            break;
          }
        } catch {
          // Busy: the next poll.
        }
        await sleep(250);
      }
      const rampSeconds = (performance.now() - spawnedAt) / 1000;
      const machineDuringRamp = cpuSplit(machineAtSpawn, machineCpu());
      const mine = new Set([serve.pid, ...servePids, ...shards.flatMap((shard) => [shard.pid, ...treeOf(shard)])]);
      const othersDuringRamp = othersCpu(processesAtSpawn, allProcessesCpu(), mine, rampSeconds);
      const serveCpuPercentDuringRamp = servePids.map((pid) => round(((cpuUs(pid) ?? NaN) - serveCpuBefore.get(pid)!) / 1e4 / rampSeconds));
      const shardCpuPercentDuringRamp = shards.map((shard) => treeOf(shard).map((pid) => round((cpuUs(pid) ?? NaN) / 1e4 / rampSeconds)));
      // Waiting for a CPU while runnable, as a share of the time: a starved process, not a busy one.
      const serveRunQueueWaitPercentDuringRamp = servePids.map((pid) => round((runQueueWaitNs(pid) - serveWaitBefore.get(pid)!) / 1e7 / rampSeconds));
      const shardRunQueueWaitPercentDuringRamp = shards.map((shard) => treeOf(shard).map((pid) => round(runQueueWaitNs(pid) / 1e7 / rampSeconds)));
      const machineAtPeak = machineCpu();

      // At the peak: who is connected from where, descriptors, memory, conntrack.
      await sleep(500);
      const peers = await establishedPeers(net.server.name, SERVE_PORT).catch(() => new Map<string, number>());
      const atPeak = await health().catch(() => last);
      openPeak = Math.max(openPeak, atPeak.open);
      const serveFds = servePids.map(fdCount);
      const serveRss = servePids.reduce((n, pid) => n + (rssBytes(pid) ?? 0), 0);
      const shardFds = shards.map((shard) => treeOf(shard).map(fdCount));
      const shardRss = shards.map((shard) => treeOf(shard).reduce((n, pid) => n + (rssBytes(pid) ?? 0), 0));
      const conntrack = {
        server: await conntrackCount(net.server.name),
        bridge: await conntrackCount(net.bridge),
        clients: await Promise.all(net.clients.map((c) => conntrackCount(c.name))),
      };
      const freeMemoryAtPeakBytes = freemem();

      const exits: { code: number | null }[] = [];
      for (const shard of shards) exits.push(await shard.waitExit(SHARD_MAX_SECONDS * 1000));
      const machineDuringRunAndClose = cpuSplit(machineAtPeak, machineCpu());
      const results = shards.map((shard, i) => {
        try {
          return JSON.parse(shard.stdout()) as BlastResult;
        } catch {
          throw new Error(`shard ${i + 1}/${SHARDS} (exit ${exits[i]!.code}) printed no result; stderr: ${shard.stderr().slice(-1500)}`);
        }
      });
      const after = await health();
      await serve.stop('SIGTERM', 15_000);

      // Merge, in the root namespace: files only.
      const files = results.map((result, i) => {
        const file = join(scratch, `shard-${i + 1}.json`);
        writeFileSync(file, JSON.stringify(result));
        return file;
      });
      const merge = startWsbench(['merge', ...files, '--json', '--quiet']);
      const mergeExit = await waitExit(merge, 60_000);
      commands.push(merge.command.replace(scratch, '$TMP'));
      let mergeRefused: string | null = null;
      let merged: MergedResult;
      if (mergeExit.code === 0 || mergeExit.code === 99 || mergeExit.code === 1) {
        merged = parseJsonOutput<MergedResult>(merge);
      } else {
        // Refused (exit 2: under 95% overlap, say): the figures still, with --force, and why.
        mergeRefused = merge.stderr().trim();
        const forced = startWsbench(['merge', ...files, '--json', '--quiet', '--force']);
        await waitExit(forced, 60_000);
        merged = parseJsonOutput<MergedResult>(forced);
      }

      const shardFigures: ShardFigures[] = results.map((r, i) => ({
        shard: `${i + 1}/${SHARDS}`,
        namespace: net.clients[i]!.name,
        address: net.clients[i]!.address,
        exitCode: exits[i]!.code,
        sourceMode: r.plan.sourceMode,
        rampMs: r.rampMs,
        runMs: r.runMs,
        startWaitMs: r.sync?.startWaitMs ?? null,
        runWaitMs: r.sync?.runWaitMs ?? null,
        runStartedAt: r.clock?.runStartedAt ?? null,
        runEndedAt: r.clock?.runEndedAt ?? null,
        attempted: r.outcomes.attempted,
        accepted: r.outcomes.accepted,
        failed: r.outcomes.failed.total,
        failedByReason: r.outcomes.failed.byReason,
        generatorLimits: r.outcomes.failed.generatorLimits,
        rejected: r.outcomes.rejected.total,
        dropped: r.outcomes.dropped.total,
        connectP50Ms: ms(r.latency.connect.p50_us),
        connectP99Ms: ms(r.latency.connect.p99_us),
        connectMaxMs: ms(r.latency.connect.max_us),
        rttP50Ms: ms(r.latency.roundTrip.p50_us),
        rttP99Ms: ms(r.latency.roundTrip.p99_us),
        messagesPerSecond: round(r.messages.perSecond),
        bottleneck: r.generator.bottleneck,
        workers: r.generator.workers.map((w) => ({
          rampCpuPercent: w.ramp.cpuPercent,
          rampLoopDelayP99Ms: w.ramp.eventLoopDelayP99Ms,
          cpuPercent: w.cpuPercent,
          loopDelayP99Ms: w.eventLoopDelayP99Ms,
          phase: w.phase,
          busy: w.busy,
        })),
        serverSawFromAddress: peers.get(net.clients[i]!.address) ?? 0,
        fdsAtPeak: shardFds[i]!,
        rssAtPeakBytes: shardRss[i]!,
        conntrackEntriesAtPeak: conntrack.clients[i]!,
      }));
      const overlap = merged.merged.overlap;
      const mergedFigures = {
        exitCode: mergeExit.code,
        refused: mergeRefused,
        rampMs: merged.rampMs,
        runMs: merged.runMs,
        overlapShare: overlap ? round(overlap.share, 4) : null,
        overlapTogetherS: overlap ? round(overlap.togetherMs / 1000, 2) : null,
        overlapSpanS: overlap ? round(overlap.spanMs / 1000, 2) : null,
        attempted: merged.outcomes.attempted,
        accepted: merged.outcomes.accepted,
        failed: merged.outcomes.failed.total,
        failedByReason: merged.outcomes.failed.byReason,
        rejected: merged.outcomes.rejected.total,
        dropped: merged.outcomes.dropped.total,
        connectP50Ms: ms(merged.latency.connect.p50_us),
        connectP99Ms: ms(merged.latency.connect.p99_us),
        connectMaxMs: ms(merged.latency.connect.max_us),
        rttP50Ms: ms(merged.latency.roundTrip.p50_us),
        rttP99Ms: ms(merged.latency.roundTrip.p99_us),
        messagesPerSecond: round(merged.messages.perSecond),
        bottleneck: merged.generator.bottleneck,
      };
      const serveFigures = {
        accepted: after.accepted - before.accepted,
        rejected: Object.values(after.rejected).reduce((a, b) => a + b, 0) - Object.values(before.rejected).reduce((a, b) => a + b, 0),
        handshakeTimeouts: after.handshakeTimeouts - before.handshakeTimeouts,
        openPeak,
        allAcceptedAfterMs: Math.round(serverAllAcceptedMs),
        processes: servePids.length,
        workers: after.workers,
        cpuPercentDuringRamp: serveCpuPercentDuringRamp,
        fdsAtPeak: serveFds,
        rssAtPeakBytes: serveRss,
        establishedByPeer: Object.fromEntries(peers),
        conntrackEntriesAtPeak: conntrack.server,
      };
      const figures = {
        shards: SHARDS,
        connectionsPerShard: PER_SHARD,
        total: TOTAL,
        ratePerConnection: Number(RATE),
        hold: HOLD,
        merged: mergedFigures,
        perShard: shardFigures,
        serve: serveFigures,
        shardCpuPercentDuringRamp,
        serveRunQueueWaitPercentDuringRamp,
        shardRunQueueWaitPercentDuringRamp,
        machineCpuPercentDuringRamp: machineDuringRamp,
        otherProcessesCpuPercentDuringRamp: othersDuringRamp,
        machineCpuPercentDuringRunAndClose: machineDuringRunAndClose,
        cores: CORES,
        bridgeConntrackEntriesAtPeak: conntrack.bridge,
        freeMemoryAtPeakBytes,
        allAccounted: mergedFigures.accepted === TOTAL && serveFigures.accepted === TOTAL && mergedFigures.failed === 0,
        fdLimitPerProcess: readFdLimit(),
      };

      const workers = (f: ShardFigures) => f.workers.map((w) => `${w.rampCpuPercent}/${w.cpuPercent}%${w.busy ? '!' : ''}`).join(' ');
      const text =
        table(
          ['shard', 'ramp s', 'start wait s', 'run wait s', 'accepted', 'failed', 'connect p50 ms', 'p99 ms', 'rtt p99 ms', 'msg/s', 'serve saw', 'bottleneck', 'CPU ramp/run'],
          [
            ...shardFigures.map((f) => [
              f.shard, round((f.rampMs ?? NaN) / 1000, 2), round((f.startWaitMs ?? NaN) / 1000, 2), round((f.runWaitMs ?? NaN) / 1000, 2), f.accepted, f.failed,
              f.connectP50Ms, f.connectP99Ms, f.rttP99Ms, f.messagesPerSecond, f.serverSawFromAddress, String(f.bottleneck), workers(f),
            ] as (string | number)[]),
            ['merged', round((mergedFigures.rampMs ?? NaN) / 1000, 2), '', '', mergedFigures.accepted, mergedFigures.failed, mergedFigures.connectP50Ms, mergedFigures.connectP99Ms, mergedFigures.rttP99Ms, mergedFigures.messagesPerSecond, [...peers.values()].reduce((a, b) => a + b, 0), String(mergedFigures.bottleneck), ''],
          ],
        ) +
        `overlap ${overlap ? `${round(overlap.share * 100, 2)}% (${mergedFigures.overlapTogetherS} s together of ${mergedFigures.overlapSpanS} s)` : 'n/a'}; merge exit ${mergeExit.code}${mergeRefused ? ` (refused: ${mergeRefused})` : ''}\n` +
        `serve: accepted ${serveFigures.accepted}, open peak ${openPeak}, all counted ${round(serverAllAcceptedMs / 1000, 2)} s after the shards' spawn; ` +
        `${serveFigures.processes} processes, CPU % in that time ${serveCpuPercentDuringRamp.join('/')}, fds ${serveFds.join('/')}, RSS ${round(serveRss / 1048576, 1)} MB\n` +
        `blast CPU % in that time (coordinator, client processes) ${shardCpuPercentDuringRamp.map((s) => s.join('/')).join('  ')}; fds ${shardFds.map((s) => s.join('/')).join('  ')}\n` +
        `waiting for a CPU in that time, % of it: serve ${serveRunQueueWaitPercentDuringRamp.join('/')}; blast ${shardRunQueueWaitPercentDuringRamp.map((s) => s.join('/')).join('  ')}\n` +
        `machine CPU (% of ${CORES} cores) during the ramp: ${describeSplit(machineDuringRamp)}; run and close: ${describeSplit(machineDuringRunAndClose)}\n` +
        `other processes' CPU % (of one core) in that time: ${othersDuringRamp.totalPercent} (${Object.entries(othersDuringRamp.top).map(([name, percent]) => `${name} ${percent}`).join(', ')})\n` +
        `conntrack entries at the peak: server ${conntrack.server}, bridge ${conntrack.bridge}, clients ${conntrack.clients.join('/')}; memory free ${round(freeMemoryAtPeakBytes / 1073741824, 1)} GiB\n`;
      return { figures, runs: [{ shards: results.map((r) => ({ ...r, timeline: undefined, histograms: undefined })), serve: { before, atPeak, after } }], commands, table: text };
    } finally {
      for (const run of started) await run.stop('SIGKILL', 1000);
      network?.destroy();
      process.off('exit', onExit);
      rmSync(scratch, { recursive: true, force: true });
    }
  },
};
