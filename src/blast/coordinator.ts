/**
 * `blast()`: plan the run, start wsbench's own server when no URL is given, fork the client
 * processes with their exact shares, follow their ticks, end the run (duration, quota, idle, or
 * abort), and merge their snapshots into one result. It emits progress and returns data.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { arch, cpus, platform, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { resolveBlastConfig, type BlastConfig, type BlastOptions } from '../config/blast-config.js';
import { BLAST_OPTIONS } from '../config/blast-options.js';
import { planOf } from '../config/option-table.js';
import { RunError } from '../config/errors.js';
import { redactUrl } from '../config/redact-headers.js';
import type { BlastWorkerToCoordinator, CoordinatorToBlastWorker } from '../ipc/blast-messages.js';
import { planBlast, type BlastPlan } from '../limits/blast-plan.js';
import { planServe } from '../limits/serve-plan.js';
import { firstConnectionOf, publishersAmong } from '../config/shard.js';
import { addBlastCounters, emptyBlastCounters, type BlastCounters } from '../metrics/blast-counters.js';
import { buildBlastResult, type BlastResult, type EndReason, type LatencyKind } from '../metrics/blast-result.js';
import { TimelineBuilder } from '../metrics/timeline.js';
import type { WorkerSnapshot } from '../metrics/worker-snapshot.js';
import type { IntervalSample } from '../metrics/timeline.js';
import { splitExact } from '../limits/split.js';
import type { RunningServer } from '../serve/server.js';
import { askedSubprotocols, buildRequestHead, tlsFor } from './ws-connection.js';
import { arriveAt, BarrierHost, waitUntil } from './barrier.js';
import { LiveMetrics } from './live-metrics.js';
import { showDataPlaceholders, withDataPlaceholders } from '../data/placeholders.js';
import { summarizeData } from '../data/data-config.js';
import { socketIoEndpoint } from '../config/protocol-config.js';

/** Ramp: connections open. Run: traffic at full concurrency for -d. Closing: connections close. */
export type BlastPhase = 'ramp' | 'run' | 'closing';

export interface BlastProgress {
  readonly phase: BlastPhase;
  readonly elapsedMs: number;
  /** Time since the run began (0 during the ramp). */
  readonly runElapsedMs: number;
  readonly counters: BlastCounters;
}

export interface BlastStart {
  readonly url: string;
  readonly ownServer: boolean;
  readonly plan: BlastPlan;
  readonly config: BlastConfig;
}

export interface BlastRunOptions {
  /** Abort ends the run early; the result still comes back, marked interrupted. */
  readonly signal?: AbortSignal;
  readonly onStart?: (start: BlastStart) => void;
  readonly onProgress?: (progress: BlastProgress) => void;
  /** Recorded in the result, so a results file says what produced it. */
  readonly command?: readonly string[];
  /** A line worth telling while it waits (the barrier, --start-at) or once (where /metrics is). */
  readonly onNotice?: (line: string) => void;
  /** wsbench find: connections to open at the start, of config.connections (the most any step asks). */
  readonly startConnections?: number;
  /** wsbench find: drives the run phase (no -d); the run ends when it resolves (endReason 'completed'). */
  readonly control?: (run: RunControl) => Promise<void>;
}

/** What wsbench find drives a run with (see BlastRunOptions.control). */
export interface RunControl {
  /** Hold `connections` over all client processes (split exactly), at `rate` messages per second per connection. */
  target(connections: number, rate?: number): void;
  /** Resolves when every process has applied the last target and had each of its attempts answered. */
  settled(): Promise<void>;
  /** Counters so far, summed over the processes (each as of its last tick). */
  counters(): BlastCounters;
  /** Every process's per-second sample as it arrives; returns the unsubscribe. */
  onInterval(listener: (processIndex: number, sample: IntervalSample) => void): () => void;
  readonly processes: number;
  /** Aborted when the run ends by itself (interrupted, a process lost). */
  readonly ended: AbortSignal;
}

