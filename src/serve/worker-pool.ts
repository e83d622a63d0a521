/**
 * The serve worker processes, as the primary sees them: fork, start, route their messages, notice
 * when one dies, and shut them all down. What the messages mean is the primary's business
 * (primary.ts); this file only carries them.
 */
import type { FastPathVerdicts } from '../runtime/fast-paths.js';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { ServeConfig } from '../config/serve-config.js';
import { RunError } from '../config/errors.js';
import type { PrimaryToServeWorker, ServeWorkerToPrimary } from '../ipc/serve-messages.js';
import type { ListeningHandle } from './listener-set.js';

/**
 * A worker holds many long-lived connections, which leaves garbage behind; a small young generation
 * keeps that from growing its memory (measured: 8.5 KB per idle connection at 10,000 with the
 * default, see the note in serve-memory).
 */
const WORKER_EXEC_ARGV = ['--max-semi-space-size=1'];

/** One worker as the primary's logic sees it: testable with a plain object instead of a process. */
export interface WorkerLink {
  readonly index: number;
  readonly alive: boolean;
  /** `sent`: called once the message has left this process (or could not be sent). */
  send(message: PrimaryToServeWorker, handle?: ListeningHandle, sent?: () => void): void;
}

export interface WorkerPoolEvents {
  onMessage(worker: WorkerLink, message: ServeWorkerToPrimary, handle: ListeningHandle | undefined): void;
  /**
   * A worker's process ended unasked (every message it sent has been delivered). `replacing`: a new
   * worker is being started in its place.
   */
  onExit(worker: WorkerLink, code: number | null, signal: NodeJS.Signals | null, replacing: boolean): void;
  /** A replacement worker is ready. */
  onReplaced(worker: WorkerLink): void;
}

/** Replacements allowed within RESTART_WINDOW_MS; past that, the pool runs with fewer workers. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;

class ForkedWorker implements WorkerLink {
  alive = true;
  constructor(
    readonly index: number,
    readonly child: ChildProcess,
  ) {}

  send(message: PrimaryToServeWorker, handle?: ListeningHandle, sent?: () => void): void {
    if (!this.alive || !this.child.connected) return sent?.();
    this.child.send(message, handle as never, sent ?? ignoreError);
  }
}

export class WorkerPool {
  readonly #workers: ForkedWorker[];
  readonly #events: WorkerPoolEvents;
  readonly #entry = fileURLToPath(new URL('./worker-main.js', import.meta.url));
  #start: { config: ServeConfig; socketBudget: number } | undefined;
  #stopping = false;
  readonly #restarts: number[] = [];
  /** What each worker's self-tests found, by worker index (runtime/fast-paths.ts). */
  readonly fastPaths: FastPathVerdicts[] = [];

  constructor(count: number, events: WorkerPoolEvents) {
    this.#events = events;
    this.#workers = Array.from({ length: count }, (_, index) => this.#spawn(index));
  }

  /** The current worker of each index (a replaced worker's slot holds its replacement). */
  get workers(): readonly WorkerLink[] {
    return this.#workers;
  }

  /** Send each worker its start message and wait until all are ready. */
  async start(config: ServeConfig, socketBudget: number): Promise<void> {
    this.#start = { config, socketBudget };
    await Promise.all(this.#workers.map((worker) => this.#ready(worker)));
  }

  /**
   * Ask one worker to bind the listening socket, so that the primary itself never accepts. Resolves
   * with the port and the handle; rejects with the bind error's code (EADDRINUSE, …).
   */
  bind(worker: WorkerLink): Promise<{ port: number; handle: ListeningHandle }> {
    const child = this.#workers[worker.index]!.child;
    return new Promise((resolve, reject) => {
      const onMessage = (message: ServeWorkerToPrimary, handle?: ListeningHandle) => {
        if (message.t === 'bound' && handle) resolve({ port: message.port, handle });
        else if (message.t === 'bind-failed') reject(Object.assign(new Error(message.code), { code: message.code }));
        else return;
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      const onExit = (code: number | null) => reject(new RunError('WORKER_EXIT', `a server worker exited with code ${code} during start`));
      child.on('message', onMessage);
      child.once('exit', onExit);
      worker.send({ t: 'bind' });
    });
  }

  /** Ask every worker to drain and exit; the ones still running after `graceMs` are killed. */
  async shutdown(graceMs: number): Promise<void> {
    this.#stopping = true;
    const exits = this.#workers.filter((w) => w.alive).map((w) => once(w.child, 'close').catch(() => undefined));
    for (const worker of this.#workers) worker.send({ t: 'shutdown' });
    const hardStop = setTimeout(() => this.kill(), graceMs);
    await Promise.all(exits);
    clearTimeout(hardStop);
  }

  kill(): void {
    this.#stopping = true;
    for (const worker of this.#workers) if (worker.alive) worker.child.kill('SIGKILL');
  }

  #spawn(index: number): ForkedWorker {
    const child = fork(this.#entry, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json', execArgv: WORKER_EXEC_ARGV });
    const worker = new ForkedWorker(index, child);
    child.on('message', (message: ServeWorkerToPrimary, handle?: ListeningHandle) => {
      // A dead worker's slots were all given back at once; a message still in the pipe must not
      // take or return one again.
      if (worker.alive) this.#events.onMessage(worker, message, handle);
      else handle?.close();
    });
    // 'close' comes after the IPC channel has delivered everything the worker sent.
    child.on('close', (code, signal) => {
      worker.alive = false;
      if (this.#stopping || !this.#start) return;
      const replacing = this.#mayRestart();
      this.#events.onExit(worker, code, signal, replacing);
      if (replacing) void this.#replace(index);
    });
    return worker;
  }

  async #ready(worker: ForkedWorker): Promise<void> {
    const ready = waitFor(worker.child, (m) => {
      if (m.t !== 'ready') return false;
      if (m.fastPaths) this.fastPaths[worker.index] = m.fastPaths;
      return true;
    });
    worker.send({ t: 'start', config: this.#start!.config, index: worker.index, socketBudget: this.#start!.socketBudget });
    await ready;
  }

  #mayRestart(): boolean {
    const now = Date.now();
    while (this.#restarts.length && this.#restarts[0]! < now - RESTART_WINDOW_MS) this.#restarts.shift();
    if (this.#restarts.length >= MAX_RESTARTS) return false;
    this.#restarts.push(now);
    return true;
  }

  async #replace(index: number): Promise<void> {
    const worker = this.#spawn(index);
    this.#workers[index] = worker;
    try {
      await this.#ready(worker);
    } catch {
      // It died while starting: its 'close' handler decides about another try.
      return;
    }
    if (this.#stopping) return;
    this.#events.onReplaced(worker);
  }
}

function waitFor(child: ChildProcess, match: (message: ServeWorkerToPrimary) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: ServeWorkerToPrimary) => {
      if (!match(message)) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve();
    };
    const onExit = (code: number | null) => reject(new RunError('WORKER_EXIT', `a server worker exited with code ${code} during start`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

function ignoreError(): void {
  // A worker that died meanwhile: its exit is handled from 'close'.
}
