/**
 * The engine of one client process: opens its share of connections at the planned pace (the ramp),
 * then, when the coordinator says every process has finished its ramp, sends messages at full
 * concurrency (the run): closed loop, or paced open loop with latency from the intended send time.
 * With `rampTraffic` each connection starts sending as soon as it opens, as tcpkali and k6 do.
 * Every attempt lands in exactly one outcome. It emits state and returns data; it never prints.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { LoadGeneratorOptions } from '../ipc/blast-messages.js';
import { bump, emptyBlastCounters } from '../metrics/blast-counters.js';
import { createHistogram, encodeHistogram, recordUs, type Histogram } from '../metrics/histogram.js';
import type { IntervalSample } from '../metrics/timeline.js';
import type { PhaseHealth, WorkerSnapshot } from '../metrics/worker-snapshot.js';
import { Opcode, WsConnection, type ConnectionEvents, type ConnectTarget } from './ws-connection.js';

export type { LoadGeneratorOptions };


/**
 * Open loop, memory bound: a connection holds further sends while it has this many echoes
 * outstanding, or while its socket has more than WRITE_HIGH_WATER_BYTES unsent. So one connection
 * queues at most WRITE_HIGH_WATER_BYTES plus one message, and keeps at most MAX_OUTSTANDING send
 * times (8 B each); a process, its connections times that.
 */
export const MAX_OUTSTANDING = 4096;
export const WRITE_HIGH_WATER_BYTES = 16 * 1024;
/** A connection that finds this many source pairs taken in a row fails with the last code. */
const MAX_ADDRESS_RETRIES = 256;
/** Connections opened per turn of the event loop during the ramp. */
const OPEN_BATCH = 64;
/** At the end, connections get this long to finish their closing handshake before they are cut. */
const CLOSE_GRACE_MS = 2000;
/** How often the process measures its own stalls (the lateness of this timer). */
const STALL_SAMPLE_MS = 20;
/**
 * A connect timeout during which this process itself stalled for this share of the timeout or more
 * is one the client may explain, not the server: it is counted apart as well.
 */
export const STALL_EXPLAINS_TIMEOUT = 0.1;

export class LoadGenerator implements ConnectionEvents {
  readonly counters = emptyBlastCounters();
  readonly #connectHistogram = createHistogram();
  readonly #rampRoundTrips = createHistogram();
  readonly #runRoundTrips = createHistogram();
  /** Where round trips go now: the ramp's histogram until the run starts. */
  #roundTrips: Histogram = this.#rampRoundTrips;
  /** Round trips since the last interval sample (takeInterval resets it): one second's p99 for the timeline. */
  readonly #intervalRoundTrips = createHistogram();
  #intervalSecond = 0;
  #intervalStartedAt = 0;
  #intervalReceivedBefore = 0;
  readonly #options: LoadGeneratorOptions;
  readonly #target: ConnectTarget;
  readonly #opcode: number;
  readonly #open = new Set<WsConnection>();
  /** Connections between their first connect and their outcome. */
  readonly #connecting = new Set<WsConnection>();
  readonly #intervalMs: number;
  readonly #paced: boolean;
  #started = 0;
  #rampStartedAt = 0;
  /** The ramp's pacing timer (--connect-rate): the engine's own, never a connection's. */
  #rampTimer: NodeJS.Timeout | undefined;
  #pumpScheduled = false;
  #running = false;
  #stopping = false;
  #done = 0;
  #nextPair = 0;
  readonly #startedWall = Date.now();
  #phaseCpu = process.cpuUsage();
  #phaseStartedAt = performance.now();
  #rampHealth: PhaseHealth | undefined;
  readonly #loopDelay = monitorEventLoopDelay({ resolution: 10 });
  /** Milliseconds this process has stalled so far (the summed lateness of a 20 ms timer). */
  #stalledMs = 0;
  #stallSampler: NodeJS.Timeout | undefined;