/** How a shard got in step with the others: --start-at and --barrier, for the result's `sync`. */
interface SyncState {
  readonly startAt: number | undefined;
  /** Waited before the ramp: for --start-at, then at the barrier's start stage. */
  startWaitMs: number;
  /** --start-at had passed by this much when the shard got there (0: on time). */
  startLateByMs: number;
  /** Waited at the barrier's run stage, once the ramp was done. */
  runWaitMs: number | null;
  problem: string | null;
  host: BarrierHost | undefined;
  readonly key: string;
}

const packageVersion = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const STALL_TIMEOUT_MS = 15_000;
/** The longest a client process may take to report after 'stop': its closing drain (10 s at most) and STALL_TIMEOUT_MS. */
const REPORT_CAP_MS = 10_000 + STALL_TIMEOUT_MS;
/** Stands in for its own server's URL when planning before that server exists (the port is unknown). */
const OWN_SERVER_URL = 'ws://127.0.0.1:1/ws';
/**
 * Client processes hold many long-lived connections and allocate little per message. A small young
 * generation, and one full collection when the ramp is done (the worker calls gc), keep the ramp's
 * garbage from staying in the process's memory for the whole hold: measured with 10,000 idle
 * connections, RSS per connection went from ~5.4 KB to ~2.6 KB, with no measurable cost per message.
 * That collection also compacts (--compact-on-every-full-gc): without it the connections' objects
 * stay scattered over the pages the ramp's garbage filled, and the old space keeps about twice what
 * is live (measured at 10,000: 33 MB committed for 17 MB live; compacted, 18 MB, ~1.5 KB less RSS per
 * connection). Full collections are rare in a steady run, so compacting each costs little.
 */
const CLIENT_EXEC_ARGV = ['--max-semi-space-size=1', '--compact-on-every-full-gc', '--expose-gc'];
/**
 * glibc's malloc gives each thread that allocates an arena of its own (V8's GC helper threads, libuv's
 * pool), and what is freed in one stays there. A client process does its work on one thread, so its
 * processes run with one arena (MALLOC_ARENA_MAX=1; a value the user set is kept; other C libraries
 * ignore it). Measured with 10,000 idle connections, RSS per connection (marginal over 100), one
 * arena vs glibc's default, on the same machine and hour: Node 20 1,168 vs 1,407 B, 24 ~1,800 vs
 * ~1,930 B, 26 1,444 vs 1,896 B (bench/blast-memory.ts measures it; the README has its figures).
 */
function clientEnv(): NodeJS.ProcessEnv {
  return { ...process.env, MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '1' };
}

interface WorkerState {
  readonly index: number;
  readonly child: ChildProcess;
  counters: BlastCounters;
  rampDone: boolean;
  idle: boolean;
  messagesDone: boolean;
  snapshot: WorkerSnapshot | undefined;
  exited: boolean;
  /** The last 'target' (wsbench find) this process said it applied. */
  targetSeq: number;
}

