/**
 * The engine of one client process: opens its share of connections at the planned pace (the ramp),
 * then, when the coordinator says every process has finished its ramp, sends messages at full
 * concurrency (the run), in the run's traffic pattern (patterns/: echo, reply, fire-and-forget,
 * flood, subscribe, scenario, an application protocol), which it calls through the Pattern interface.
 * With `rampTraffic` each connection starts sending as soon as it opens, as tcpkali and k6 do.
 * Every attempt lands in exactly one outcome. It emits state and returns data; it never prints.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { LoadGeneratorOptions } from '../ipc/blast-messages.js';
import { bump, emptyBlastCounters } from '../metrics/blast-counters.js';
import { createHistogram, encodeHistogram, recordUs, type Histogram } from '../metrics/histogram.js';
import type { IntervalSample } from '../metrics/timeline.js';
import type { DropSecond, PhaseHealth, WorkerSnapshot } from '../metrics/worker-snapshot.js';
import { MessageTemplate, type DataLayout } from '../message/template.js';
import { RequestHeadTemplate } from '../data/placeholders.js';
import { HandshakeWindow, WINDOW_TICK_MS } from './handshake-window.js';
import { createPattern } from './patterns/create.js';
import { Outgoing } from './patterns/outgoing.js';
import type { Pattern, PatternHost } from './patterns/pattern.js';
import { Opcode, WRITE_HIGH_WATER_BYTES, WsConnection, type ConnectionEvents, type ConnectTarget } from './ws-connection.js';

export type { LoadGeneratorOptions };


export { MAX_OUTSTANDING } from './patterns/pacer.js';
export { WRITE_HIGH_WATER_BYTES };
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
/**
 * Patterns that drain (Pattern.drains: subscribe and fire-and-forget): at the end, sending stops
 * first, and what arrives still counts until nothing has for DELIVERY_QUIET_MS (at least that long,
 * at most DELIVERY_DRAIN_MAX_MS), so that messages in flight when the run ends, however late, are not
 * counted as missed or unanswered. (Echo and reply need no drain: what is outstanding at the end is
 * recorded at its age.)
 */
const DELIVERY_QUIET_MS = 1000;
/** --lifetime: lifetimes end on ticks of this length (one timer for every connection, not one each). */
const LIFETIME_TICK_MS = 50;
const DELIVERY_DRAIN_MAX_MS = 10_000;

