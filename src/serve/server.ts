/**
 * `serve()`: start the capped echo server and return a handle to it. With one worker the server
 * runs in this process; with more, this process is the primary: it owns the admission point and the
 * listening socket, which it never accepts from itself; each worker accepts through descriptors of
 * it (listener-set.ts explains why many), and every upgrade asks the primary for a slot.
 */
import { runtimeReport, type RuntimeReport } from '../runtime/fast-paths.js';
import { proveSharedReads } from './server-connection.js';
import type { Socket } from 'node:net';
import { RunError } from '../config/errors.js';
import { resolveServeConfig, type ServeConfig, type ServeOptions } from '../config/serve-config.js';
import { LISTENERS_PER_PROCESS, planServe, type ServePlan } from '../limits/serve-plan.js';
import { serveStats, type ServeStats } from '../metrics/serve-stats.js';
import { AdmissionControl } from './admission.js';
import { EchoServer, type AdmissionClient } from './echo-server.js';
import { duplicateHandle, ListenerSet } from './listener-set.js';
import { ServePrimary, type PrimaryHooks } from './primary.js';
import { WorkerPool } from './worker-pool.js';

export interface RunningServer extends PrimaryHooks {
  readonly config: ServeConfig;
  readonly plan: ServePlan;
  /** The port actually bound (differs from config.port when that was 0). */
  readonly port: number;
  /** ws://host:port/path */
  readonly url: string;
  stats(): Promise<ServeStats>;
  /** The Node serving, and which fast paths on internals its processes run (runtime/fast-paths.ts). */
  readonly runtime: RuntimeReport;
  /** Stop accepting, close every connection with 1001 within the drain time; resolves with the totals. */
  close(): Promise<ServeStats>;
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
  const sharedReads = await proveSharedReads();
  const control = new AdmissionControl(config.max, config.overflow, config.queueTimeoutMs, [plan.perWorkerCapacity]);
  let echo: EchoServer;
  const stats = async (): Promise<ServeStats> => serveStats(echo.counters, control.state, 1, 0, Date.now() - startedAt);
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
  const listeners = new ListenerSet((socket: Socket) => echo.accept(socket));
  const port = await listeners.listen(config.host, config.port).catch((error: NodeJS.ErrnoException) => {
    throw listenError(config, error);
  });
  // In-process, the plan keeps thousands of descriptors spare: no budget, just more descriptors.
  for (const handle of await duplicateHandle(listeners.handle!, LISTENERS_PER_PROCESS - 1)) listeners.add(handle);
  let closing: Promise<ServeStats> | undefined;
  return {
    config,
    plan,
    port,
    url: wsUrl(config, port),
    stats,
    runtime: runtimeReport([{ sharedReads }]),
    close: () =>
      (closing ??= (async () => {
        control.close();
        listeners.close();
        await echo.shutdown(config.drainTimeoutMs);
        return stats();
      })()),
  };
}

async function serveWithWorkers(config: ServeConfig, plan: ServePlan): Promise<RunningServer> {
  const hooks: PrimaryHooks = {};
  const primary = new ServePrimary(config, plan, hooks);
  const pool = new WorkerPool(plan.workers, primary);
  primary.attach(pool.workers);
  let port: number;
  try {
    await pool.start(config, plan.socketBudgetPerWorker);
    const boundBy = pool.workers[0]!;
    const bound = await pool.bind(boundBy).catch((error: NodeJS.ErrnoException) => {
      throw error instanceof RunError ? error : listenError(config, error);
    });
    port = bound.port;
    primary.listenThrough(bound.handle, boundBy);
  } catch (error) {
    pool.kill();
    throw error;
  }
  let closed: Promise<ServeStats> | undefined;
  const close = () =>
    (closed ??= (async () => {
      primary.close();
      await pool.shutdown(config.drainTimeoutMs + 3000);
      return primary.snapshot();
    })());
  const runtime = runtimeReport(pool.fastPaths);
  return Object.assign(hooks, { config, plan, port, url: wsUrl(config, port), stats: () => primary.stats(), runtime, close });
}

function listenError(config: ServeConfig, error: NodeJS.ErrnoException): RunError {
  const code = error.code ?? 'ERROR';
  const why =
    code === 'EADDRINUSE' ? 'is already in use' :
    code === 'EACCES' ? 'needs privileges this process does not have' :
    code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' ? 'is not an address of this machine' :
    `could not be bound (${code})`;
  return new RunError(code, `--port ${config.port} / --host ${config.host}: ${config.host}:${config.port} ${why}`);
}

function wsUrl(config: ServeConfig, port: number): string {
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return `${config.tls ? 'wss' : 'ws'}://${host}:${port}${config.path}`;
}