  constructor(options: LoadGeneratorOptions) {
    this.#options = options;
    this.#target = {
      host: options.host,
      port: options.port,
      requestHead: options.requestHead,
      subprotocols: options.subprotocols,
      connectTimeoutMs: options.connectTimeoutMs,
      batchWrites: options.pipeline > 1,
      tls: options.tls,
    };
    this.#paced = options.rate !== undefined && options.rate > 0;
    this.#opcode = options.binary ? Opcode.binary : Opcode.text;
    this.#intervalMs = options.rate ? 1000 / options.rate : 0;
  }

  get rampDone(): boolean {
    return this.#started === this.#options.connections && this.#connecting.size === 0;
  }

  /** Ramp done and nothing open: the server refused or dropped everything, or all closed. */
  get idle(): boolean {
    return this.rampDone && this.#open.size === 0;
  }

  /** --messages: every open connection has sent and got back its quota. */
  get messagesDone(): boolean {
    return this.rampDone && this.#options.messages !== undefined && this.#done >= this.#open.size;
  }

  start(): void {
    this.#loopDelay.enable();
    this.#rampStartedAt = performance.now();
    this.#intervalStartedAt = this.#rampStartedAt;
    let last = this.#rampStartedAt;
    this.#stallSampler = setInterval(() => {
      const now = performance.now();
      const late = now - last - STALL_SAMPLE_MS;
      if (late > 0) this.#stalledMs += late;
      last = now;
    }, STALL_SAMPLE_MS);
    this.#pump();
  }

  /**
   * Every process has finished its ramp: the run begins. Round trips count towards the run from
   * now, the process's load is measured afresh, and (unless traffic already flows) sending starts.
   */
  startRun(): void {
    if (this.#running || this.#stopping) return;
    this.#running = true;
    this.#rampHealth = this.#phaseHealth();
    this.#roundTrips = this.#runRoundTrips;
    this.counters.rampMessagesReceived = this.counters.messagesReceived;
    // The ramp's garbage (handshakes, buffers) goes now, once, rather than stay for the run.
    // The worker process runs with --expose-gc; elsewhere this is a no-op.
    (globalThis as { gc?: () => void }).gc?.();
    this.#loopDelay.reset();
    this.#phaseCpu = process.cpuUsage();
    this.#phaseStartedAt = performance.now();
    if (!this.#options.rampTraffic) for (const connection of this.#open) this.#startTraffic(connection);
  }

  /**
   * Stop: no new connections or sends. Messages still unanswered now are recorded as round trips of
   * at least their age (a stall at the very end still shows), then connections close, and what
   * arrives while they do is no longer counted.
   */
  async stop(): Promise<WorkerSnapshot> {
    this.#stopping = true;
    const endedAt = performance.now();
    if (this.#rampTimer) clearTimeout(this.#rampTimer);
    if (this.#stallSampler) clearInterval(this.#stallSampler);
    for (const connection of this.#open) this.#recordUnanswered(connection, endedAt);
    this.counters.unanswered = this.counters.messagesSent - this.counters.messagesReceived;
    // The last, partial, second of the timeline: the unanswered messages just recorded are in it.
    const lastInterval = this.takeInterval();
    const health = this.#phaseHealth();
    // Handshakes still in flight end now, as failed ('aborted'), through their close events.
    for (const connection of this.#connecting) connection.destroy('aborted');
    for (const connection of this.#open) {
      if (connection.paceTimer) clearTimeout(connection.paceTimer);
      connection.paceTimer = undefined;
      connection.close(1000);
    }
    const deadline = performance.now() + CLOSE_GRACE_MS;
    while ((this.#open.size > 0 || this.#connecting.size > 0) && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (const connection of this.#open) connection.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    this.#loopDelay.disable();
    return {
      index: this.#options.index,
      counters: this.counters,
      connectHistogram: encodeHistogram(this.#connectHistogram),
      rampRoundTripHistogram: encodeHistogram(this.#rampRoundTrips),
      runRoundTripHistogram: encodeHistogram(this.#runRoundTrips),
      startedAt: this.#startedWall,
      endedAt: Date.now(),
      ramp: this.#rampHealth ?? health,
      run: this.#rampHealth ? health : null,
      lastInterval,
    };
  }

  /**
   * The interval since the last call (one second, when the worker's ticker calls it): echoes
   * received, connections open, and its round trips as a compressed histogram, which is then reset.
   */
  takeInterval(): IntervalSample {
    const now = performance.now();
    const sample: IntervalSample = {
      second: this.#intervalSecond++,
      elapsedMs: now - this.#intervalStartedAt,
      received: this.counters.messagesReceived - this.#intervalReceivedBefore,
      open: this.counters.open,
      roundTrips: encodeHistogram(this.#intervalRoundTrips),
      phase: this.#running ? 'run' : 'ramp',
    };
    this.#intervalRoundTrips.reset();
    this.#intervalStartedAt = now;
    this.#intervalReceivedBefore = this.counters.messagesReceived;
    return sample;
  }

  /** CPU and event-loop delay since the current phase began. */
  #phaseHealth(): PhaseHealth {
    const cpu = process.cpuUsage(this.#phaseCpu);
    const delay = this.#loopDelay;
    return {
      wallMs: performance.now() - this.#phaseStartedAt,
      cpuUs: cpu.user + cpu.system,
      eventLoopDelayP99Ms: delay.count ? delay.percentile(99) / 1e6 : 0,
      eventLoopDelayMaxMs: delay.count ? delay.max / 1e6 : 0,
    };
  }

  #recordUnanswered(connection: WsConnection, endedAt: number): void {
    if (connection.intended) {
      for (const sentAt of connection.intended) this.#recordAged(endedAt - sentAt);
      connection.intended.length = 0;
    } else if (connection.sent > connection.received) {
      this.#recordAged(endedAt - connection.sentAt);
    }
  }

  #recordAged(ageMs: number): void {
    recordUs(this.#roundTrips, ageMs * 1000);
    recordUs(this.#intervalRoundTrips, ageMs * 1000);
  }

  // --- the ramp ----------------------------------------------------------------------------------

  #pump(): void {
    const { connections, maxHandshakes, connectRate } = this.#options;
    let batch = 0;
    while (!this.#stopping && this.#started < connections && this.#connecting.size < maxHandshakes) {
      // Open at most a batch per turn of the event loop, so echoes and handshake answers that
      // arrived meanwhile are timed when they arrive, not after a thousand connects.
      if (batch++ === OPEN_BATCH) {
        this.#pumpScheduled ||= Boolean(setImmediate(() => {
          this.#pumpScheduled = false;
          this.#pump();
        }));
        return;
      }
      if (connectRate > 0) {
        const elapsedMs = performance.now() - this.#rampStartedAt;
        const allowed = Math.floor((elapsedMs * connectRate) / 1000) + 1;
        if (this.#started >= allowed) {
          const waitMs = Math.max(1, ((this.#started * 1000) / connectRate) - elapsedMs);
          this.#rampTimer ??= setTimeout(() => {
            this.#rampTimer = undefined;
            this.#pump();
          }, waitMs);
          return;
        }
      }
      this.#started++;
      this.counters.attempted++;
      const connection = new WsConnection(this);
      connection.stalledAtStart = this.#stalledMs;
      this.#connecting.add(connection);
      this.#connect(connection);
    }
  }

  #connect(connection: WsConnection): void {
    const source = this.#options.source;
    if (!source) return connection.open(this.#target);
    const portsPerAddress = source.portHigh - source.portLow + 1;
    const pairs = portsPerAddress * source.addresses.length;
    const pair = this.#nextPair++ % pairs;
    connection.open(this.#target, source.addresses[Math.floor(pair / portsPerAddress)], source.portLow + (pair % portsPerAddress));
  }

  #settled(connection: WsConnection): void {
    this.#connecting.delete(connection);
    this.#pump();
  }

  // --- connection events -------------------------------------------------------------------------

  onOpen(connection: WsConnection): void {
    recordUs(this.#connectHistogram, (performance.now() - connection.startedAt) * 1000);
    this.counters.accepted++;
    this.counters.open++;
    this.#open.add(connection);
    this.#settled(connection);
    if (this.#stopping) return connection.close(1000);
    if (this.#running || this.#options.rampTraffic) this.#startTraffic(connection);
  }

  onRejected(connection: WsConnection, status: number): void {
    bump(this.counters.rejected, status);
    this.#settled(connection);
  }

  onFailed(connection: WsConnection, reason: string): void {
    bump(this.counters.failed, reason);
    if (reason === 'ETIMEDOUT') {
      // Did this process stall for long during the attempt? Then the timeout may be its own doing.
      const stalledMs = this.#stalledMs - connection.stalledAtStart + connection.timeoutLatenessMs;
      if (stalledMs >= this.#options.connectTimeoutMs * STALL_EXPLAINS_TIMEOUT) this.counters.timeoutsWhileStalled++;
    }
    this.#settled(connection);
  }

  onAddressInUse(connection: WsConnection, code: string): void {
    this.counters.addressRetries++;
    if (this.#stopping) return this.onFailed(connection, 'aborted');
    if (++connection.retries > MAX_ADDRESS_RETRIES) return this.onFailed(connection, code);
    this.#connect(connection);
  }

  onMessage(connection: WsConnection, payload: Buffer, binary: boolean): void {
    // After the end of the run nothing more is counted: what was outstanding is already recorded.
    if (this.#stopping) return;
    // Nothing outstanding on this connection: the server sent it unasked. It is counted as a
    // mismatch (what came back is not what was sent), not as an echo, and sends nothing more.
    if (connection.received >= connection.sent) {
      this.counters.mismatched++;
      return;
    }
    const now = performance.now();
    const sentAt = connection.intended ? connection.intended.shift() : connection.sentAt;
    connection.received++;
    this.counters.messagesReceived++;
    this.counters.bytesReceived += payload.length;
    if (sentAt !== undefined) {
      const roundTripUs = (now - sentAt) * 1000;
      recordUs(this.#roundTrips, roundTripUs);
      recordUs(this.#intervalRoundTrips, roundTripUs);
    }
    if (binary !== this.#options.binary || !payload.equals(this.#options.payload)) this.counters.mismatched++;
    const quota = this.#options.messages;
    if (quota !== undefined && connection.received === quota) this.#done++;
    if (!this.#paced) this.#sendClosedLoop(connection);
  }

  onClosed(connection: WsConnection, code: number, closedByUs: boolean): void {
    this.#open.delete(connection);
    this.counters.open--;
    if (connection.paceTimer) clearTimeout(connection.paceTimer);
    connection.paceTimer = undefined;
    if (!closedByUs && !this.#stopping) {
      bump(this.counters.dropped, code);
      const quota = this.#options.messages;
      if (quota !== undefined && connection.received >= quota) this.#done--;
    }
  }

  // --- messages ----------------------------------------------------------------------------------

  #startTraffic(connection: WsConnection): void {
    const { rate, pipeline } = this.#options;
    if (rate === undefined) {
      if (pipeline > 1) connection.intended = [];
      for (let i = 0; i < pipeline; i++) this.#sendClosedLoop(connection);
    } else if (rate > 0) {
      this.#startPaced(connection);
    }
  }

  #sendClosedLoop(connection: WsConnection): void {
    if (this.#stopping || connection.state !== 'open') return;
    const quota = this.#options.messages;
    if (quota !== undefined && connection.sent >= quota) return;
    const now = performance.now();
    if (connection.intended) connection.intended.push(now);
    else connection.sentAt = now;
    this.#write(connection);
  }

  #write(connection: WsConnection): void {
    connection.sent++;
    this.counters.messagesSent++;
    this.counters.bytesSent += this.#options.payload.length;
    connection.send(this.#options.payload, this.#opcode);
  }

  /**
   * Open loop: sends fall due every 1/rate s; late ones still count from when they were due. The
   * first send of each connection falls at a random point of its first interval, so that
   * connections that start together (at the start of the run) do not send in lockstep.
   */
  #startPaced(connection: WsConnection): void {
    connection.intended = [];
    connection.sentAt = performance.now() + Math.random() * this.#intervalMs;
    this.#paceTick(connection);
  }

  #paceTick(connection: WsConnection): void {
    connection.paceTimer = undefined;
    if (this.#stopping || connection.state !== 'open') return;
    const quota = this.#options.messages;
    const intended = connection.intended!;
    const now = performance.now();
    while (connection.sentAt <= now && intended.length < MAX_OUTSTANDING && connection.writableLength <= WRITE_HIGH_WATER_BYTES) {
      if (quota !== undefined && connection.sent >= quota) return;
      intended.push(connection.sentAt);
      this.#write(connection);
      connection.sentAt += this.#intervalMs;
    }
    // Held back (too many outstanding, or the socket not draining): sends that fall due wait, as
    // wrk2's do, and go out later, still timed from when they were due, so a long stall stays in
    // the percentiles instead of being skipped.
    const late = connection.sentAt <= now;
    if (late) this.counters.delayedSends++;
    connection.paceTimer = setTimeout(this.#onPaceTimer, late ? Math.max(1, this.#intervalMs) : connection.sentAt - now, connection);
  }

  /** One callback for every connection's pace timer (no closure per connection or per send). */
  readonly #onPaceTimer = (connection: WsConnection) => this.#paceTick(connection);
}
