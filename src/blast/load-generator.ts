/**
 * The engine of one client process: opens its share of connections at the planned pace, holds them,
 * sends messages (closed loop, or paced open loop with latency from the intended send time), and
 * counts every attempt into exactly one outcome. It emits state and returns data; it never prints.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { SourcePairs } from '../limits/blast-plan.js';
import { bump, emptyBlastCounters, type BlastCounters } from '../metrics/blast-counters.js';
import { createHistogram, encodeHistogram, recordUs } from '../metrics/histogram.js';
import { Opcode, WsConnection, type ConnectionEvents, type ConnectTarget } from './ws-connection.js';

export interface LoadGeneratorOptions {
  readonly index: number;
  readonly host: string;
  readonly port: number;
  readonly requestHead: string;
  readonly tls?: ConnectTarget['tls'];
  readonly connections: number;
  /** New connections per second for this process; 0 means no pacing. */
  readonly connectRate: number;
  readonly maxHandshakes: number;
  readonly connectTimeoutMs: number;
  /** Messages per second per connection (open loop); undefined is closed loop; 0 sends nothing. */
  readonly rate: number | undefined;
  readonly messages: number | undefined;
  /** Closed loop: messages in flight per connection (autocannon's pipelining). */
  readonly pipeline: number;
  readonly payload: Buffer;
  readonly binary: boolean;
  readonly source: SourcePairs | undefined;
}

export interface WorkerSnapshot {
  readonly index: number;
  readonly counters: BlastCounters;
  readonly connectHistogram: string;
  readonly roundTripHistogram: string;
  /** When this process's ramp began and its run ended (ms since the epoch). */
  readonly startedAt: number;
  readonly endedAt: number;
  /** When the first and last echo arrived (ms since the epoch), for the throughput window. */
  readonly firstEchoAt: number;
  readonly lastEchoAt: number;
  /** The process's own load while opening connections, and while holding them. */
  readonly ramp: PhaseHealth;
  readonly hold: PhaseHealth | null;
}

export interface PhaseHealth {
  readonly wallMs: number;
  readonly cpuUs: number;
  readonly eventLoopDelayP99Ms: number;
  readonly eventLoopDelayMaxMs: number;
}

/** Open loop: a connection with this many echoes outstanding holds further sends until echoes return. */
const MAX_OUTSTANDING = 4096;
/** A connection that finds this many source pairs taken in a row fails with the last code. */
const MAX_ADDRESS_RETRIES = 256;
/** Connections opened per turn of the event loop during the ramp. */
const OPEN_BATCH = 64;
/** At the end, connections get this long to finish their closing handshake before they are cut. */
const CLOSE_GRACE_MS = 2000;

export class LoadGenerator implements ConnectionEvents {
  readonly counters = emptyBlastCounters();
  readonly #connectHistogram = createHistogram();
  readonly #roundTripHistogram = createHistogram();
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
  #rampTimer: NodeJS.Timeout | undefined;
  #pumpScheduled = false;
  #stopping = false;
  #done = 0;
  #nextPair = 0;
  #firstEchoAt = 0;
  #lastEchoAt = 0;
  readonly #startedWall = Date.now();
  #phaseCpu = process.cpuUsage();
  #phaseStartedAt = performance.now();
  #rampHealth: PhaseHealth | undefined;
  readonly #loopDelay = monitorEventLoopDelay({ resolution: 10 });

  constructor(options: LoadGeneratorOptions) {
    this.#options = options;
    this.#target = {
      host: options.host,
      port: options.port,
      requestHead: options.requestHead,
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
    this.#pump();
  }

