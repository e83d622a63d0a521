/**
 * The engine of one client process: opens its share of connections at the planned pace (the ramp),
 * then, when the coordinator says every process has finished its ramp, sends messages at full
 * concurrency (the run): closed loop, or paced open loop with latency from the intended send time.
 * With `rampTraffic` each connection starts sending as soon as it opens, as tcpkali and k6 do.
 * Every attempt lands in exactly one outcome. It emits state and returns data; it never prints.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { isUtf8 } from 'node:buffer';
import type { LoadGeneratorOptions } from '../ipc/blast-messages.js';
import { bump, emptyBlastCounters } from '../metrics/blast-counters.js';
import { createHistogram, encodeHistogram, recordUs, type Histogram } from '../metrics/histogram.js';
import type { IntervalSample } from '../metrics/timeline.js';
import type { DropSecond, PhaseHealth, WorkerSnapshot } from '../metrics/worker-snapshot.js';
import { MessageTemplate, monotonicNowUs, monotonicUs, type DataLayout } from '../message/template.js';
import { RequestHeadTemplate } from '../data/placeholders.js';
import { frameHeaderLength, writeFrameHeader } from '../protocol/frame-codec.js';
import { compileIdExtractor, type IdExtractor } from '../message/reply-id.js';
import { StepRunner } from '../scenario/runner.js';
import type { ScenarioHost, ScenarioRunner } from '../scenario/types.js';
import { GraphqlWsRunner } from '../protocols/graphql-ws-runner.js';
import { SocketIoRunner } from '../protocols/socketio-runner.js';
import type { ProtocolHost, ProtocolRunner } from '../protocols/types.js';
import { HandshakeWindow, WINDOW_TICK_MS } from './handshake-window.js';
import { Opcode, WRITE_HIGH_WATER_BYTES, WsConnection, type ConnectionEvents, type ConnectTarget } from './ws-connection.js';

export type { LoadGeneratorOptions };


/**
 * Open loop, memory bound: a connection holds further sends while it has this many echoes
 * outstanding, or while its socket has more than WRITE_HIGH_WATER_BYTES unsent. So one connection
 * queues at most WRITE_HIGH_WATER_BYTES plus one message, and keeps at most MAX_OUTSTANDING send
 * times (8 B each); a process, its connections times that.
 */