export class LoadGenerator implements ConnectionEvents {
  readonly counters = emptyBlastCounters();
  readonly #connectHistogram = createHistogram();
  readonly #rampRoundTrips = createHistogram();
  readonly #runRoundTrips = createHistogram();
  /** Where round trips go now: the ramp's histogram until the run starts. */
  #roundTrips: Histogram = this.#rampRoundTrips;
  /** Round trips since the last interval sample (takeInterval resets it): one second's p99 for the timeline. */
  readonly #intervalRoundTrips = createHistogram();
  /**
   * Every round trip is recorded here, once, and added to the phase's and the interval's histograms
   * at each interval, at the start of the run and at the end (#flushRoundTrips): one record per
   * message instead of two.
   */
  readonly #newRoundTrips = createHistogram();
  /** Handshakes since the last interval sample: live /metrics (coordinator) adds them up. */
  readonly #intervalConnects = createHistogram();
  /** This process's own load over the interval, for live /metrics. */
  readonly #intervalLoopDelay = monitorEventLoopDelay({ resolution: 20 });
  #intervalCpu = process.cpuUsage();
  #intervalSecond = 0;
  #intervalStartedAt = 0;
  #intervalReceivedBefore = 0;
  readonly #options: LoadGeneratorOptions;
  readonly #target: ConnectTarget;
  readonly #open = new Set<WsConnection>();
  /** Connections between their first connect and their outcome. */
  readonly #connecting = new Set<WsConnection>();
  /** The open loop's interval between two sends of a connection, ms (--rate; wsbench find may change it). */
  #intervalMs: number;
  readonly #paced: boolean;
  /** The run's traffic pattern (patterns/): what connections send and what their messages mean. */
  readonly #pattern: Pattern;
  /** A pattern that drains, at the end: senders have stopped; what arrives still counts. */
  #quiescing = false;
  #rampCollecting = false;
  #rampCollected = false;
  /** A pattern that drains: when the last message arrived during the drain at the end (performance.now()). */
  #lastDeliveryAt = 0;
  /** --data: this process's connections' rows (see LoadGeneratorOptions.data); undefined without it. */
  readonly #rows: readonly (readonly string[])[] | undefined;
  /** {{data.*}} in the URL or a header: the request head, rendered per connection at its attempt. */
  readonly #head: RequestHeadTemplate | undefined;
  /** --protocol: from the upgrade to the protocol's own handshake done, µs. */
  readonly #handshake2 = createHistogram();
  #started = 0;
  /** Attempts this process makes in all: options.connections, or less, moved by setTarget (wsbench find). */
  #limit: number;
  /**
   * Slots to open again, before any new one (#pump): --lifetime replacements and --reconnect
   * attempts. Each is a new connection with the slot's number; pacing (--connect-rate) is the ramp's.
   */
  readonly #reopen: WsConnection[] = [];
  /** --lifetime: connections by the tick their lifetime ends on; those being closed for it. */
  readonly #expiries = new Map<number, WsConnection[]>();
  readonly #expiring = new Set<WsConnection>();
  /**
   * --lifetime: replacements in flight, by attempt. One the server refuses or that fails is tried
   * again after the --reconnect backoff, so that concurrency holds: a server frees a slot a moment
   * after the TCP connection has closed (serve's worker tells its primary over IPC), and a
   * replacement may come in that moment.
   */
  readonly #replacing = new Map<WsConnection, number>();
  #lifetimeTimer: NodeJS.Timeout | undefined;
  /** --reconnect: attempts to open a dropped slot again, with when it dropped and the attempt's number. */
  readonly #reconnects = new Map<WsConnection, { droppedAt: number; droppedSecond: number; attempt: number }>();
  readonly #reconnectTimers = new Set<NodeJS.Timeout>();
  /** Handshakes completed during the run; --reconnect: drop-to-back times, and drops by wall-clock second. */
  readonly #runConnects = createHistogram();
  readonly #reconnectTimes = createHistogram();
  readonly #dropSeconds = new Map<number, { dropped: number; firstDropAt: number; back: number; lastBackAt: number; backUs: Histogram }>();
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
  /** Handshakes in flight: --max-handshakes at most, fewer while the server is slow to answer. */
  readonly #window: HandshakeWindow;
  #windowTimer: NodeJS.Timeout | undefined;

  constructor(options: LoadGeneratorOptions) {
    this.#options = options;
    this.#target = {
      host: options.host,
      port: options.port,
      requestHead: options.requestHead,
      subprotocols: options.subprotocols,
      compression: options.compression,
      compressionTally: this.counters,
      connectTimeoutMs: options.connectTimeoutMs,
      batchWrites: options.pipeline > 1,
      // Floods (--flood, and --fire-and-forget without --rate) and scenarios go on when a full socket
      // drains: they write through net's stream, whose 'drain' says so.
      refillOnDrain: (options.pattern === 'fire' && options.rate === undefined) || options.pattern === 'scenario' || options.protocol !== 'ws',
      tls: options.tls,
    };
    this.#paced = options.rate !== undefined && options.rate > 0;
    this.#window = new HandshakeWindow(options.maxHandshakes, Math.max(100, options.connectTimeoutMs / 4));
    this.counters.handshakeWindowLowest = options.maxHandshakes;
    this.#intervalMs = options.rate ? 1000 / options.rate : 0;
    const layout = options.data ? dataLayout(options.data.fields, options.data.rows) : undefined;
    this.#rows = options.data?.rows;
    this.#head = options.data && RequestHeadTemplate.needed(options.requestHead) ? new RequestHeadTemplate(options.requestHead, options.data.fields) : undefined;
    this.#limit = Math.min(options.connections, options.openAtStart ?? options.connections);
    // Without --message the payload goes out; with a --message that has no placeholder, its text.
    const template = options.message === undefined ? undefined : new MessageTemplate(options.message, '--message', layout);
    const outgoing = new Outgoing(template, options.payload, options.binary ? Opcode.binary : Opcode.text, options.stampConnection, options.index, this.counters, (connection) => this.#rowOf(connection));
    this.#pattern = createPattern(this.#patternHost(outgoing), layout, (us) => recordUs(this.#handshake2, us));
  }

