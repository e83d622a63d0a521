/**
 * The one admission point of a server: a counting semaphore over `--max` slots, with per-worker
 * accounting and, in queue mode, a first-come-first-served wait with a deadline.
 *
 * It lives in the primary when there are several workers (they ask over IPC) and in the server's own
 * process when there is one; either way there is exactly one, which is what makes the cap global.
 * A slot is taken when an upgrade is admitted and given back when that socket closes, however it
 * closes: the worker calls `release` from the socket's 'close' event.
 */
import type { Overflow } from '../config/serve-config.js';
import type { AdmissionOutcome } from '../ipc/serve-messages.js';

export type { AdmissionOutcome };

interface Waiter {
  readonly owner: number;
  readonly requestId: number;
  readonly answer: (outcome: AdmissionOutcome) => void;
  readonly timer: NodeJS.Timeout;
}

export interface AdmissionState {
  readonly max: number;
  readonly open: number;
  readonly queued: number;
  /** Slots granted since the start: connections accepted, counted where the cap is (exact). */
  readonly admitted: number;
}

export class AdmissionControl {
  #held = 0;
  #admitted = 0;
  readonly #heldByOwner: number[];
  /** Map keeps insertion order, so it is a FIFO queue with O(1) cancellation by key. */
  readonly #waiting = new Map<string, Waiter>();
  #closed = false;

  constructor(
    readonly max: number,
    readonly overflow: Overflow,
    readonly queueTimeoutMs: number,
    /** Most slots one owner (worker process) may hold: its open-file budget. */
    readonly perOwnerCapacity: readonly number[],
  ) {
    this.#heldByOwner = perOwnerCapacity.map(() => 0);
  }

  get state(): AdmissionState {
    return { max: this.max, open: this.#held, queued: this.#waiting.size, admitted: this.#admitted };
  }

  /** Ask for a slot. `answer` is called exactly once, now or later, unless the request is cancelled. */
  request(owner: number, requestId: number, answer: (outcome: AdmissionOutcome) => void): void {
    if (this.#closed) return answer('shutting-down');
    if (this.#held < this.max) {
      if (this.#heldByOwner[owner]! >= this.perOwnerCapacity[owner]!) return answer('worker-full');
      this.#take(owner);
      return answer('admitted');
    }
    if (this.overflow === 'reject') return answer('full');
    const key = waiterKey(owner, requestId);
    const timer = setTimeout(() => {
      this.#waiting.delete(key);
      answer('queue-timeout');
    }, this.queueTimeoutMs);
    this.#waiting.set(key, { owner, requestId, answer, timer });
  }

  /** The requester went away while queued (its socket closed): forget it without answering. */
  cancel(owner: number, requestId: number): void {
    const key = waiterKey(owner, requestId);
    const waiter = this.#waiting.get(key);
    if (!waiter) return;
    clearTimeout(waiter.timer);
    this.#waiting.delete(key);
  }

  /** An admitted socket closed. Its slot goes to the first waiter that its owner can still hold. */
  release(owner: number, count = 1): void {
    for (let i = 0; i < count; i++) {
      this.#held--;
      this.#heldByOwner[owner]!--;
      this.#grantNext();
    }
  }

  /** Stop admitting: queued requests are answered 'shutting-down', later ones too. */
  close(): void {
    this.#closed = true;
    for (const [key, waiter] of this.#waiting) {
      clearTimeout(waiter.timer);
      this.#waiting.delete(key);
      waiter.answer('shutting-down');
    }
  }

  /** A worker process died: every slot it held is free again, its queued requests are void. */
  forgetOwner(owner: number): void {
    for (const [key, waiter] of this.#waiting) {
      if (waiter.owner !== owner) continue;
      clearTimeout(waiter.timer);
      this.#waiting.delete(key);
    }
    const held = this.#heldByOwner[owner]!;
    if (held > 0) this.release(owner, held);
  }

  #take(owner: number): void {
    this.#admitted++;
    this.#held++;
    this.#heldByOwner[owner]!++;
  }

  #grantNext(): void {
    if (this.#held >= this.max) return;
    for (const [key, waiter] of this.#waiting) {
      if (this.#heldByOwner[waiter.owner]! >= this.perOwnerCapacity[waiter.owner]!) continue;
      clearTimeout(waiter.timer);
      this.#waiting.delete(key);
      this.#take(waiter.owner);
      waiter.answer('admitted');
      return;
    }
  }
}

function waiterKey(owner: number, requestId: number): string {
  return `${owner}:${requestId}`;
}
