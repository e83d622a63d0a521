/**
 * The serve worker processes, as the primary sees them: fork, start, route their messages, notice
 * when one dies, and shut them all down. What the messages mean is the primary's business
 * (primary.ts); this file only carries them.
 */
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
  send(message: PrimaryToServeWorker, handle?: ListeningHandle): void;
}

export interface WorkerPoolEvents {
  onMessage(worker: WorkerLink, message: ServeWorkerToPrimary, handle: ListeningHandle | undefined): void;
  /** A worker's process ended and every message it sent has been delivered. */
  onExit(worker: WorkerLink, code: number | null, signal: NodeJS.Signals | null): void;
}

class ForkedWorker implements WorkerLink {
  alive = true;
  constructor(
    readonly index: number,
    readonly child: ChildProcess,
  ) {}

  send(message: PrimaryToServeWorker, handle?: ListeningHandle): void {
    if (!this.alive || !this.child.connected) return;
    this.child.send(message, handle as never, ignoreError);
  }
}

export class WorkerPool {
  readonly workers: readonly ForkedWorker[];

  constructor(count: number, events: WorkerPoolEvents) {
    const entry = fileURLToPath(new URL('./worker-main.js', import.meta.url));
    this.workers = Array.from({ length: count }, (_, index) => {
      const child = fork(entry, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json', execArgv: WORKER_EXEC_ARGV });
      const worker = new ForkedWorker(index, child);
      child.on('message', (message: ServeWorkerToPrimary, handle?: ListeningHandle) => {
        // A dead worker's slots were all given back at once; a message still in the pipe must not
        // take or return one again.
        if (worker.alive) events.onMessage(worker, message, handle);
        else handle?.close();
      });
      // 'close' comes after the IPC channel has delivered everything the worker sent.
      child.on('close', (code, signal) => {
        worker.alive = false;
        events.onExit(worker, code, signal);
      });
      return worker;
    });
  }

  get alive(): number {
    return this.workers.filter((w) => w.alive).length;
  }

  /** Send each worker its start message and wait until all are ready. */
  async start(config: ServeConfig, socketBudget: number): Promise<void> {
    await Promise.all(
      this.workers.map(async (worker) => {
        const ready = waitFor(worker.child, (m) => m.t === 'ready');
        worker.send({ t: 'start', config, index: worker.index, socketBudget });
        await ready;
      }),
    );
  }

  /**
   * Ask one worker to bind the listening socket, so that the primary itself never accepts. Resolves
   * with the port and the handle; rejects with the bind error's code (EADDRINUSE, …).
   */
  bind(worker: WorkerLink): Promise<{ port: number; handle: ListeningHandle }> {
    const child = this.workers[worker.index]!.child;
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
    const exits = this.workers.filter((w) => w.alive).map((w) => once(w.child, 'close').catch(() => undefined));
    for (const worker of this.workers) worker.send({ t: 'shutdown' });
    const hardStop = setTimeout(() => this.kill(), graceMs);
    await Promise.all(exits);
    clearTimeout(hardStop);
  }

  kill(): void {
    for (const worker of this.workers) if (worker.alive) worker.child.kill('SIGKILL');
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
