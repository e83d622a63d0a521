/**
 * `serve()`: start the capped echo server and return a handle to it. With one worker the server
 * runs in this process; with more, this process is the primary: it owns the listening socket and
 * the admission point, forks the workers, and hands each accepted connection to the worker holding
 * the fewest, so that no worker outgrows its open-file budget while the global cap has room.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { RunError } from '../config/errors.js';
import { resolveServeConfig, type ServeConfig, type ServeOptions } from '../config/serve-config.js';
import type { PrimaryToServeWorker, ServeWorkerToPrimary } from '../ipc/serve-messages.js';
import { planServe, type ServePlan } from '../limits/serve-plan.js';
import { addServeCounters, emptyServeCounters, type ServeCounters, type ServeStats } from '../metrics/serve-stats.js';
import { AdmissionControl } from './admission.js';
import { EchoServer, type AdmissionClient } from './echo-server.js';

/**
 * A worker holds many long-lived connections and takes each over IPC, which leaves garbage behind;
 * a small young generation keeps that from growing its memory (measured: 8.5 KB per idle
 * connection at 10,000 with the default, see the note in serve-memory).
 */
const WORKER_EXEC_ARGV = ['--max-semi-space-size=1'];
/** Descriptors a worker keeps for itself (stdio, IPC, epoll, timers) beyond its sockets. */
const WORKER_FD_OVERHEAD = 64;

export interface RunningServer {
  readonly config: ServeConfig;
  readonly plan: ServePlan;
  /** The port actually bound (differs from config.port when that was 0). */
  readonly port: number;
  /** ws://host:port/path */
  readonly url: string;
  stats(): Promise<ServeStats>;
  /** Stop accepting, close every connection with 1001 within the drain time; resolves with the totals. */
  close(): Promise<ServeStats>;
  /** Called when a worker process exits without being asked to. */
  onWorkerExit?: (index: number, code: number | null, signal: string | null) => void;
  /** Called when every worker process has exited without being asked to: the server cannot serve. */
  onAllWorkersGone?: () => void;
}

export async function serve(options: ServeOptions | ServeConfig = {}): Promise<RunningServer> {
  const config = isConfig(options) ? options : resolveServeConfig(options);
  const plan = planServe(config.max, config.workers);
  return plan.inProcess ? serveInProcess(config, plan) : serveWithWorkers(config, plan);
}

function isConfig(options: ServeOptions | ServeConfig): options is ServeConfig {
  return Object.isFrozen(options) && 'maxPayloadBytes' in options;
}

async function serveInProcess(config: ServeConfig, plan: ServePlan): Promise<RunningServer> {
  const startedAt = Date.now();
  const control = new AdmissionControl(config.max, config.overflow, config.queueTimeoutMs, [plan.perWorkerCapacity]);
  let echo: EchoServer;
  const stats = async (): Promise<ServeStats> => snapshot(config, plan, control, echo.counters, startedAt);
  let nextId = 1;
  const admission: AdmissionClient = {
    request: (answer) => {
      const id = nextId++;
      control.request(0, id, answer);
      return id;
    },
    cancel: (id) => control.cancel(0, id),
    release: () => control.release(0),
    stats,
  };
  echo = new EchoServer(config, admission);
  const port = await listen(echo.http, config);
  let closing: Promise<ServeStats> | undefined;
  return {
    config,
    plan,
    port,
    url: wsUrl(config, port),
    stats,
    close: () =>
      (closing ??= (async () => {
        control.close();
        echo.http.close();
        await echo.shutdown(config.drainTimeoutMs);
        return stats();
      })()),
  };
}

interface WorkerSlot {
  readonly index: number;
  readonly child: ChildProcess;
  /** Sockets handed over that the worker has not acknowledged yet. */
  unacked: number;
  /** Sockets the worker last reported open (held, upgrading or being refused). */
  live: number;
  alive: boolean;
  counters: ServeCounters;
}