export async function blast(options: BlastOptions | BlastConfig = {}, run: BlastRunOptions = {}): Promise<BlastResult> {
  const config = 'payload' in options && Buffer.isBuffer(options.payload) ? (options as BlastConfig) : resolveBlastConfig(options as BlastOptions);
  // Every plan is checked before any side effect: no server started, no process forked, for a plan
  // that cannot work. Its own server's plan too; the port is only known once it listens.
  planBlast(config, new URL(config.url ?? OWN_SERVER_URL));
  // With --compress its own server accepts permessage-deflate (serve --compress).
  const ownServerOptions = { host: '127.0.0.1', port: 0, max: config.connections, heartbeat: 0, compress: config.compression !== undefined } as const;
  if (config.url === undefined) planServe(ownServerOptions.max, undefined);
  let server: RunningServer | undefined;
  let url = config.url;
  if (url === undefined) {
    // Loaded only when needed: a blast against another server does not carry a server in memory.
    const { serve } = await import('../serve/server.js');
    server = await serve(ownServerOptions);
    url = server.url;
  }
  const live = config.metricsPort !== undefined ? new LiveMetrics(config.shard ? `${config.shard.index}/${config.shard.count}` : '1/1', config.connections, emptyBlastCounters) : undefined;
  const sync: SyncState = { startAt: config.startAt, startWaitMs: 0, startLateByMs: 0, runWaitMs: null, problem: null, host: undefined, key: loadKey(config, url) };
  try {
    const target = new URL(url);
    const plan = planBlast(config, target);
    await probe(plan.connectHost, plan.connectPort, config.connectTimeoutMs);
    if (live) run.onNotice?.(`metrics at ${await live.listen(config.metricsHost, config.metricsPort!)}`);
    run.onStart?.({ url: config.recordHeaders ? url : redactUrl(url), ownServer: server !== undefined, plan, config });
    const data = config.data ? summarizeData(config.data, config.dataUnique, config.shard?.totalConnections ?? config.connections) : undefined;
    if (data?.wrapped) {
      run.onNotice?.(`--data ${data.file} has ${data.rows} rows for ${config.shard?.totalConnections ?? config.connections} connections: they go round again (connection N takes row N mod ${data.rows}); --data-unique refuses this`);
    }
    await startTogether(config, sync, run);
    return await runWorkers(config, plan, target, server !== undefined, run, sync, live);
  } finally {
    await sync.host?.close();
    await live?.close();
    await server?.close();
  }
}

/** The same for every shard of one load, different for another: the barrier refuses a shard of another load. */
function loadKey(config: BlastConfig, url: string): string {
  return createHash('sha256').update(`${redactUrl(url)} ${config.shard?.totalConnections ?? config.connections} ${config.shard?.count ?? 1}`).digest('hex').slice(0, 12);
}

/**
 * Before the first connection: wait for --start-at, then at the barrier's start stage (shard 1
 * serves the barrier first). Throws RunError (exit 1) when the barrier does not release it in time.
 */
async function startTogether(config: BlastConfig, sync: SyncState, run: BlastRunOptions): Promise<void> {
  const began = Date.now();
  if (config.startAt !== undefined) {
    const late = began - config.startAt;
    if (late > 0) {
      sync.startLateByMs = late;
      run.onNotice?.(`--start-at ${new Date(config.startAt).toISOString()} passed ${(late / 1000).toFixed(1)}s ago: starting now`);
    } else {
      run.onNotice?.(`waiting ${(-late / 1000).toFixed(1)}s for --start-at ${new Date(config.startAt).toISOString()}`);
      await waitUntil(config.startAt, run.signal);
    }
  }
  if (config.barrier !== undefined && config.shard) {
    const barrier = new URL(config.barrier);
    if (config.shard.index === 1) sync.host = await BarrierHost.listen(Number(barrier.port || 80), config.shard.count, sync.key);
    run.onNotice?.(`waiting at the barrier ${barrier.href} for all ${config.shard.count} shards${sync.host ? ' (this shard serves it)' : ''}`);
    await arriveAt(barrier, 'start', config.shard, sync.key, config.barrierTimeoutMs, run.signal);
  }
  if (run.signal?.aborted) throw new RunError('INTERRUPTED', 'interrupted before the first connection: nothing was measured');
  sync.startWaitMs = Date.now() - began;
}

/** The host's clock source (Linux), recorded beside wall-clock times that shards compare. */
function clockSource(): string | null {
  try {
    return readFileSync('/sys/devices/system/clocksource/clocksource0/current_clocksource', 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/** One TCP connect first: "nothing is listening" is one clear error, not N failed connections. */
function probe(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    socket.setTimeout(timeoutMs);
    const fail = (code: string) => {
      socket.destroy();
      reject(new RunError('UNREACHABLE', `nothing answers at ${host}:${port} (${code}); is the server running?`));
    };
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => fail('ETIMEDOUT'));
    socket.once('error', (error: NodeJS.ErrnoException) => fail(error.code ?? error.message));
  });
}