export const MAX_OUTSTANDING = 4096;
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
/** Subscribe: a delivery whose timestamp is one of the connection's last this many is a duplicate. */
const RECENT_DELIVERIES = 16;
/** '0'-'9', 'a'-'f' as bytes: the connection stamp's digits. */
const HEX_DIGITS = Buffer.from('0123456789abcdef');
/** Flood: messages a connection sends per turn of the event loop at most, and their bytes at most (one message at least). */
const FLOOD_BURST = 64;
const FLOOD_BURST_BYTES = 64 * 1024;
/**
 * Subscribe and fire-and-forget: at the end, sending stops first, and what arrives still counts
 * until nothing has for DELIVERY_QUIET_MS (at least that long, at most DELIVERY_DRAIN_MAX_MS), so
 * that messages in flight when the run ends, however late, are not counted as missed or unanswered.
 * (Echo and reply need no drain: what is outstanding at the end is recorded at its age.)
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
  readonly #opcode: number;
  readonly #open = new Set<WsConnection>();
  /** Connections between their first connect and their outcome. */
  readonly #connecting = new Set<WsConnection>();
  #intervalMs: number;
  readonly #paced: boolean;
  /** --message, compiled; undefined sends options.payload. */
  readonly #template: MessageTemplate | undefined;
  /** The message every send carries, when it is the same every time (no template, or one without placeholders). */
  readonly #fixedMessage: Buffer | undefined;
  /** An echo run's fixed message, when valid UTF-8 or sent as binary: onMessageAt matches it in place. */
  readonly #constantEcho: Buffer | undefined;
  readonly #subscribeTemplate: MessageTemplate | undefined;
  readonly #extractId: IdExtractor | undefined;
  /** Subscribe, at the end: publishers have stopped; deliveries still count. */
  #quiescing = false;
  #rampCollecting = false;
  #rampCollected = false;
  /** Subscribe and fire: when the last message arrived during the drain at the end (performance.now()). */
  #lastDeliveryAt = 0;
  /** --scenario: runs each connection's steps (scenario/runner.ts). */
  readonly #scenario: ScenarioRunner | undefined;
  /** --data: this process's connections' rows (see LoadGeneratorOptions.data); undefined without it. */
  readonly #rows: readonly (readonly string[])[] | undefined;
  /** {{data.*}} in the URL or a header: the request head, rendered per connection at its attempt. */
  readonly #head: RequestHeadTemplate | undefined;
  /** --protocol socketio, graphql-ws: the protocol's state machine on each connection (protocols/). */
  readonly #protocol: ProtocolRunner | undefined;
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
    this.#opcode = options.binary ? Opcode.binary : Opcode.text;
    this.#intervalMs = options.rate ? 1000 / options.rate : 0;
    const layout = options.data ? dataLayout(options.data.fields, options.data.rows) : undefined;
    this.#rows = options.data?.rows;
    this.#head = options.data && RequestHeadTemplate.needed(options.requestHead) ? new RequestHeadTemplate(options.requestHead, options.data.fields) : undefined;
    this.#template = options.message === undefined ? undefined : new MessageTemplate(options.message, '--message', layout);
    // Without --message the payload goes out; with a --message that has no placeholder, its text.
    this.#fixedMessage = this.#template ? this.#template.constant : options.payload;
    const fixed = options.pattern === 'echo' && options.protocol === 'ws' ? this.#fixedMessage : undefined;
    this.#constantEcho = fixed && (options.binary || isUtf8(fixed)) ? fixed : undefined;
    this.#subscribeTemplate = options.subscribe === undefined ? undefined : new MessageTemplate(options.subscribe, '--subscribe', layout);
    this.#extractId = options.replyId === undefined ? undefined : compileIdExtractor(options.replyId);
    this.#scenario = options.scenario === undefined ? undefined : new StepRunner(options.scenario, this.scenarioHost(), options.binary, layout);
    this.#limit = Math.min(options.connections, options.openAtStart ?? options.connections);
    this.#protocol = createProtocolRunner(options, this.protocolHost(layout));
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
   * --messages: every open connection has sent and got back its quota (echo, reply), or has sent it
   * (fire-and-forget, and the publishers when subscribing). --scenario: every open connection has
   * run its last step or stopped at an expect that timed out.
   */
  get messagesDone(): boolean {
    const quota = this.#options.messages;
    const pattern = this.#options.pattern;
    if (!this.rampDone || (quota === undefined && pattern !== 'scenario')) return false;
    if (quota !== undefined && (pattern === 'fire' || pattern === 'subscribe')) {
      for (const connection of this.#open) if ((pattern === 'fire' || connection.publisher) && connection.sent < quota) return false;
      return true;
    }
    return this.#done >= this.#open.size;
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
    if (!this.#options.rampTraffic) for (const connection of this.#open) this.#startTraffic(connection);
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
    const drains = this.#options.pattern === 'subscribe' || this.#options.pattern === 'fire';
    if (drains && this.#running && !this.#stopping) {
      // Publishers (or fire-and-forget senders) stop; what they sent still arrives, and counts, for a moment.
      this.#quiescing = true;
      for (const connection of this.#open) {
        if (connection.paceTimer) clearTimeout(connection.paceTimer);
        connection.paceTimer = undefined;
      }
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
    const pattern = this.#options.pattern;
    if (this.#protocol) {
      // Acks still outstanding are unanswered, recorded at their age (in the last interval too).
      for (const connection of this.#open) this.#protocol.stop(connection);
    } else if (pattern === 'echo' || pattern === 'reply') {
      for (const connection of this.#open) this.#recordUnanswered(connection, endedAt);
      this.counters.unanswered = this.counters.messagesSent - this.counters.messagesReceived;
    } else if (this.#options.flood) {
      // Echoes expected, but not paired with sends: the shortfall is what went unanswered.
      this.counters.unanswered = Math.max(0, this.counters.messagesSent - this.counters.messagesReceived);
    } else if (this.#scenario) {
      // Expects still waiting are unanswered, recorded at their wait (in the last interval too).
      for (const connection of this.#open) this.#scenarioStopped(connection);
    }
    for (const connection of this.#open) {
      if (connection.paceTimer) clearTimeout(connection.paceTimer);
      connection.paceTimer = undefined;
      this.#scenarioStopped(connection);
    }
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
      ...(this.#protocol ? { handshake2Histogram: encodeHistogram(this.#handshake2) } : {}),
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
      this.#protocol?.leave(connection);
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

  #recordUnanswered(connection: WsConnection, endedAt: number): void {
    if (connection.pending) {
      for (const sentAt of connection.pending.values()) this.#recordAged(endedAt - sentAt);
      connection.pending.clear();
    } else if (connection.intended) {
      for (const sentAt of connection.intended) this.#recordAged(endedAt - sentAt);
      connection.intended.length = 0;
    } else if (connection.sent > connection.received) {
      this.#recordAged(endedAt - connection.sentAt);
    }
  }

  /** A scenario connection ends: an expect still waiting is unanswered, recorded at its age. */
  #scenarioStopped(connection: WsConnection): void {
    if (!this.#scenario) return;
    const waitedUs = this.#scenario.stop(connection);
    if (waitedUs === undefined) return;
    this.counters.unanswered++;
    this.#recordAged(waitedUs / 1000);
  }

  /** What a scenario runner may do on a connection; the engine counts and records. */
  protected scenarioHost(): ScenarioHost {
    return {
      workerIndex: this.#options.index,
      rowOf: (connection) => this.#rowOf(connection),
      send: (connection, message, binary) => {
        if (this.#stopping || connection.state !== 'open') return false;
        connection.sent++;
        this.counters.messagesSent++;
        this.counters.bytesSent += message.length;
        connection.send(message, binary ? Opcode.binary : Opcode.text);
        return !connection.full;
      },
      matched: (connection, message, latencyUs) => {
        connection.received++;
        this.counters.messagesReceived++;
        this.counters.bytesReceived += message.length;
        this.#recordLatencyUs(latencyUs);
      },
      unmatched: (_connection, message) => {
        this.counters.unmatched++;
        this.counters.bytesReceived += message.length;
      },
      expectTimedOut: (_connection, waitedUs) => {
        this.counters.unanswered++;
        this.#recordLatencyUs(waitedUs);
        this.#done++;
      },
      taken: (_connection, message) => {
        this.counters.onMatched++;
        this.counters.bytesReceived += message.length;
      },
      sendApart: (connection, message, binary) => {
        if (this.#stopping || connection.state !== 'open') return;
        this.counters.onSent++;
        this.counters.bytesSent += message.length;
        connection.send(message, binary ? Opcode.binary : Opcode.text);
      },
      completed: () => {
        this.counters.completed++;
        this.#done++;
      },
    };
  }

  /** What a protocol runner may do on a connection; the engine counts and records. */
  protected protocolHost(layout: DataLayout | undefined): ProtocolHost {
    const counters = this.counters;
    const counts = (counters.protocol ??= {});
    const reasons = (counters.protocolReasons ??= {});
    return {
      workerIndex: this.#options.index,
      data: layout,
      rowOf: (connection) => this.#rowOf(connection),
      sending: () => !this.#stopping && !this.#quiescing,
      send: (connection, message) => {
        if (this.#stopping || connection.state !== 'open') return false;
        connection.sent++;
        counters.messagesSent++;
        counters.bytesSent += message.length;
        connection.send(message, Opcode.text);
        return !connection.full;
      },
      control: (connection, message) => {
        if (connection.state !== 'open') return;
        counters.bytesSent += message.length;
        connection.send(message, Opcode.text);
      },
      handshaken: (_connection, us) => recordUs(this.#handshake2, us),
      answered: (connection, bytes, latencyUs) => {
        connection.received++;
        counters.messagesReceived++;
        counters.bytesReceived += bytes;
        this.#recordLatencyUs(latencyUs);
      },
      delivered: (connection, bytes, latencyUs) => {
        if (this.#quiescing) this.#lastDeliveryAt = performance.now();
        connection.received++;
        counters.messagesReceived++;
        counters.bytesReceived += bytes;
        counters.delivered++;
        if (latencyUs !== undefined) this.#recordLatencyUs(latencyUs);
      },
      housekeeping: (_connection, bytes) => {
        counters.bytesReceived += bytes;
      },
      unanswered: (_connection, ageUs) => {
        counters.unanswered++;
        this.#recordLatencyUs(ageUs);
      },
      count: (kind) => bump(counts, kind),
      reason: (reason) => bump(reasons, reason),
      quotaDone: () => {
        this.#done++;
      },
      close: (connection, code) => connection.close(code),
    };
  }

  #recordAged(ageMs: number): void {
    this.#recordLatencyUs(ageMs * 1000);
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
    if (this.#options.pattern === 'reply') connection.pending = new Map();
    if (this.#protocol) this.#protocol.opened(connection);
    else if (this.#subscribeTemplate) {
      const message = this.#subscribeTemplate.render({ seq: 0, conn: connection.index, worker: this.#options.index, data: this.#rowOf(connection) });
      this.counters.subscribed++;
      connection.send(message, this.#opcode);
    }
    if (this.#running || this.#options.rampTraffic) this.#startTraffic(connection);
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
    if (this.#protocol) return this.#protocol.message(connection, payload, binary);
    switch (this.#options.pattern) {
      case 'echo':
        return this.#onEcho(connection, payload, binary);
      case 'reply':
        return this.#onReply(connection, payload);
      case 'subscribe':
        return this.#onDelivery(connection, payload);
      case 'fire':
        return this.#onFireAnswer(payload);
      case 'scenario':
        return this.#scenario!.message(connection, payload, binary);
    }
  }

  /**
   * The commonest run's fast path: an echo of the run's one constant payload, matched where it
   * lies in the read buffer, so it costs no Buffer view and no UTF-8 check (the payload was checked
   * once, and these are its bytes). Anything else (another length, other bytes, nothing
   * outstanding, the run ending) goes the general way through onMessage.
   */
  onMessageAt(connection: WsConnection, buffer: Buffer, start: number, end: number, binary: boolean): boolean {
    const payload = this.#constantEcho;
    if (!payload || binary !== this.#options.binary || this.#stopping || connection.received >= connection.sent || connection.expected) return false;
    this.#stamp(connection);
    if (!bytesEqual(buffer, start, end, payload)) return false;
    const sentAt = connection.intended ? connection.intended.shift() : connection.sentAt;
    const now = performance.now();
    this.#received(connection, payload, sentAt, now);
    if (!this.#paced) this.#sendClosedLoop(connection, now);
    return true;
  }

  /**
   * An echo is the oldest message outstanding on the connection, coming back with its bytes and its
   * type. Anything else (nothing outstanding: the server sent it unasked; other bytes: a push, a
   * greeting, a changed message) is counted as mismatched and nothing more: never timed as a round
   * trip, never counted as received, and it sends nothing, so a server that pushes cannot pass for a
   * fast echo server, and a run in which nothing matched has measured nothing (exit 1).
   */
  #onEcho(connection: WsConnection, payload: Buffer, binary: boolean): void {
    if (!connection.expected) this.#stamp(connection);
    const expected = connection.received >= connection.sent ? undefined : connection.expected ? connection.expected[0] : this.#fixedMessage;
    if (expected === undefined || binary !== this.#options.binary || !payload.equals(expected)) {
      this.counters.mismatched++;
      return;
    }
    connection.expected?.shift();
    const sentAt = connection.intended ? connection.intended.shift() : connection.sentAt;
    const now = performance.now();
    this.#received(connection, payload, sentAt, now);
    if (!this.#paced) this.#sendClosedLoop(connection, now);
  }

  /** --reply-id: a reply counts when its id matches a request outstanding on its connection. */
  #onReply(connection: WsConnection, payload: Buffer): void {
    const id = this.#extractId!(payload);
    const sentAt = id === undefined ? undefined : connection.pending!.get(id);
    if (sentAt === undefined) {
      this.counters.unmatched++;
      return;
    }
    connection.pending!.delete(id!);
    const now = performance.now();
    this.#received(connection, payload, sentAt, now);
    if (!this.#paced) this.#sendClosedLoop(connection, now);
  }

  /** Subscribe: every message is a delivery, timed from the {{now_us}} its publisher put in it. */
  #onDelivery(connection: WsConnection, payload: Buffer): void {
    if (this.#quiescing) this.#lastDeliveryAt = performance.now();
    connection.received++;
    this.counters.messagesReceived++;
    this.counters.bytesReceived += payload.length;
    const sentUs = this.#template?.timestampOf(payload);
    if (sentUs === undefined) return;
    const recent = (connection.recent ??= new Float64Array(RECENT_DELIVERIES));
    if (recent.includes(sentUs)) {
      this.counters.duplicates++;
      return;
    }
    this.counters.delivered++;
    recent[connection.recentAt] = sentUs;
    connection.recentAt = (connection.recentAt + 1) % RECENT_DELIVERIES;
    this.#recordLatencyUs(monotonicNowUs() - sentUs);
  }

  /** Fire-and-forget: whatever comes back is counted; with --flood, an echo is timed from its {{now_us}}. */
  #onFireAnswer(payload: Buffer): void {
    if (this.#quiescing) this.#lastDeliveryAt = performance.now();
    this.counters.messagesReceived++;
    this.counters.bytesReceived += payload.length;
    if (!this.#options.flood) return;
    const sentUs = this.#template!.timestampOf(payload);
    if (sentUs !== undefined) this.#recordLatencyUs(monotonicNowUs() - sentUs);
  }

  /** An answer to an outstanding message, read at `now`: counted, and its round trip recorded from `sentAt`. */
  #received(connection: WsConnection, payload: Buffer, sentAt: number | undefined, now: number): void {
    connection.received++;
    this.counters.messagesReceived++;
    this.counters.bytesReceived += payload.length;
    if (sentAt !== undefined) this.#recordLatencyUs((now - sentAt) * 1000);
    const quota = this.#options.messages;
    if (quota !== undefined && connection.received === quota) this.#done++;
  }

  #recordLatencyUs(us: number): void {
    recordUs(this.#newRoundTrips, us);
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
    this.#scenarioStopped(connection);
    this.#protocol?.closed(connection, code, closedByUs);
    // Messages in flight on a connection that ends before the run does are unanswered: recorded now,
    // at their age, as the ones still outstanding at the end are (stop() records those itself).
    const pattern = this.#options.pattern;
    if (!this.#stopping && !this.#protocol && (pattern === 'echo' || pattern === 'reply')) this.#recordUnanswered(connection, performance.now());
    this.counters.open--;
    if (connection.paceTimer) clearTimeout(connection.paceTimer);
    connection.paceTimer = undefined;
    if (!closedByUs && !this.#stopping) {
      bump(this.counters.dropped, code);
      const quota = this.#options.messages;
      if ((quota !== undefined && !this.#protocol && connection.received >= quota) || this.#scenario?.finished(connection) || this.#protocol?.finished(connection)) this.#done--;
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

  // --- messages ----------------------------------------------------------------------------------

  #startTraffic(connection: WsConnection): void {
    const { rate, pipeline, pattern } = this.#options;
    if (this.#protocol) return this.#protocol.start(connection);
    if (pattern === 'scenario') return this.#scenario!.start(connection);
    if (pattern === 'subscribe') {
      // Only publishers send; at --rate, or one message a second when no rate is given (--rate 0: none).
      const publishRate = rate ?? 1;
      if (connection.publisher && publishRate > 0) this.#startPaced(connection, publishRate);
      return;
    }
    if (pattern === 'fire' && rate === undefined) return this.#flood(connection);
    if (rate === undefined) {
      if (pipeline > 1) connection.intended = [];
      for (let i = 0; i < pipeline; i++) this.#sendClosedLoop(connection);
    } else if (rate > 0) {
      this.#startPaced(connection, rate);
    }
  }

  /** The next closed-loop message, due `now` (the echo that frees its slot was read then). */
  #sendClosedLoop(connection: WsConnection, now = performance.now()): void {
    if (this.#stopping || connection.state !== 'open') return;
    const quota = this.#options.messages;
    if (quota !== undefined && connection.sent >= quota) return;
    this.#write(connection, now);
  }

  /**
   * Send the connection's next message, due at `dueAt` (performance.now() time): an echo's or a
   * request's round trip counts from there. Fire-and-forget and publishers wait for nothing.
   */
  #write(connection: WsConnection, dueAt: number): void {
    if (!this.#template) this.#stamp(connection);
    const message = this.#template ? this.#template.render({ seq: connection.sent + 1, conn: connection.index, worker: this.#options.index, data: this.#rowOf(connection) }) : this.#options.payload;
    switch (this.#options.pattern) {
      case 'echo':
        if (connection.intended) connection.intended.push(dueAt);
        else connection.sentAt = dueAt;
        if (this.#template && !this.#template.constant) (connection.expected ??= []).push(message);
        break;
      case 'reply':
        // An id the extractor cannot find (checked on the first message before the run) still
        // gets an entry, under the message number, so the request counts as unanswered.
        connection.pending!.set(this.#extractId!(message) ?? `#${connection.sent + 1}`, dueAt);
        break;
      default:
        break;
    }
    connection.sent++;
    this.counters.messagesSent++;
    this.counters.bytesSent += message.length;
    connection.send(message, this.#opcode);
  }

  /**
   * With the default payload, its first 8 bytes become this connection's number in hex: stamped in
   * place (one process, one thread) before the payload is sent or compared with an echo, so the same
   * buffer serves every connection and a message costs eight byte writes.
   */
  #stamp(connection: WsConnection): void {
    if (!this.#options.stampConnection) return;
    const payload = this.#options.payload;
    let index = connection.index;
    for (let i = 7; i >= 0; i--) {
      payload[i] = HEX_DIGITS[index & 15]!;
      index >>>= 4;
    }
  }

  /** Messages sent and not yet answered on the connection (for the open loop's bound). */
  #outstanding(connection: WsConnection): number {
    switch (this.#options.pattern) {
      case 'echo':
        return connection.intended!.length;
      case 'reply':
        return connection.pending!.size;
      default:
        return 0;
    }
  }

  /**
   * Open loop: sends fall due every 1/rate s; late ones still count from when they were due. The
   * first send of each connection falls at a random point of its first interval, so that
   * connections that start together (at the start of the run) do not send in lockstep.
   */
  #startPaced(connection: WsConnection, rate: number): void {
    if (this.#options.pattern === 'echo') connection.intended = [];
    connection.sentAt = performance.now() + Math.random() * (1000 / rate);
    this.#paceTick(connection);
  }

  #paceTick(connection: WsConnection): void {
    connection.paceTimer = undefined;
    if (this.#stopping || this.#quiescing || connection.state !== 'open') return;
    const quota = this.#options.messages;
    const intervalMs = this.#options.pattern === 'subscribe' ? 1000 / (this.#options.rate || 1) : this.#intervalMs;
    const now = performance.now();
    while (connection.sentAt <= now && this.#outstanding(connection) < MAX_OUTSTANDING && !connection.full) {
      if (quota !== undefined && connection.sent >= quota) return;
      this.#write(connection, connection.sentAt);
      connection.sentAt += intervalMs;
    }
    // Held back (too many outstanding, or the socket not draining): sends that fall due wait, as
    // wrk2's do, and go out later, still timed from when they were due, so a long stall stays in
    // the percentiles instead of being skipped.
    const late = connection.sentAt <= now;
    if (late) this.counters.delayedSends++;
    connection.paceTimer = setTimeout(this.#onPaceTimer, late ? Math.max(1, intervalMs) : connection.sentAt - now, connection);
  }

  /**
   * Flood (fire-and-forget without --rate): keep the socket full. A connection sends a burst of up
   * to FLOOD_BURST messages a turn while its socket holds under WRITE_HIGH_WATER_BYTES unsent; the
   * socket's drain, or the next turn, refills it. So it queues at most that plus one burst.
   *
   * A burst is built in one buffer and written at once: each message is rendered in place, framed and
   * masked where it lies (its own masking key), so a message costs no string, no Buffer and no write
   * call of its own. The messages of a burst carry one {{now_us}}, the time of the write that hands
   * them all to the socket together.
   */
  #flood(connection: WsConnection): void {
    connection.floodQueued = false;
    if (this.#stopping || this.#quiescing || connection.state !== 'open') return;
    if (connection.full) return; // 'drain' calls back
    const quota = this.#options.messages;
    // --fire-and-forget without --message floods its payload; --flood, its {{now_us}} template.
    const template = this.#template;
    const payload = this.#options.payload;
    if (!template) this.#stamp(connection);
    const maxBytes = template ? template.maxBytes : payload.length;
    // Room for the longest message and its header; a shorter one's header may be shorter, and the
    // message is moved up to meet it (never, with messages under 126 bytes).
    const roomHeader = frameHeaderLength(maxBytes, true);
    const perBurst = Math.max(1, Math.min(FLOOD_BURST, Math.floor(FLOOD_BURST_BYTES / (roomHeader + maxBytes))));
    const count = quota === undefined ? perBurst : Math.min(perBurst, quota - connection.sent);
    if (count <= 0) return;
    const burst = Buffer.allocUnsafe(count * (roomHeader + maxBytes));
    const context = this.#floodContext;
    context.conn = connection.index;
    context.worker = this.#options.index;
    context.data = this.#rowOf(connection);
    const nowUs = monotonicUs();
    let at = 0;
    for (let i = 0; i < count; i++) {
      context.seq = connection.sent + 1;
      const length = template ? template.writeInto(burst, at + roomHeader, context, nowUs) : payload.copy(burst, at + roomHeader);
      const header = frameHeaderLength(length, true);
      if (header < roomHeader) burst.copyWithin(at + header, at + roomHeader, at + roomHeader + length);
      writeFrameHeader(burst, at, length, this.#opcode, true);
      at += header + length;
      connection.sent++;
      this.counters.bytesSent += length;
    }
    this.counters.messagesSent += count;
    connection.sendFrames(burst.subarray(0, at));
    connection.floodQueued = true;
    this.#floodQueue.push(connection);
    if (this.#floodQueue.length === 1) setImmediate(this.#onFloodTurn);
  }

  /** The flood's template context, reused for every message it renders. */
  readonly #floodContext: { seq: number; conn: number; worker: number; data: readonly string[] | undefined } = { seq: 0, conn: 0, worker: 0, data: undefined };
  readonly #floodQueue: WsConnection[] = [];
  readonly #onFloodTurn = () => {
    const queue = this.#floodQueue.splice(0);
    for (const connection of queue) this.#flood(connection);
  };

  onDrain(connection: WsConnection): void {
    if (this.#scenario) return this.#scenario.drained(connection);
    if (this.#protocol) return this.#protocol.drained(connection);
    if (this.#options.pattern === 'fire' && this.#options.rate === undefined && !connection.floodQueued && (this.#running || this.#options.rampTraffic)) this.#flood(connection);
  }

  /** One callback for every connection's pace timer (no closure per connection or per send). */
  readonly #onPaceTimer = (connection: WsConnection) => this.#paceTick(connection);
}

/** Where a process's rows carry each field, and its longest value in UTF-8 bytes (a template's maxBytes). */
function dataLayout(fields: readonly string[], rows: readonly (readonly string[])[]): DataLayout {
  const maxBytes = fields.map((_, column) => rows.reduce((most, row) => Math.max(most, Buffer.byteLength(row[column]!)), 0));
  return { fields, maxBytes };
}

/**
 * Do buffer[start, end) and `expected` hold the same bytes? Four bytes at a time through DataViews
 * (kept for the last two buffers compared: the shared read buffer and the message): about five
 * times faster than a byte loop or Buffer.compare for a 64-byte message, measured here.
 */
function bytesEqual(buffer: Buffer, start: number, end: number, expected: Buffer): boolean {
  const length = expected.length;
  if (end - start !== length) return false;
  const got = dataViewOf(buffer);
  const want = dataViewOf(expected);
  let i = 0;
  for (; i + 4 <= length; i += 4) if (got.getInt32(start + i) !== want.getInt32(i)) return false;
  for (; i < length; i++) if (buffer[start + i] !== expected[i]) return false;
  return true;
}

/**
 * A DataView of the same bytes as a Buffer, kept for the last two Buffers asked for. They are
 * found by the Buffer object itself: reading a Buffer's .buffer or .byteOffset goes into the
 * runtime each time, which a profile of -p 1 showed costing more than the comparison.
 */
let viewedA: Buffer | undefined;
let viewA: DataView | undefined;
let viewedB: Buffer | undefined;
let viewB: DataView | undefined;
function dataViewOf(buffer: Buffer): DataView {
  if (buffer === viewedA) return viewA!;
  if (buffer === viewedB) return viewB!;
  viewedB = viewedA;
  viewB = viewA;
  viewedA = buffer;
  return (viewA = new DataView(buffer.buffer, buffer.byteOffset, buffer.length));
}

/** The runner of --protocol socketio or graphql-ws; none for plain WebSocket messages. */
function createProtocolRunner(options: LoadGeneratorOptions, host: ProtocolHost): ProtocolRunner | undefined {
  switch (options.protocol) {
    case 'socketio':
      return new SocketIoRunner(
        { settings: options.socketio!, pattern: options.pattern as 'echo' | 'fire' | 'subscribe', rate: options.rate, pipeline: options.pipeline, messages: options.messages, subscribe: options.subscribe },
        host,
      );
    case 'graphql-ws':
      return new GraphqlWsRunner({ settings: options.graphql!, pipeline: options.pipeline, messages: options.messages }, host);
    default:
      return undefined;
  }
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
