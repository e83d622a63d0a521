/**
 * A worker's side of admission: each request goes to the primary's AdmissionControl over IPC.
 * Releases are batched per event-loop turn, so a burst of closes costs one message.
 */
import type { ServeWorkerToPrimary } from '../ipc/serve-messages.js';
import type { ServeStats } from '../metrics/serve-stats.js';
import type { AdmissionOutcome } from './admission.js';
import type { AdmissionClient } from './echo-server.js';

export class RemoteAdmission implements AdmissionClient {
  #nextId = 1;
  readonly #pending = new Map<number, (outcome: AdmissionOutcome) => void>();
  readonly #statsWaiters = new Map<number, (stats: ServeStats) => void>();
  #releases = 0;
  #flushScheduled = false;

  constructor(private readonly send: (message: ServeWorkerToPrimary) => void) {}

  request(answer: (outcome: AdmissionOutcome) => void): number {
    const id = this.#nextId++;
    this.#pending.set(id, answer);
    this.send({ t: 'acquire', id });
    return id;
  }

  cancel(requestId: number): void {
    if (this.#pending.delete(requestId)) this.send({ t: 'cancel', id: requestId });
  }

  release(): void {
    this.#releases++;
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** The primary's answer. A slot granted to a request cancelled meanwhile goes straight back. */
  answer(requestId: number, outcome: AdmissionOutcome): void {
    const answer = this.#pending.get(requestId);
    if (answer) {
      this.#pending.delete(requestId);
      answer(outcome);
    } else if (outcome === 'admitted') {
      this.release();
    }
  }

  stats(): Promise<ServeStats> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#statsWaiters.set(id, resolve);
      this.send({ t: 'stats-request', id });
    });
  }

  answerStats(requestId: number, stats: ServeStats): void {
    this.#statsWaiters.get(requestId)?.(stats);
    this.#statsWaiters.delete(requestId);
  }

  /** Send the releases batched now (before the final report, so none is left behind). */
  flush(): void {
    this.#flushScheduled = false;
    if (this.#releases > 0) this.send({ t: 'release', n: this.#releases });
    this.#releases = 0;
  }
}