async function serveWithWorkers(config: ServeConfig, plan: ServePlan): Promise<RunningServer> {
  const startedAt = Date.now();
  const control = new AdmissionControl(
    config.max,
    config.overflow,
    config.queueTimeoutMs,
    Array.from({ length: plan.workers }, () => plan.perWorkerCapacity),
  );
  const workerEntry = fileURLToPath(new URL('./worker-main.js', import.meta.url));
  const workers: WorkerSlot[] = [];
  const counterWaiters = new Map<number, { missing: Set<number>; resolve: () => void }>();
  let nextRequestId = 1;
  let closing = false;
  const handle: Pick<RunningServer, 'onWorkerExit' | 'onAllWorkersGone'> = {};

  const send = (worker: WorkerSlot, message: PrimaryToServeWorker, socket?: Socket) => {
    if (!worker.alive || !worker.child.connected) {
      socket?.destroy();
      return;
    }
    worker.child.send(message, socket as never, (error) => {
      if (error) socket?.destroy();
    });
  };

  /** Ask every live worker for its counters; resolves when all answered or after a second. */
  const refreshCounters = () =>
    new Promise<void>((resolve) => {
      const id = nextRequestId++;
      const live = workers.filter((w) => w.alive);
      if (live.length === 0) return resolve();
      const timer = setTimeout(done, 1000);
      function done() {
        clearTimeout(timer);
        counterWaiters.delete(id);
        resolve();
      }
      counterWaiters.set(id, { missing: new Set(live.map((w) => w.index)), resolve: done });
      for (const worker of live) send(worker, { t: 'counters-request', id });
    });

  const stats = async (): Promise<ServeStats> => {
    await refreshCounters();
    const total = emptyServeCounters();
    for (const worker of workers) addServeCounters(total, worker.counters);
    return snapshot(config, plan, control, total, startedAt);
  };

  const onMessage = (worker: WorkerSlot, message: ServeWorkerToPrimary) => {
    // A dead worker's slots were all given back at once; a message that was still in the pipe must
    // not take or return one again.
    if (!worker.alive) return;
    switch (message.t) {
      case 'ack':
        worker.unacked -= message.n;
        worker.live = message.live;
        drainBacklog();
        break;
      case 'acquire':
        control.request(worker.index, message.id, (outcome) => send(worker, { t: 'admit', id: message.id, outcome }));
        break;
      case 'cancel':
        control.cancel(worker.index, message.id);
        break;
      case 'release':
        control.release(worker.index, message.n);
        break;
      case 'counters': {
        worker.counters = message.counters;
        const waiter = counterWaiters.get(message.id);
        waiter?.missing.delete(worker.index);
        if (waiter && waiter.missing.size === 0) waiter.resolve();
        break;
      }
      case 'stats-request':
        void stats().then((s) => send(worker, { t: 'stats-reply', id: message.id, stats: s }));
        break;
      case 'final':
        worker.counters = message.counters;
        break;
      case 'ready':
        break;
    }
  };

  for (let index = 0; index < plan.workers; index++) {
    const child = fork(workerEntry, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json', execArgv: WORKER_EXEC_ARGV });
    const worker: WorkerSlot = { index, child, unacked: 0, live: 0, alive: true, counters: emptyServeCounters() };
    workers.push(worker);
    child.on('message', (message: ServeWorkerToPrimary) => onMessage(worker, message));
    // 'close' comes after the IPC channel has delivered everything the worker sent.
    child.on('close', (code, signal) => {
      worker.alive = false;
      control.forgetOwner(index);
      if (closing) return;
      handle.onWorkerExit?.(index, code, signal);
      if (workers.every((w) => !w.alive)) handle.onAllWorkersGone?.();
    });
  }
  await Promise.all(
    workers.map(async (worker) => {
      const ready = waitForMessage(worker.child, 'ready');
      send(worker, { t: 'start', config, index: worker.index });
      await ready;
    }),
  );

  // Flow control: a worker never gets more sockets than its open-file limit allows, so it can always
  // accept, and answer 503. Connections that find every worker at that limit wait here, unread,
  // until one reports sockets closed (refusals close within milliseconds).
  const socketBudget = Math.max(1, plan.fdLimit - WORKER_FD_OVERHEAD);
  const backlog: Socket[] = [];
  let backlogHead = 0;
  const handOver = (socket: Socket): boolean => {
    const worker = leastLoaded(workers);
    if (!worker) {
      socket.destroy();
      return true;
    }
    if (worker.live + worker.unacked >= socketBudget) return false;
    worker.unacked++;
    send(worker, { t: 'conn' }, socket);
    return true;
  };
  function drainBacklog(): void {
    while (backlogHead < backlog.length && handOver(backlog[backlogHead]!)) backlog[backlogHead++] = undefined as never;
    if (backlogHead === backlog.length) {
      backlog.length = 0;
      backlogHead = 0;
    }
  }
  const listener = createNetServer({ pauseOnConnect: true }, (socket) => {
    if (backlogHead < backlog.length || !handOver(socket)) backlog.push(socket);
  });
  let port: number;
  try {
    port = await listen(listener, config);
  } catch (error) {
    for (const worker of workers) worker.child.kill('SIGKILL');
    throw error;
  }

  let closed: Promise<ServeStats> | undefined;
  const close = () =>
    (closed ??= (async () => {
      closing = true;
      control.close();
      listener.close();
      // Connections still waiting for room in a worker: refused by closing (the server is going away).
      for (let i = backlogHead; i < backlog.length; i++) backlog[i]?.destroy();
      backlog.length = 0;
      backlogHead = 0;
      const exits = workers.filter((w) => w.alive).map((w) => once(w.child, 'close').catch(() => undefined));
      for (const worker of workers) send(worker, { t: 'shutdown' });
      const hardStop = setTimeout(() => {
        for (const worker of workers) if (worker.alive) worker.child.kill('SIGKILL');
      }, config.drainTimeoutMs + 3000);
      await Promise.all(exits);
      clearTimeout(hardStop);
      const total = emptyServeCounters();
      for (const worker of workers) addServeCounters(total, worker.counters);
      return snapshot(config, plan, control, total, startedAt);
    })());

  return Object.assign(handle, { config, plan, port, url: wsUrl(config, port), stats, close });
}

/** The live worker with the fewest sockets, counting ones handed over but not yet acknowledged. */
function leastLoaded(workers: WorkerSlot[]): WorkerSlot | undefined {
  let best: WorkerSlot | undefined;
  let bestLoad = Infinity;
  for (const worker of workers) {
    if (!worker.alive) continue;
    const load = worker.live + worker.unacked;
    if (load < bestLoad) {
      best = worker;
      bestLoad = load;
    }
  }
  return best;
}

function snapshot(config: ServeConfig, plan: ServePlan, control: AdmissionControl, counters: ServeCounters, startedAt: number): ServeStats {
  return {
    ...structuredClone(counters),
    ...control.state,
    max: config.max,
    workers: plan.workers,
    uptimeMs: Date.now() - startedAt,
  };
}

function waitForMessage(child: ChildProcess, type: ServeWorkerToPrimary['t']): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: ServeWorkerToPrimary) => {
      if (message.t !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve();
    };
    const onExit = (code: number | null) => reject(new RunError('WORKER_EXIT', `a server worker exited with code ${code} during start`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

async function listen(server: NetServer, config: ServeConfig): Promise<number> {
  try {
    server.listen({ port: config.port, host: config.host, backlog: 4096 });
    await once(server, 'listening');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'ERROR';
    const why =
      code === 'EADDRINUSE' ? 'is already in use' :
      code === 'EACCES' ? 'needs privileges this process does not have' :
      code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' ? 'is not an address of this machine' :
      `could not be bound (${code})`;
    throw new RunError(code, `--port ${config.port} / --host ${config.host}: ${config.host}:${config.port} ${why}`);
  }
  const address = server.address();
  return typeof address === 'object' && address ? address.port : config.port;
}

function wsUrl(config: ServeConfig, port: number): string {
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return `ws://${host}:${port}${config.path}`;
}
