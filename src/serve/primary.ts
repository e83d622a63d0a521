/**
 * The serve primary's logic, apart from process management (worker-pool.ts): it owns the one
 * admission point, keeps the listening socket (unpolled: it never accepts) and hands its workers
 * descriptors of it, answers their slot requests, and gathers their counters.
 *
 * It talks to workers through WorkerLink, so tests drive it with plain objects, without forking.
 */
import type { ServeConfig } from '../config/serve-config.js';
import { RELAY_BACKLOG_BYTES, type RelayedBroadcast, type ServeWorkerToPrimary } from '../ipc/serve-messages.js';
import { LISTENERS_PER_PROCESS, type ServePlan } from '../limits/serve-plan.js';
import { addServeCounters, emptyServeCounters, serveStats, type ServeCounters, type ServeStats } from '../metrics/serve-stats.js';
import { AdmissionControl } from './admission.js';
import type { ListeningHandle } from './listener-set.js';
import type { WorkerLink, WorkerPoolEvents } from './worker-pool.js';

/** How long a counters request waits for the workers before answering with what it has. */
const COUNTERS_TIMEOUT_MS = 1000;

export interface PrimaryHooks {
  /**
   * A worker process ended without being asked to; its slots are free again. `replacing`: a new
   * worker is starting in its place; otherwise the server runs with `running` workers.
   */
  onWorkerExit?: (exit: { index: number; code: number | null; signal: string | null; replacing: boolean; running: number; planned: number }) => void;
  /** Every worker ended without being asked to: the server cannot serve. */
  onAllWorkersGone?: () => void;
}

export class ServePrimary implements WorkerPoolEvents {
  readonly control: AdmissionControl;
  readonly #plan: ServePlan;
  readonly #startedAt = Date.now();
  readonly #counters: ServeCounters[];
  /** Counters of workers that have ended: their messages stay in the totals. */
  readonly #retired = emptyServeCounters();
  #workerExits = 0;
  readonly #counterWaiters = new Map<number, { missing: Set<number>; resolve: () => void }>();
  #workers: readonly WorkerLink[] = [];
  #listening: ListeningHandle | undefined;
  #nextRequestId = 1;
  #closing = false;
  /** Broadcast: relay text sent to each worker and not yet out of this process. */
  readonly #relayBacklog = new WeakMap<WorkerLink, number>();
  #relaysDropped = 0;

  constructor(
    config: ServeConfig,
    plan: ServePlan,
    readonly hooks: PrimaryHooks = {},
  ) {
    this.#plan = plan;
    this.#counters = Array.from({ length: plan.workers }, () => emptyServeCounters());
    this.control = new AdmissionControl(
      config.max,
      config.overflow,
      config.queueTimeoutMs,
      Array.from({ length: plan.workers }, () => plan.socketBudgetPerWorker),
    );
  }

  attach(workers: readonly WorkerLink[]): void {
    this.#workers = workers;
  }

