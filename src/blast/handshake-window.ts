/**
 * How many handshakes a client process keeps in flight during the ramp: --max-handshakes (its
 * share) at most, fewer while the server is slow to answer.
 *
 * Why: handshakes beyond what the server completes wait in its accept queue, and by Little's law
 * each one waits (in flight) / (server's rate). A busy server that upgrades 250 connections a second
 * with 1,000 in flight makes every connection wait 4 s, close to the connect timeout, and the ones
 * behind time out: work the server then does for clients that left (congestion collapse). So when
 * the mean connect latency of a tick passes the target (a quarter of the connect timeout), or an
 * attempt times out, the window shrinks to what the server completed in the last second times the
 * target: connections then wait in blast, which has not started them, instead of in the server's
 * queue. The window starts small (64) and grows by one for every answer that took under half the
 * target, up to the cap, as TCP's slow start does: against a fast server it reaches the cap within
 * a fraction of a second; against a slow one, the first burst no longer times out.
 * The lowest window of the ramp is reported, so a run says when the server's accept rate, not
 * --max-handshakes, set the pace: a window lowered on congestion counts, and so does one the slow
 * start left under the cap because answers stopped coming back quickly while blast held connections
 * back. (Against a server that upgrades 250 a second, slow start settles near 2 × 64 with answers
 * taking about half a second: never congested, yet the server set the pace.)
 */
export const WINDOW_TICK_MS = 250;
/** Ticks of completions the server's rate is measured over (one second). */
const RATE_TICKS = 4;
const MIN_WINDOW = 8;
const INITIAL_WINDOW = 64;
/** Ticks in a row a window must be held under the cap by slow answers to count as held. */
const HELD_TICKS = 2;

export class HandshakeWindow {
  #size: number;
  #lowest: number;
  readonly #min: number;
  #latencySumMs = 0;
  #timed = 0;
  #timeouts = 0;
  #settled = 0;
  #heldTicks = 0;
  readonly #settledPerTick: number[] = [];

  constructor(
    readonly max: number,
    /** Mean connect latency above this shrinks the window. */
    readonly targetMs: number,
  ) {
    this.#size = Math.min(max, INITIAL_WINDOW);
    this.#lowest = max;
    this.#min = Math.min(max, MIN_WINDOW);
  }

  /** Handshakes that may be in flight now. */
  get size(): number {
    return Math.floor(this.#size);
  }

  /**
   * The smallest the window has been while the server set the pace: lowered on congestion, or held
   * under the cap by slow answers while connections waited. A slow start that is still growing on
   * quick answers does not count.
   */
  get lowest(): number {
    return Math.floor(this.#lowest);
  }

  /** An attempt has its outcome: `latencyMs` when the server answered (101 or another status). */
  settled(latencyMs: number | undefined, timedOut: boolean): void {
    this.#settled++;
    if (latencyMs !== undefined) {
      this.#latencySumMs += latencyMs;
      this.#timed++;
      if (latencyMs < this.targetMs / 2 && this.#size < this.max) this.#size = Math.min(this.max, this.#size + 1);
    }
    if (timedOut) this.#timeouts++;
  }

  /**
   * Every WINDOW_TICK_MS during the ramp: resize from this tick's latency and the last second's rate.
   * `waiting`: blast holds connections back because the window is full.
   */
  tick(waiting = false): void {
    this.#settledPerTick.push(this.#settled);
    if (this.#settledPerTick.length > RATE_TICKS) this.#settledPerTick.shift();
    const meanMs = this.#timed ? this.#latencySumMs / this.#timed : undefined;
    const congested = this.#timeouts > 0 || (meanMs !== undefined && meanMs > this.targetMs);
    if (congested) {
      const completed = this.#settledPerTick.reduce((total, n) => total + n, 0);
      const ratePerSecond = (completed * 1000) / (this.#settledPerTick.length * WINDOW_TICK_MS);
      const fits = ratePerSecond * (this.targetMs / 1000);
      this.#size = Math.max(this.#min, Math.min(this.#size, fits > 0 ? fits : this.#size / 2));
      this.#lowest = Math.min(this.#lowest, this.#size);
      this.#heldTicks = 0;
    } else if (waiting && this.#size < this.max && meanMs !== undefined && meanMs >= this.targetMs / 2) {
      // Not congested, but answers too slow to grow the window while connections wait: held, when
      // it lasts (one slow tick, a pause of blast's own, is not a pace).
      if (++this.#heldTicks >= HELD_TICKS) this.#lowest = Math.min(this.#lowest, this.#size);
    } else {
      this.#heldTicks = 0;
    }
    this.#latencySumMs = 0;
    this.#timed = 0;
    this.#timeouts = 0;
    this.#settled = 0;
  }
}