  /** Stop: no new connections or sends; count what is unanswered, close, and return the snapshot. */
  async stop(): Promise<WorkerSnapshot> {
    this.#stopping = true;
    if (this.#rampTimer) clearTimeout(this.#rampTimer);
    // Handshakes still in flight end now, as failed ('aborted'), through their close events.
    for (const connection of this.#connecting) connection.destroy('aborted');
    for (const connection of this.#open) {
      if (connection.timer) clearTimeout(connection.timer);
      connection.close(1000);
    }
    const deadline = performance.now() + CLOSE_GRACE_MS;
    while ((this.#open.size > 0 || this.#connecting.size > 0) && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (const connection of this.#open) connection.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    // Echoes that arrive while connections close still count as answered.
    this.counters.unanswered = this.counters.messagesSent - this.counters.messagesReceived;
    const health = this.#phaseHealth();
    this.#loopDelay.disable();
    return {
      index: this.#options.index,
      counters: this.counters,
      connectHistogram: encodeHistogram(this.#connectHistogram),
      roundTripHistogram: encodeHistogram(this.#roundTripHistogram),
      startedAt: this.#startedWall,
      endedAt: Date.now(),
      firstEchoAt: this.#firstEchoAt && performance.timeOrigin + this.#firstEchoAt,
      lastEchoAt: this.#lastEchoAt && performance.timeOrigin + this.#lastEchoAt,
      ramp: this.#rampHealth ?? health,
      hold: this.#rampHealth ? health : null,
    };
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

  /** The ramp is over: keep its health figures apart, and start the hold's afresh. */
  #endRamp(): void {
    this.#rampHealth = this.#phaseHealth();
    // The ramp's garbage (handshakes, buffers) goes now, once, rather than stay for the hold.
    // The worker process runs with --expose-gc; elsewhere this is a no-op.
    (globalThis as { gc?: () => void }).gc?.();
    this.#loopDelay.reset();
    this.#phaseCpu = process.cpuUsage();
    this.#phaseStartedAt = performance.now();
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
    if (!this.#rampHealth && this.rampDone && !this.#stopping) this.#endRamp();
  }

  // --- connection events -------------------------------------------------------------------------

  onOpen(connection: WsConnection): void {
    recordUs(this.#connectHistogram, (performance.now() - connection.startedAt) * 1000);
    this.counters.accepted++;
    this.counters.open++;
    this.#open.add(connection);
    this.#settled(connection);
    if (this.#stopping) return connection.close(1000);
    const { rate, pipeline } = this.#options;
    if (rate === undefined) {
      if (pipeline > 1) connection.intended = [];
      for (let i = 0; i < pipeline; i++) this.#sendClosedLoop(connection);
    } else if (rate > 0) {
      this.#startPaced(connection);
    }
  }

  onRejected(connection: WsConnection, status: number): void {
    bump(this.counters.rejected, status);
    this.#settled(connection);
  }

  onFailed(connection: WsConnection, reason: string): void {
    bump(this.counters.failed, reason);
    this.#settled(connection);
  }

  onAddressInUse(connection: WsConnection, code: string): void {
    this.counters.addressRetries++;
    if (this.#stopping) return this.onFailed(connection, 'aborted');
    if (++connection.retries > MAX_ADDRESS_RETRIES) return this.onFailed(connection, code);
    this.#connect(connection);
  }

  onMessage(connection: WsConnection, payload: Buffer, binary: boolean): void {
    const now = performance.now();
    const sentAt = connection.intended ? connection.intended.shift() : connection.sentAt;
    connection.received++;
    this.counters.messagesReceived++;
    this.counters.bytesReceived += payload.length;
    if (sentAt !== undefined) recordUs(this.#roundTripHistogram, (now - sentAt) * 1000);
    if (this.#firstEchoAt === 0) this.#firstEchoAt = now;
    this.#lastEchoAt = now;
    if (binary !== this.#options.binary || !payload.equals(this.#options.payload)) this.counters.mismatched++;
    const quota = this.#options.messages;
    if (quota !== undefined && connection.received === quota) this.#done++;
    if (!this.#paced) this.#sendClosedLoop(connection);
  }

  onClosed(connection: WsConnection, code: number, closedByUs: boolean): void {
    this.#open.delete(connection);
    this.counters.open--;
    if (!closedByUs && !this.#stopping) {
      bump(this.counters.dropped, code);
      const quota = this.#options.messages;
      if (quota !== undefined && connection.received >= quota) this.#done--;
    }
  }

  // --- messages ----------------------------------------------------------------------------------

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

  /** Open loop: sends fall due every 1/rate s from the open; late ones still count from when due. */
  #startPaced(connection: WsConnection): void {
    connection.intended = [];
    connection.sentAt = performance.now();
    const tick = () => {
      connection.timer = undefined;
      if (this.#stopping || connection.state !== 'open') return;
      const quota = this.#options.messages;
      const now = performance.now();
      while (connection.sentAt <= now && connection.intended!.length < MAX_OUTSTANDING) {
        if (quota !== undefined && connection.sent >= quota) return;
        connection.intended!.push(connection.sentAt);
        this.#write(connection);
        connection.sentAt += this.#intervalMs;
      }
      // At the cap, sends that fall due wait (as wrk2's do) and go out later, still timed from when
      // they were due, so a long stall stays in the percentiles instead of being skipped.
      const late = connection.sentAt <= now;
      if (late) this.counters.delayedSends++;
      connection.timer = setTimeout(tick, late ? Math.max(1, this.#intervalMs) : connection.sentAt - now);
    };
    tick();
  }
}