  /** What the run's pattern may do: send, count and record through the engine. */
  #patternHost(outgoing: Outgoing): PatternHost {
    const engine = this;
    const counters = this.counters;
    return {
      options: this.#options,
      counters,
      outgoing,
      get stopping() {
        return engine.#stopping;
      },
      get quiescing() {
        return engine.#quiescing;
      },
      get trafficFlows() {
        return engine.#running || engine.#options.rampTraffic;
      },
      get intervalMs() {
        return engine.#intervalMs;
      },
      rowOf: (connection) => this.#rowOf(connection),
      received: (connection, bytes, sentAt, now) => {
        connection.received++;
        counters.messagesReceived++;
        counters.bytesReceived += bytes;
        if (sentAt !== undefined) recordUs(this.#newRoundTrips, (now - sentAt) * 1000);
        const quota = this.#options.messages;
        if (quota !== undefined && connection.received === quota) this.#done++;
      },
      recordUs: (us) => recordUs(this.#newRoundTrips, us),
      arrived: () => {
        if (this.#quiescing) this.#lastDeliveryAt = performance.now();
      },
      done: () => {
        this.#done++;
      },
    };
  }

  /**
   * wsbench find: hold `connections` (at most options.connections): open the difference to those
   * open or opening, each attempted once (a refused one is the step's answer, not retried), or
   * close the newest (1000) down to it. `rate`: messages per second per connection from now on.
   */
  setTarget(connections: number, rate?: number): void {
    if (this.#stopping) return;
    const target = Math.min(connections, this.#options.connections);
    const held = this.#open.size + this.#connecting.size;
    if (target > held) {
      this.#limit = this.#started + (target - held);
      this.#pump();
    } else {
      this.#limit = this.#started;
      const excess = Math.min(held - target, this.#open.size);
      if (excess > 0) for (const connection of [...this.#open].slice(-excess)) connection.close(1000);
    }
    if (rate !== undefined && rate > 0 && this.#paced) this.#intervalMs = 1000 / rate;
  }

  /**
   * This process's ramp is over: every attempt has its outcome, and the ramp's garbage is collected
   * (see #collectRamp). The coordinator starts the run when every process says so.
   */
  get rampDone(): boolean {
    return this.#attemptsDone && this.#rampCollected;
  }

  get #attemptsDone(): boolean {
    return this.#started >= this.#limit && this.#connecting.size === 0;
  }

  /** Ramp done and nothing open: the server refused or dropped everything, or all closed. */
  get idle(): boolean {
    return this.rampDone && this.#open.size === 0 && this.#reopen.length === 0 && this.counters.reconnecting === 0 && this.#replacing.size === 0 && this.#reconnectTimers.size === 0;
  }

  /**
   * --messages (the pattern decides: Pattern.allFinished): every open connection has sent and got
   * back its quota (echo, reply), or has sent it (fire-and-forget, and the publishers when
   * subscribing). --scenario: every open connection has run its last step or stopped at an expect
   * that timed out.
   */
  get messagesDone(): boolean {
    return this.rampDone && this.#pattern.allFinished(this.#open, this.#done);
  }

  start(): void {
    this.#loopDelay.enable();
    this.#intervalLoopDelay.enable();
    this.#rampStartedAt = performance.now();
    this.#intervalStartedAt = this.#rampStartedAt;
    let last = this.#rampStartedAt;
    this.#stallSampler = setInterval(() => {
      const now = performance.now();
      const late = now - last - STALL_SAMPLE_MS;
      if (late > 0) this.#stalledMs += late;
      last = now;
    }, STALL_SAMPLE_MS);
    this.#windowTimer = setInterval(() => {
      this.#window.tick(this.#started < this.#options.connections && this.#connecting.size >= this.#window.size);
      this.counters.handshakeWindowLowest = this.#window.lowest;
      this.#pump();
    }, WINDOW_TICK_MS);
    this.#pump();
    // wsbench find may give a process nothing to open at the start: its ramp is done at once.
    if (this.#attemptsDone) this.#collectRamp();
  }

  /**
   * Every process has finished its ramp: the run begins. Round trips count towards the run from
   * now, the process's load is measured afresh, and (unless traffic already flows) sending starts.
   */
  startRun(): void {
    if (this.#running || this.#stopping) return;
    this.#running = true;
    this.#rampHealth = this.#phaseHealth();
    this.#flushRoundTrips();
    this.#roundTrips = this.#runRoundTrips;
    this.counters.rampMessagesReceived = this.counters.messagesReceived;
    this.#loopDelay.reset();
    this.#phaseCpu = process.cpuUsage();
    this.#phaseStartedAt = performance.now();
    if (!this.#options.rampTraffic) for (const connection of this.#open) this.#pattern.start(connection);
    const lifetime = this.#options.lifetimeMs;
    if (lifetime !== undefined) {
      // The ramp's connections end at times spread evenly over one lifetime, so that connections
      // turn over at -c / lifetime a second from the start of the run, not all at once a lifetime later.
      for (const connection of this.#open) this.#expireIn(connection, Math.random() * lifetime);
      this.#lifetimeTimer = setInterval(() => this.#expire(), LIFETIME_TICK_MS);
    }
  }

  /** --lifetime: the connection is closed (1000) and replaced `ms` from now. */
  #expireIn(connection: WsConnection, ms: number): void {
    const tick = Math.ceil((performance.now() + ms) / LIFETIME_TICK_MS);
    const due = this.#expiries.get(tick);
    if (due) due.push(connection);
    else this.#expiries.set(tick, [connection]);
  }

  #expire(): void {
    const now = Math.floor(performance.now() / LIFETIME_TICK_MS);
    for (const [tick, due] of this.#expiries) {
      if (tick > now) continue;
      this.#expiries.delete(tick);
      for (const connection of due) {
        if (this.#stopping || connection.state !== 'open' || !this.#open.has(connection)) continue;
        this.#expiring.add(connection);
        connection.close(1000);
      }
    }
  }

  /** A lifetime of --lifetime ± --lifetime-jitter (uniform). */
  #lifetime(): number {
    const lifetime = this.#options.lifetimeMs!;
    return lifetime * (1 + this.#options.lifetimeJitter * (2 * Math.random() - 1));
  }

  /** A new connection in `previous`'s slot: its number and role, nothing else. */
  #slotAgain(previous: WsConnection): WsConnection {
    const next = new WsConnection(this, this.#options.maxPayloadBytes);
    next.index = previous.index;
    next.publisher = previous.publisher;
    return next;
  }

  /**
   * --reconnect: attempt `attempt` (1, 2, …) to open the slot of a dropped connection, after a
   * backoff: full jitter, uniform between --reconnect-min and min(--reconnect-max, --reconnect-min
   * × 2^attempt); without jitter, min(--reconnect-max, --reconnect-min × 2^(attempt-1)).
   */
  #scheduleReconnect(previous: WsConnection, droppedAt: number, droppedSecond: number, attempt: number): void {
    const delay = reconnectDelay(this.#options, attempt, Math.random());
    const timer = setTimeout(() => {
      this.#reconnectTimers.delete(timer);
      if (this.#stopping) return;
      const next = this.#slotAgain(previous);
      this.#reconnects.set(next, { droppedAt, droppedSecond, attempt });
      this.counters.reconnectAttempts++;
      this.#reopen.push(next);
      this.#pump();
    }, delay);
    this.#reconnectTimers.add(timer);
  }

  /** A replacement (attempt `attempt`) for the slot of `previous`, now or after the backoff. */
  #replace(previous: WsConnection, attempt: number): void {
    const open = () => {
      const next = this.#slotAgain(previous);
      this.#replacing.set(next, attempt);
      this.#reopen.push(next);
      this.#pump();
    };
    if (attempt === 1) return open();
    const timer = setTimeout(() => {
      this.#reconnectTimers.delete(timer);
      if (!this.#stopping) open();
    }, reconnectDelay(this.#options, attempt - 1, Math.random()));
    this.#reconnectTimers.add(timer);
  }

  /** A reconnect attempt (or a replacement) that was refused or failed: the next one, later. */
  #reconnectFailed(connection: WsConnection): void {
    const replacement = this.#replacing.get(connection);
    if (replacement !== undefined) {
      this.#replacing.delete(connection);
      if (!this.#stopping) this.#replace(connection, replacement + 1);
      return;
    }
    const retry = this.#reconnects.get(connection);
    if (!retry) return;
    this.#reconnects.delete(connection);
    if (!this.#stopping) this.#scheduleReconnect(connection, retry.droppedAt, retry.droppedSecond, retry.attempt + 1);
  }

  /**
   * Stop: no new connections or sends. Messages still unanswered now are recorded as round trips of
   * at least their age (a stall at the very end still shows), and the snapshot of what was measured
   * is returned at once, before any connection closes: how long closing takes (thousands of
   * connections in a starved process) must not decide whether the measurement is reported.
   * close() then closes the connections; what arrives meanwhile is no longer counted.
   */
  async stop(): Promise<WorkerSnapshot> {
    const pattern = this.#pattern;
    if (pattern.drains && this.#running && !this.#stopping) {
      // Publishers (or fire-and-forget senders) stop; what they sent still arrives, and counts, for a moment.
      this.#quiescing = true;
      for (const connection of this.#open) pattern.quiesce(connection);
      const drainStartedAt = performance.now();
      const receivedBeforeDrain = this.counters.messagesReceived;
      this.#lastDeliveryAt = drainStartedAt;
      while (performance.now() - this.#lastDeliveryAt < DELIVERY_QUIET_MS && performance.now() - drainStartedAt < DELIVERY_DRAIN_MAX_MS) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      this.counters.drainMessagesReceived = this.counters.messagesReceived - receivedBeforeDrain;
    }
    this.#stopping = true;
    const endedAt = performance.now();
    if (this.#rampTimer) clearTimeout(this.#rampTimer);
    if (this.#lifetimeTimer) clearInterval(this.#lifetimeTimer);
    for (const timer of this.#reconnectTimers) clearTimeout(timer);
    this.#reconnectTimers.clear();
    this.#reopen.length = 0;
    if (this.#stallSampler) clearInterval(this.#stallSampler);
    if (this.#windowTimer) clearInterval(this.#windowTimer);
    // What is outstanding is unanswered, recorded at its age (in the last interval too).
    for (const connection of this.#open) pattern.stop(connection, endedAt);
    pattern.stopped();
    // Handshakes still in flight end as failed ('aborted'): counted now, closed by close().
    if (this.#connecting.size > 0) this.counters.failed.aborted = (this.counters.failed.aborted ?? 0) + this.#connecting.size;
    this.#abortedAtStop = new Set(this.#connecting);
    // The last, partial, second of the timeline: the unanswered messages just recorded are in it.
    const lastInterval = this.takeInterval();
    const health = this.#phaseHealth();
    this.#loopDelay.disable();
    this.#intervalLoopDelay.disable();
    this.#flushRoundTrips();
    return {
      index: this.#options.index,
      // A copy: close() goes on changing the live counters after this snapshot.
      counters: structuredClone(this.counters),
      connectHistogram: encodeHistogram(this.#connectHistogram),
      rampRoundTripHistogram: encodeHistogram(this.#rampRoundTrips),
      runRoundTripHistogram: encodeHistogram(this.#runRoundTrips),
      startedAt: this.#startedWall,
      endedAt: Date.now(),
      ramp: this.#rampHealth ?? health,
      run: this.#rampHealth ? health : null,
      lastInterval,
      runConnectHistogram: encodeHistogram(this.#runConnects),
      ...(this.#options.protocol !== 'ws' ? { handshake2Histogram: encodeHistogram(this.#handshake2) } : {}),
      ...(this.#options.reconnect
        ? {
            reconnectHistogram: encodeHistogram(this.#reconnectTimes),
            dropSeconds: [...this.#dropSeconds].map(([second, d]): DropSecond => ({ second, dropped: d.dropped, firstDropAt: d.firstDropAt, back: d.back, lastBackAt: d.lastBackAt, backHistogram: encodeHistogram(d.backUs) })),
          }
        : {}),
    };
  }

  /** Handshakes in flight when stop() counted them as aborted: their close adds nothing more. */
  #abortedAtStop: Set<WsConnection> | undefined;

  /** Connections still open or connecting (while close() runs: its progress). */
  get openOrConnecting(): number {
    return this.#open.size + this.#connecting.size;
  }

  /**
   * After stop(): close every connection (a close frame, then CLOSE_GRACE_MS for the server's) and
   * cut what is left. Nothing counts any more.
   */
  async close(): Promise<void> {
    for (const connection of this.#connecting) connection.destroy('aborted');
    for (const connection of this.#open) {
      this.#pattern.leave(connection);
      connection.close(1000);
    }
    const deadline = performance.now() + CLOSE_GRACE_MS;
    while ((this.#open.size > 0 || this.#connecting.size > 0) && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (const connection of this.#open) connection.destroy();
    await new Promise((resolve) => setImmediate(resolve));
  }

  /**
   * The interval since the last call (one second, when the worker's ticker calls it): echoes
   * received, connections open, and its round trips as a compressed histogram, which is then reset.
   */
  takeInterval(): IntervalSample {
    this.#flushRoundTrips();
    const now = performance.now();
    const elapsedMs = now - this.#intervalStartedAt;
    const cpu = process.cpuUsage(this.#intervalCpu);
    const delay = this.#intervalLoopDelay;
    const sample: IntervalSample = {
      second: this.#intervalSecond++,
      elapsedMs,
      received: this.counters.messagesReceived - this.#intervalReceivedBefore,
      open: this.counters.open,
      roundTrips: encodeHistogram(this.#intervalRoundTrips),
      phase: this.#running ? 'run' : 'ramp',
      connects: encodeHistogram(this.#intervalConnects),
      cpuRatio: elapsedMs > 0 ? Math.round(((cpu.user + cpu.system) / 1000 / elapsedMs) * 1000) / 1000 : 0,
      loopDelayP99Ms: delay.count ? Math.round(delay.percentile(99) / 1e4) / 100 : 0,
    };
    this.#intervalRoundTrips.reset();
    this.#intervalConnects.reset();
    this.#intervalCpu = process.cpuUsage();
    delay.reset();
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

  // --- the ramp ----------------------------------------------------------------------------------

  #pump(): void {
    const connections = this.#limit;
    const { connectRate } = this.#options;
    let batch = 0;
    while (!this.#stopping && (this.#reopen.length > 0 || this.#started < connections) && this.#connecting.size < this.#window.size) {
      // Open at most a batch per turn of the event loop, so echoes and handshake answers that
      // arrived meanwhile are timed when they arrive, not after a thousand connects.
      if (batch++ === OPEN_BATCH) {
        this.#pumpScheduled ||= Boolean(setImmediate(() => {
          this.#pumpScheduled = false;
          this.#pump();
        }));
        return;
      }
      const again = this.#reopen.shift();
      if (again) {
        this.counters.attempted++;
        again.stalledAtStart = this.#stalledMs;
        this.#connecting.add(again);
        this.#connect(again);
        continue;
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
      const connection = new WsConnection(this, this.#options.maxPayloadBytes);
      connection.index = this.#options.firstConnection + this.#started - 1;
      connection.publisher = this.#started <= this.#options.publishers;
      connection.stalledAtStart = this.#stalledMs;
      this.#connecting.add(connection);
      this.#connect(connection);
    }
  }

  #connect(connection: WsConnection): void {
    const source = this.#options.source;
    // {{data.*}} in the URL or a header: this connection's head (its row's), at its attempt.
    const head = this.#head?.render(this.#rowOf(connection)!);
    if (!source) return connection.open(this.#target, undefined, undefined, head);
    const portsPerAddress = source.portHigh - source.portLow + 1;
    const pairs = portsPerAddress * source.addresses.length;
    const pair = this.#nextPair++ % pairs;
    connection.open(this.#target, source.addresses[Math.floor(pair / portsPerAddress)], source.portLow + (pair % portsPerAddress), head);
  }

  /**
   * The connection's --data row: found from its number, so that a replacement (--lifetime) or a
   * reconnect, which keeps its slot's number, keeps its row (one virtual user, one row), and a
   * connection carries no field for it.
   */
  #rowOf(connection: WsConnection): readonly string[] | undefined {
    const rows = this.#rows;
    return rows === undefined ? undefined : rows[(connection.index - this.#options.firstConnection) % rows.length];
  }

  #settled(connection: WsConnection, answered: boolean, timedOut = false): void {
    this.#connecting.delete(connection);
    this.#window.settled(answered ? performance.now() - connection.startedAt : undefined, timedOut);
    if (this.#attemptsDone) this.#collectRamp();
    this.#pump();
  }

  /**
   * The ramp's garbage (handshakes, buffers) goes once, when this process's last attempt has its
   * outcome, before it reports its ramp done: collected at the start of the run, as it was, the
   * pause of a full collection over thousands of connections fell inside the run and its figures.
   * The worker process runs with --expose-gc; elsewhere this is a no-op.
   *
   * Two collections: a plain full one, then V8's "last resort" flavour (the one it runs before
   * giving up on memory), which also gives back the pages the ramp's garbage filled: from Node 22 on
   * a plain full collection keeps them pooled for reuse. The plain one first matters on Node 20,
   * where the last-resort one alone leaves more resident than before. Measured with 10,000 idle
   * connections, RSS per connection 2 s after the last open (one worker, pinned):
   *   Node 20: plain 1,710 and 1,347 B, last resort alone 3,520 and 3,467 B, both 1,566 B;
   *   Node 24: plain 4,053 B, last resort alone 1,896 B, both 1,924 B.
   * A V8 that does not know the options runs two plain full collections.
   */
  #collectRamp(): void {
    if (this.#rampCollecting) return;
    this.#rampCollecting = true;
    if (this.#windowTimer) clearInterval(this.#windowTimer);
    this.#windowTimer = undefined;
    setImmediate(() => {
      const gc = (globalThis as { gc?: (options?: object) => void }).gc;
      gc?.();
      gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
      this.#rampCollected = true;
    });
  }

  // --- connection events -------------------------------------------------------------------------

  onOpen(connection: WsConnection): void {
    const connectUs = (performance.now() - connection.startedAt) * 1000;
    recordUs(this.#connectHistogram, connectUs);
    recordUs(this.#intervalConnects, connectUs);
    if (this.#running) recordUs(this.#runConnects, connectUs);
    this.#replacing.delete(connection);
    const back = this.#reconnects.get(connection);
    if (back) {
      this.#reconnects.delete(connection);
      this.counters.reconnected++;
      this.counters.reconnecting--;
      const backUs = (performance.now() - back.droppedAt) * 1000;
      recordUs(this.#reconnectTimes, backUs);
      const second = this.#dropSeconds.get(back.droppedSecond)!;
      second.back++;
      second.lastBackAt = Date.now();
      recordUs(second.backUs, backUs);
    }
    if (this.#options.lifetimeMs !== undefined && this.#running && !this.#stopping) this.#expireIn(connection, this.#lifetime());
    this.counters.accepted++;
    this.counters.open++;
    if (this.#options.compression) {
      if (connection.compressed) this.counters.compressionNegotiated++;
      else this.counters.compressionNotNegotiated++;
    }
    this.#open.add(connection);
    this.#settled(connection, true);
    if (this.#stopping) return connection.close(1000);
    this.#pattern.opened(connection);
    if (this.#running || this.#options.rampTraffic) this.#pattern.start(connection);
  }

  onRejected(connection: WsConnection, status: number): void {
    bump(this.counters.rejected, status);
    this.#settled(connection, true);
    this.#reconnectFailed(connection);
  }

  onFailed(connection: WsConnection, reason: string): void {
    // Counted as aborted by stop() already: its snapshot has it.
    if (this.#abortedAtStop?.has(connection)) return void this.#connecting.delete(connection);
    bump(this.counters.failed, reason);
    if (reason === 'ETIMEDOUT') {
      // Did this process stall for long during the attempt? Then the timeout may be its own doing.
      const stalledMs = this.#stalledMs - connection.stalledAtStart + connection.timeoutLatenessMs;
      if (stalledMs >= this.#options.connectTimeoutMs * STALL_EXPLAINS_TIMEOUT) this.counters.timeoutsWhileStalled++;
    }
    this.#settled(connection, false, reason === 'ETIMEDOUT');
    this.#reconnectFailed(connection);
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
    this.#pattern.message(connection, payload, binary);
  }

  /** The pattern's fast path (an echo matched where it lies in the read buffer); false goes through onMessage. */
  onMessageAt(connection: WsConnection, buffer: Buffer, start: number, end: number, binary: boolean): boolean {
    return !this.#stopping && this.#pattern.messageAt(connection, buffer, start, end, binary);
  }

  /** Hand the round trips recorded since the last flush to the current phase and interval. */
  #flushRoundTrips(): void {
    const recorded = this.#newRoundTrips;
    if (recorded.totalCount === 0) return;
    this.#roundTrips.add(recorded);
    this.#intervalRoundTrips.add(recorded);
    recorded.reset();
  }

  onClosed(connection: WsConnection, code: number, closedByUs: boolean): void {
    this.#open.delete(connection);
    // What was in flight on it is the pattern's to record (unanswered, at its age).
    this.#pattern.closed(connection, code, closedByUs, this.#stopping);
    this.counters.open--;
    if (!closedByUs && !this.#stopping) {
      bump(this.counters.dropped, code);
      if (this.#pattern.finished(connection)) this.#done--;
    }
    if (this.#expiring.delete(connection) && !this.#stopping) {
      // Its lifetime ended, and the server has its slot back: a new connection takes its place.
      this.counters.churned++;
      this.#replace(connection, 1);
    } else if (!closedByUs && !this.#stopping && this.#options.reconnect) {
      const wall = Date.now();
      const droppedSecond = Math.floor(wall / 1000);
      const second = this.#dropSeconds.get(droppedSecond);
      if (second) second.dropped++;
      else this.#dropSeconds.set(droppedSecond, { dropped: 1, firstDropAt: wall, back: 0, lastBackAt: 0, backUs: createHistogram() });
      this.counters.reconnecting++;
      this.#scheduleReconnect(connection, performance.now(), droppedSecond, 1);
    }
  }

  onDrain(connection: WsConnection): void {
    this.#pattern.drained(connection);
  }
}

/** Where a process's rows carry each field, and its longest value in UTF-8 bytes (a template's maxBytes). */
function dataLayout(fields: readonly string[], rows: readonly (readonly string[])[]): DataLayout {
  const maxBytes = fields.map((_, column) => rows.reduce((most, row) => Math.max(most, Buffer.byteLength(row[column]!)), 0));
  return { fields, maxBytes };
}

/**
 * --reconnect's wait before attempt `attempt` (1, 2, …), ms, for a uniform `random` in [0, 1): with
 * full jitter, between --reconnect-min and min(--reconnect-max, --reconnect-min × 2^attempt);
 * without, min(--reconnect-max, --reconnect-min × 2^(attempt-1)). Always within [min, max].
 */
export function reconnectDelay(options: Pick<LoadGeneratorOptions, 'reconnectMinMs' | 'reconnectMaxMs' | 'reconnectJitter'>, attempt: number, random: number): number {
  const { reconnectMinMs: min, reconnectMaxMs: max } = options;
  if (!options.reconnectJitter) return Math.min(max, min * 2 ** Math.min(attempt - 1, 40));
  const ceiling = Math.min(max, min * 2 ** Math.min(attempt, 40));
  return min + random * (ceiling - min);
}