  /**
   * Keep the listening socket and give every worker its descriptors of it. The worker that bound it
   * already accepts through one.
   */
  listenThrough(handle: ListeningHandle, boundBy: WorkerLink): void {
    this.#listening = handle;
    for (const worker of this.#workers) this.#giveListeners(worker, LISTENERS_PER_PROCESS - (worker === boundBy ? 1 : 0));
  }

  onMessage(worker: WorkerLink, message: ServeWorkerToPrimary, handle: ListeningHandle | undefined): void {
    switch (message.t) {
      case 'acquire':
        this.control.request(worker.index, message.id, (outcome) => worker.send({ t: 'admit', id: message.id, outcome }));
        break;
      case 'cancel':
        this.control.cancel(worker.index, message.id);
        break;
      case 'release':
        this.control.release(worker.index, message.n);
        break;
      case 'listeners-wanted':
        this.#giveListeners(worker, message.n);
        break;
      case 'counters': {
        this.#counters[worker.index] = message.counters;
        const waiter = this.#counterWaiters.get(message.id);
        waiter?.missing.delete(worker.index);
        if (waiter && waiter.missing.size === 0) waiter.resolve();
        break;
      }
      case 'stats-request':
        void this.stats().then((stats) => worker.send({ t: 'stats-reply', id: message.id, stats }));
        break;
      case 'final':
        this.#counters[worker.index] = message.counters;
        break;
      case 'broadcast':
        this.#relay(worker, message);
        break;
      case 'bound':
      case 'bind-failed':
      case 'ready':
        // Start-up answers, awaited by the pool.
        break;
    }
    // A listening handle comes only with 'bound', which the pool hands over; no other may linger.
    if (handle && message.t !== 'bound') handle.close();
  }

  onExit(worker: WorkerLink, code: number | null, signal: NodeJS.Signals | null, replacing: boolean): void {
    this.control.forgetOwner(worker.index);
    const counters = this.#counters[worker.index]!;
    counters.messagesPerSecond = 0;
    addServeCounters(this.#retired, counters);
    this.#counters[worker.index] = emptyServeCounters();
    if (this.#closing) return;
    this.#workerExits++;
    const running = this.#workers.filter((w) => w.alive).length;
    this.hooks.onWorkerExit?.({ index: worker.index, code, signal, replacing, running, planned: this.#plan.workers });
    if (running === 0 && !replacing) this.hooks.onAllWorkersGone?.();
  }

  onReplaced(worker: WorkerLink): void {
    this.#giveListeners(worker, LISTENERS_PER_PROCESS);
  }

  /** The global figures: admission state from here, counters fresh from every live worker. */
  async stats(): Promise<ServeStats> {
    await this.#refreshCounters();
    return this.snapshot();
  }

  /** The figures as last reported (no round trip). */
  snapshot(): ServeStats {
    const total = structuredClone(this.#retired);
    for (const counters of this.#counters) addServeCounters(total, counters);
    total.relaysDropped += this.#relaysDropped;
    // Once closing, the totals speak of the server that ran, not of the workers left running.
    const workers = this.#closing ? this.#plan.workers : this.#workers.filter((w) => w.alive).length;
    return serveStats(total, this.control.state, workers, this.#workerExits, Date.now() - this.#startedAt);
  }

  /** Stop admitting and let go of the listening socket (the workers close their descriptors). */
  close(): void {
    this.#closing = true;
    this.control.close();
    this.#listening?.close();
    this.#listening = undefined;
  }

  /**
   * A broadcast from one worker, to every other: their room members are theirs to reach. A worker
   * that has not taken in RELAY_BACKLOG_BYTES of relays misses the next ones (counted) rather than
   * grow this process without bound or hold back the room everywhere else.
   */
  #relay(from: WorkerLink, message: RelayedBroadcast): void {
    const bytes = message.data.length;
    for (const to of this.#workers) {
      if (to === from || !to.alive) continue;
      const backlog = this.#relayBacklog.get(to) ?? 0;
      if (backlog > RELAY_BACKLOG_BYTES) {
        this.#relaysDropped++;
        continue;
      }
      this.#relayBacklog.set(to, backlog + bytes);
      to.send(message, undefined, () => this.#relayBacklog.set(to, this.#relayBacklog.get(to)! - bytes));
    }
  }

  #giveListeners(worker: WorkerLink, count: number): void {
    if (!this.#listening || this.#closing) return;
    for (let i = 0; i < count; i++) worker.send({ t: 'listener' }, this.#listening);
  }

  #refreshCounters(): Promise<void> {
    return new Promise((resolve) => {
      const id = this.#nextRequestId++;
      const live = this.#workers.filter((w) => w.alive);
      if (live.length === 0) return resolve();
      const done = () => {
        clearTimeout(timer);
        this.#counterWaiters.delete(id);
        resolve();
      };
      const timer = setTimeout(done, COUNTERS_TIMEOUT_MS);
      this.#counterWaiters.set(id, { missing: new Set(live.map((w) => w.index)), resolve: done });
      for (const worker of live) worker.send({ t: 'counters-request', id });
    });
  }
}