async function runWorkers(config: BlastConfig, plan: BlastPlan, target: URL, ownServer: boolean, run: BlastRunOptions, sync: SyncState, live: LiveMetrics | undefined): Promise<BlastResult> {
  const startedAt = Date.now();
  if (live) live.phase = 'ramp';
  const entry = fileURLToPath(new URL('./worker-main.js', import.meta.url));
  // With {{data.*}} in the URL or a header, each client process renders it per connection.
  // Socket.IO: the upgrade goes to the Engine.IO endpoint; the URL's path is the namespace.
  const requestHead = withDataPlaceholders(config.socketio ? socketIoEndpoint(target, config.socketio) : target, (url) => buildRequestHead(url, config.headers, config.subprotocol, config.compression));
  const subprotocols = askedSubprotocols(config.headers, config.subprotocol);
  let phase: BlastPhase = 'ramp';
  let rampDoneAt = 0;
  let runStartedAt = 0;
  const barrierWait = new AbortController();
  let endReason: EndReason | undefined;
  let finish!: (reason: EndReason) => void;
  const finished = new Promise<void>((resolve) => (finish = (reason) => {
    endReason ??= reason;
    resolve();
  }));

  const timeline = new TimelineBuilder();
  const settleTimeline = () => timeline.settle(workers.filter((w) => !w.exited).map((w) => w.index));
  // {{conn}} numbers run on from one process to the next; the run's first --publishers connections publish.
  const shardBase = firstConnectionOf(config.shard);
  const firstConnection = plan.shares.map((_, index) => shardBase + plan.shares.slice(0, index).reduce((total, share) => total + share.connections, 0));
  const intervalListeners = new Set<(processIndex: number, sample: IntervalSample) => void>();
  const startShares = run.startConnections === undefined ? undefined : splitExact(Math.min(run.startConnections, config.connections), plan.shares.length);
  const workers: WorkerState[] = plan.shares.map((share, index) => {
    const child = fork(entry, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json', execArgv: CLIENT_EXEC_ARGV, env: clientEnv() });
    const state: WorkerState = { index, child, counters: emptyBlastCounters(), rampDone: false, idle: false, messagesDone: false, snapshot: undefined, exited: false, targetSeq: 0 };
    child.on('message', (message: BlastWorkerToCoordinator) => {
      if (message.t === 'tick') {
        Object.assign(state, { counters: message.counters, rampDone: message.rampDone, idle: message.idle, messagesDone: message.messagesDone, targetSeq: message.targetSeq ?? 0 });
        if (message.interval) {
          timeline.add(index, message.interval);
          live?.addInterval(index, message.interval);
          for (const listener of intervalListeners) listener(index, message.interval);
          settleTimeline();
        }
        checkPhase();
      } else if (message.t === 'final') {
        state.snapshot = message.snapshot;
        timeline.add(index, message.snapshot.lastInterval);
        live?.addInterval(index, message.snapshot.lastInterval);
        state.counters = message.snapshot.counters;
      }
    });
    child.on('close', () => {
      state.exited = true;
      live?.processEnded(index);
      // Its connections are missing from the result, which names it (missingClientProcesses).
      if (!state.snapshot) checkPhase();
    });
    const start: CoordinatorToBlastWorker = {
      t: 'start',
      options: {
        // The options every process takes as they are (the table's `plan` entries), then its share.
        ...planOf(BLAST_OPTIONS, config),
        index,
        host: plan.connectHost,
        port: plan.connectPort,
        requestHead,
        subprotocols,
        compression: config.compression,
        tls: tlsFor(target, config.insecure),
        connections: share.connections,
        connectRate: share.connectRate,
        maxHandshakes: share.maxHandshakes,
        stampConnection: config.stampConnection,
        source: share.source,
        pattern: config.pattern,
        publishers: publishersAmong(config.publishers, firstConnection[index]! - shardBase, share.connections),
        scenario: config.scenario,
        firstConnection: firstConnection[index]!,
        reconnectJitter: config.reconnectJitter,
        openAtStart: startShares?.[index],
        // Only this process's connections' rows (data/data-file.ts), not the file.
        data: config.data?.rowsFor(firstConnection[index]!, share.connections),
        socketio: config.socketio,
        graphql: config.graphql,
        payloadBase64: config.payload.toString('base64'),
      },
    };
    child.send(start);
    return state;
  });

  let runTimer: NodeJS.Timeout | undefined;
  function beginRun(): void {
    if (endReason !== undefined) return;
    phase = 'run';
    if (live) live.phase = 'run';
    runStartedAt = Date.now();
    if (run.control) {
      for (const worker of workers) if (!worker.exited && worker.child.connected) worker.child.send({ t: 'run' } satisfies CoordinatorToBlastWorker);
      run.control(control()).then(
        () => finish('completed'),
        () => finish('interrupted'),
      );
      return;
    }
    // -d 0: a run of no length, so no traffic at all (the connections open, and close).
    if (config.durationMs === 0) return finish('duration');
    for (const worker of workers) if (!worker.exited && worker.child.connected) worker.child.send({ t: 'run' } satisfies CoordinatorToBlastWorker);
    runTimer = setTimeout(finish, config.durationMs, 'duration');
    checkPhase();
  }
  const controlEnded = new AbortController();
  let targetSeq = 0;
  function control(): RunControl {
    return {
      processes: workers.length,
      ended: controlEnded.signal,
      target(connections, rate) {
        targetSeq++;
        // A process that has exited holds nothing and takes no share.
        const shares = retarget(workers.map((w) => (w.exited ? 0 : w.counters.open)), workers.map((w, i) => (w.exited ? 0 : plan.shares[i]!.connections)), Math.min(connections, config.connections));
        workers.forEach((worker, index) => {
          if (!worker.exited && worker.child.connected) worker.child.send({ t: 'target', seq: targetSeq, connections: shares[index]!, rate } satisfies CoordinatorToBlastWorker);
        });
      },
      settled() {
        const seq = targetSeq;
        return new Promise((resolve) => {
          const check = setInterval(() => {
            const running = workers.filter((w) => !w.exited);
            if (controlEnded.signal.aborted || running.every((w) => w.targetSeq >= seq && w.rampDone)) {
              clearInterval(check);
              resolve();
            }
          }, 20);
        });
      },
      counters: () => progress().counters,
      onInterval(listener) {
        intervalListeners.add(listener);
        return () => intervalListeners.delete(listener);
      },
    };
  }
  function checkPhase(): void {
    const running = workers.filter((w) => !w.exited);
    if (running.length === 0) return finish('client-process-lost');
    if (phase === 'ramp' && rampDoneAt === 0 && running.every((w) => w.rampDone)) {
      // The ramp is global: the run starts when every process has had every attempt answered, and
      // with --barrier when every shard's ramp is done too.
      rampDoneAt = Date.now();
      if (config.barrier === undefined || !config.shard) return beginRun();
      if (live) live.phase = 'waiting';
      run.onNotice?.(`ramp done: waiting at the barrier for the other shards' ramps`);
      arriveAt(new URL(config.barrier), 'run', config.shard, sync.key, config.barrierTimeoutMs, barrierWait.signal).then(
        (release) => {
          sync.runWaitMs = release.waitedMs;
          beginRun();
        },
        (error: Error) => {
          sync.problem = error.message;
          finish('barrier');
        },
      );
      return;
    }
    if (phase !== 'run') return;
    if (running.every((w) => w.idle)) finish('idle');
    else if (config.messages !== undefined && running.every((w) => w.messagesDone)) finish('messages');
    else if (config.scenario !== undefined && running.every((w) => w.messagesDone)) finish('completed');
  }

  live?.countersFrom(() => progress().counters);
  const progressTimer = setInterval(() => run.onProgress?.(progress()), 250);
  function progress(): BlastProgress {
    const counters = workers.reduce((total, w) => addBlastCounters(total, w.counters), emptyBlastCounters());
    const now = Date.now();
    return { phase, elapsedMs: now - startedAt, runElapsedMs: runStartedAt ? now - runStartedAt : 0, counters };
  }
  const onAbort = () => finish('interrupted');
  run.signal?.addEventListener('abort', onAbort, { once: true });
  if (run.signal?.aborted) finish('interrupted');

  await finished;
  controlEnded.abort();
  const runEndedAt = Date.now();
  clearTimeout(runTimer);
  barrierWait.abort();
  phase = 'closing';
  if (live) live.phase = 'closing';
  run.onProgress?.(progress());
  clearInterval(progressTimer);
  run.signal?.removeEventListener('abort', onAbort);
  await Promise.all(workers.map((w) => collectFinal(w)));
  const endedAt = Date.now();
  if (live) live.phase = 'done';
  const snapshots = workers.flatMap((w) => (w.snapshot ? [w.snapshot] : []));
  const accepted = snapshots.reduce((total, s) => total + s.counters.accepted, 0);
  return buildBlastResult(snapshots, {
    measures: latencyKind(config),
    // A shard's publishers reach every shard's subscribers: by default, every other connection of the whole run.
    expectedFanout:
      config.pattern === 'subscribe' && (config.shard ? config.shard.totalPublishers : config.publishers) > 0
        ? // Every other connection held at once: with --lifetime or --reconnect, more are accepted over the run than are ever open together.
          (config.expectFanout ?? Math.max(0, (config.shard ? config.shard.totalConnections : Math.min(accepted, config.connections)) - 1))
        : undefined,
    version: packageVersion,
    url: showDataPlaceholders(config.recordHeaders ? target.href : redactUrl(target.href)),
    ownServer,
    paced: config.rate !== undefined && config.rate > 0,
    interrupted: run.signal?.aborted ?? false,
    missingClientProcesses: workers.filter((w) => !w.snapshot).map((w) => w.index),
    startedAt,
    endedAt,
    rampMs: rampDoneAt ? rampDoneAt - startedAt : null,
    runMs: runStartedAt ? runEndedAt - runStartedAt : null,
    endReason: endReason!,
    timeline: timeline.finish(),
    config: describeConfig(config),
    plan: {
      workers: plan.workers,
      connectionsPerWorker: plan.shares.map((s) => s.connections),
      sourceMode: plan.sourceMode,
      sourceAddresses: plan.sourceAddresses,
    },
    environment: {
      node: process.version,
      platform: `${platform()} ${release()} ${arch()}`,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memoryBytes: totalmem(),
      fdLimit: plan.fdLimit,
      command: run.command ?? null,
    },
    clock: {
      runStartedAt: runStartedAt ? new Date(runStartedAt).toISOString() : null,
      runEndedAt: runStartedAt ? new Date(runEndedAt).toISOString() : null,
      source: clockSource(),
    },
    sync:
      config.startAt === undefined && config.barrier === undefined
        ? null
        : {
            startAt: config.startAt === undefined ? null : new Date(config.startAt).toISOString(),
            barrier: config.barrier ?? null,
            startWaitMs: sync.startWaitMs,
            startLateByMs: sync.startLateByMs,
            runWaitMs: sync.runWaitMs,
            problem: sync.problem,
          },
  });
}

/**
 * Each process's new target for `total` held connections, from what each holds now: only the
 * difference moves. More: the new attempts split exactly, each process to its most (`capacity`).
 * Fewer: the processes holding the most close first. (Splitting `total` afresh instead would make
 * one process close connections while another opens as many: against a server at its cap, the
 * openings are refused in the moment the closings free their slots.)
 */
export function retarget(held: readonly number[], capacity: readonly number[], total: number): number[] {
  const targets = [...held];
  let change = total - held.reduce((n, h) => n + h, 0);
  while (change > 0) {
    const room = targets.map((t, i) => Math.max(0, capacity[i]! - t));
    const open = room.filter((r) => r > 0).length;
    if (open === 0) break;
    const shares = splitExact(change, open);
    let k = 0;
    for (let i = 0; i < targets.length && change > 0; i++) {
      if (room[i]! === 0) continue;
      const add = Math.min(room[i]!, shares[k++]!);
      targets[i]! += add;
      change -= add;
    }
  }
  while (change < 0) {
    const most = targets.indexOf(Math.max(...targets));
    if (targets[most]! === 0) break;
    targets[most]!--;
    change++;
  }
  return targets;
}

function latencyKind(config: BlastConfig): LatencyKind {
  // Socket.IO's acks are replies; graphql-ws's nexts, and Socket.IO's server events, deliveries.
  if (config.protocol === 'graphql-ws') return 'delivery';
  if (config.protocol === 'socketio') return config.pattern === 'echo' ? 'reply' : config.pattern === 'subscribe' ? 'delivery' : 'none';
  switch (config.pattern) {
    case 'echo':
      return 'echo';
    case 'reply':
    case 'scenario':
      return 'reply';
    case 'subscribe':
      return 'delivery';
    case 'fire':
      return config.flood ? 'echo' : 'none';
  }
}

/**
 * Stop a client process and wait for it: it reports its measurement first, then closes its
 * connections, saying every second how many are left. It is given up on (killed; if it had not
 * reported, the result names it as missing) only when it stops making progress: STALL_TIMEOUT_MS
 * without a word from it before its report, or without one connection fewer after it. A process
 * closing 19,000 connections on a starved machine may take long; one that is stuck may not.
 */
function collectFinal(worker: WorkerState): Promise<void> {
  if (worker.exited) return Promise.resolve();
  return new Promise((resolve) => {
    let fewest = Infinity;
    let timer: NodeJS.Timeout;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        worker.child.off('message', onMessage);
        worker.child.kill('SIGKILL');
        resolve();
      }, STALL_TIMEOUT_MS);
    };
    // Before its report, a process that keeps talking but never reports (its stop() stuck) is still
    // given up on: the closing drain's longest plus the stall time.
    const cap = setTimeout(() => {
      if (worker.snapshot) return;
      clearTimeout(timer);
      worker.child.off('message', onMessage);
      worker.child.kill('SIGKILL');
      resolve();
    }, REPORT_CAP_MS);
    const onMessage = (message: BlastWorkerToCoordinator) => {
      if (message.t === 'final') return arm();
      if (message.t !== 'closing') return;
      if (!worker.snapshot || message.open < fewest) arm();
      fewest = Math.min(fewest, message.open);
    };
    arm();
    worker.child.on('message', onMessage);
    worker.child.once('close', () => {
      clearTimeout(timer);
      clearTimeout(cap);
      worker.child.off('message', onMessage);
      resolve();
    });
    if (worker.child.connected) worker.child.send({ t: 'stop' } satisfies CoordinatorToBlastWorker);
  });
}

/**
 * The config as it goes into results: the payload by size, the scenario by its file (its steps may
 * hold tokens, as headers do), unset options as null (as JSON keeps them).
 */
function describeConfig(config: BlastConfig): Record<string, unknown> {
  const { payload, scenario, data, dataUnique, socketio, graphql, ...rest } = config;
  // An auth or connection_init payload may carry a token, as a header does: redacted unless --record-headers.
  const secret = (text: string | undefined) => (text === undefined ? null : config.recordHeaders ? text : '<redacted>');
  const described: Record<string, unknown> = {
    payloadBytes: payload.length,
    scenario: scenario?.file ?? null,
    // The file and its size, never a row: rows often hold tokens.
    data: data ? summarizeData(data, dataUnique, config.shard?.totalConnections ?? config.connections) : null,
    socketio: socketio ? { ...socketio, auth: secret(socketio.auth) } : null,
    graphql: graphql ? { init: secret(graphql.init), queryFile: graphql.queryFile, variables: graphql.variables ?? null, operationName: graphql.operationName ?? null } : null,
  };
  for (const [key, value] of Object.entries(rest)) described[key] = value ?? null;
  return described;
}
