/**
 * One process's echo server: the HTTP listener for /healthz and /metrics, the upgrade handler that
 * asks the admission point for a slot, and one small handler set per WebSocket connection.
 *
 * Every connection is serve's own after the upgrade (server-connection.ts: the shared frame codec
 * over the socket, no ws objects), in every mode: echo is the connection's own answer, reply and
 * broadcast are message handlers on it (modes.ts). So there is one heartbeat (one interval over
 * all connections rather than a timer each) and one shutdown; ws is only the tests' oracle.
 */
import { runtimeReport } from '../runtime/fast-paths.js';
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { ServeConfig } from '../config/serve-config.js';
import { emptyServeCounters, rejectStatus, type RejectReason, type ServeCounters, type ServeStats } from '../metrics/serve-stats.js';
import { formatPrometheus } from '../report/prometheus.js';
import type { RelayedBroadcast } from '../ipc/serve-messages.js';
import type { AdmissionOutcome } from './admission.js';
import { modeHandler, type ModeHandler, type RelayOut } from './modes.js';
import { upgradeResponse } from './handshake.js';
import { ServerConnections, sharedReadsVerdict } from './server-connection.js';

/** How an echo server reaches its admission point: in-process, or over IPC to the primary. */
export interface AdmissionClient {
  /** Ask for a slot; `answer` is called exactly once unless the request is cancelled. Returns its id. */
  request(answer: (outcome: AdmissionOutcome) => void): number;
  cancel(requestId: number): void;
  release(): void;
  /** The global figures, for /metrics and /healthz. */
  stats(): Promise<ServeStats>;
}


export class EchoServer {
  readonly #counters = emptyServeCounters();
  /** Never listens itself: connections come from the process's listeners (accept). */
  readonly http: Server | HttpsServer;
  readonly config: ServeConfig;
  readonly #admission: AdmissionClient;
  /** --mode reply or broadcast (modes.ts); undefined for echo, the connection's own answer. */
  readonly #mode: ModeHandler | undefined;
  /** Every open WebSocket connection, whatever the mode. */
  readonly #connections: ServerConnections;
  #heartbeat: NodeJS.Timeout | undefined;
  #handshakeSweep: NodeJS.Timeout;
  /** Measures messagesPerSecond once a second, here, where the messages are counted. */
  #rateSampler: NodeJS.Timeout;
  #shuttingDown = false;
  readonly #releaseSlot: () => void;
  /**
   * Handshake deadlines without a timer per socket: sockets that have not upgraded, and a FIFO of
   * (socket, arrival) that one sweep walks from the front (all share one timeout, so arrival order
   * is deadline order). socket.setTimeout would leave a Timeout and a bound function on every
   * socket for its whole life.
   */
  readonly #awaitingUpgrade = new Set<Socket>();
  #arrivals: { socket: Socket; at: number }[] = [];
  #arrivalsHead = 0;

  /** `relay`: with worker processes, how a broadcast reaches the others (through the primary). */
  constructor(config: ServeConfig, admission: AdmissionClient, relay?: RelayOut) {
    this.config = config;
    this.#admission = admission;
    const counters = this.#counters;
    this.#releaseSlot = () => admission.release();
    const mode = modeHandler(config, counters, relay);
    this.#mode = mode;
    this.#connections = mode
      ? new ServerConnections(config.maxPayloadBytes, counters, mode.onMessage, (connection) => mode.onClose(connection))
      : new ServerConnections(config.maxPayloadBytes, counters);
    const onRequest = (req: IncomingMessage, res: ServerResponse) => this.#onRequest(req, res);
    // wss://: the TLS handshake has its own deadline (handshakeTimeout); the upgrade's deadline
    // starts once it is done, on the TLS socket that the upgrade will arrive on.
    this.http = config.tls
      ? createHttpsServer({ cert: config.tls.cert, key: config.tls.key, handshakeTimeout: config.handshakeTimeoutMs }, onRequest)
      : createServer(onRequest);
    this.http.on(config.tls ? 'secureConnection' : 'connection', (socket: Socket) => {
      this.#awaitingUpgrade.add(socket);
      this.#arrivals.push({ socket, at: performance.now() });
    });
    // What Node's HTTP parser refuses (no valid request, headers over its limit) is answered as Node
    // answers it (400, 431), and counted, so that /metrics shows every refused attempt.
    this.http.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
      const code = error.code ?? '';
      if (!code.startsWith('HPE_') || !socket.writable) return void socket.destroy();
      const reason: RejectReason = code === 'HPE_HEADER_OVERFLOW' ? 'header-too-large' : 'bad-request';
      counters.rejected[reason]++;
      refuse(socket, rejectStatus[reason]);
    });
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#awaitingUpgrade.delete(socket as Socket);
      this.#onUpgrade(req, socket, head);
    });
    this.#handshakeSweep = setInterval(() => this.#sweepHandshakes(), Math.min(100, Math.max(10, config.handshakeTimeoutMs / 4)));
    this.#handshakeSweep.unref();
    let lastIn = 0;
    let lastAt = performance.now();
    this.#rateSampler = setInterval(() => {
      const now = performance.now();
      counters.messagesPerSecond = Math.round(((counters.messagesIn - lastIn) * 1000) / (now - lastAt));
      lastIn = counters.messagesIn;
      lastAt = now;
    }, 1000);
    this.#rateSampler.unref();
    if (config.heartbeatMs > 0) {
      this.#heartbeat = setInterval(() => this.#beat(), config.heartbeatMs);
      this.#heartbeat.unref();
    }
  }

  /** This process's counters; `closed` is derived (accepted less still open), not counted per close. */
  get counters(): ServeCounters {
    this.#counters.closed = this.#counters.accepted - this.#openConnections();
    return this.#counters;
  }

  /** Serve a connection accepted by one of this process's listeners (see listener-set.ts). */
  accept(socket: Socket): void {
    this.http.emit('connection', socket);
  }

  /** Refuse new upgrades, close every connection with 1001, and cut what is left after the drain time. */
  async shutdown(drainTimeoutMs: number): Promise<void> {
    this.#shuttingDown = true;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    clearInterval(this.#handshakeSweep);
    clearInterval(this.#rateSampler);
    this.#counters.messagesPerSecond = 0;
    this.#connections.closeAll(1001, 'server shutting down');
    const deadline = Date.now() + drainTimeoutMs;
    while (this.#openConnections() > 0 && Date.now() < deadline) await delay(20);
    this.#connections.destroyAll();
    this.http.closeAllConnections();
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (pathOf(req.url) !== this.config.path) return this.#reject(socket, 'not-found');
    if (this.#shuttingDown) return this.#reject(socket, 'shutting-down');
    // A malformed upgrade is answered 400 before it can take (or queue for) a slot.
    if (!isWebSocketUpgrade(req) || this.#mode?.refusesUpgrade(req)) return this.#reject(socket, 'bad-request');
    let settled = false;
    let requestId = -1;
    const onCloseWhileWaiting = () => {
      if (!settled) this.#admission.cancel(requestId);
    };
    socket.once('close', onCloseWhileWaiting);
    requestId = this.#admission.request((outcome) => {
      settled = true;
      socket.removeListener('close', onCloseWhileWaiting);
      if (outcome !== 'admitted') return this.#reject(socket, outcome);
      if (socket.destroyed) return this.#admission.release();
      if (this.#shuttingDown) {
        // Admitted while the drain began (the answer was in flight): it would miss its 1001.
        this.#admission.release();
        return this.#reject(socket, 'shutting-down');
      }
      // The slot is tied to the socket: whatever ends it (close, reset, failed handshake, heartbeat
      // termination, a killed peer) fires 'close' once, and that gives the slot back.
      socket.on('close', this.#releaseSlot);
      this.#openConnection(req, socket as Socket, head);
    });
  }

  /** Complete the upgrade as ws would (handshake.ts), and hand the socket to a ServerConnection. */
  #openConnection(req: IncomingMessage, socket: Socket, head: Buffer): void {
    if (!socket.readable || !socket.writable) return void socket.destroy();
    const response = upgradeResponse(req, this.config.compression);
    // A malformed Sec-WebSocket-Protocol or extension offer: ws refuses it with 400 too.
    if (response === undefined) return this.#reject(socket, 'bad-request');
    socket.write(response.head);
    this.#counters.accepted++;
    if (response.deflate) this.#counters.compressionNegotiated++;
    const mode = this.#mode;
    this.#connections.open(socket, head, response.deflate, mode && ((connection) => mode.onOpen(connection, req)));
  }

  #openConnections(): number {
    return this.#connections.size;
  }

  /** Broadcast: a message published in another server process, for this one's room members. */
  deliverRelayed(message: RelayedBroadcast): void {
    this.#mode?.deliverRelayed(message);
  }

  #reject(socket: Duplex, reason: RejectReason): void {
    this.#counters.rejected[reason]++;
    refuse(socket, statusFor(reason));
  }

  /** A peer that did not answer the last ping is gone: terminate it (its slot comes back on close). */
  #beat(): void {
    this.#connections.beat();
  }

  #sweepHandshakes(): void {
    const cutoff = performance.now() - this.config.handshakeTimeoutMs;
    const arrivals = this.#arrivals;
    let head = this.#arrivalsHead;
    while (head < arrivals.length && arrivals[head]!.at <= cutoff) {
      const { socket } = arrivals[head++]!;
      if (!this.#awaitingUpgrade.delete(socket) || socket.destroyed) continue;
      this.#counters.handshakeTimeouts++;
      socket.destroy();
    }
    if (head === arrivals.length) {
      this.#arrivals = [];
      head = 0;
    } else if (head > 1024 && head * 2 > arrivals.length) {
      this.#arrivals = arrivals.slice(head);
      head = 0;
    }
    this.#arrivalsHead = head;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    // A plain HTTP client (/metrics, /healthz): Node's keep-alive timeout governs it, not ours.
    this.#awaitingUpgrade.delete(req.socket);
    const path = pathOf(req.url);
    if (path === this.config.path) {
      // A request on the WebSocket path that is not an upgrade (no Connection: upgrade): 426, as ws answers it.
      res.writeHead(426, { 'content-type': 'text/plain' }).end('Upgrade Required\n');
      return;
    }
    if (path !== '/healthz' && path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    this.#admission.stats().then(
      (stats) => {
        if (path === '/metrics') {
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(formatPrometheus(stats));
        } else {
          const status = this.#shuttingDown ? 'draining' : 'ok';
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ server: 'wsbench', status, mode: this.config.mode, path: this.config.path, ...stats, runtime: runtimeReport([{ sharedReads: sharedReadsVerdict() }]) }) + '\n');
        }
      },
      (error: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${error.message}\n`),
    );
  }
}

/**
 * What ws would refuse with 400 (RFC 6455 4.2.1), and HTTP/1.0, which RFC 6455 refuses and ws does
 * not: checked before a slot is taken.
 */
function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const key = req.headers['sec-websocket-key'];
  return (
    req.method === 'GET' &&
    (req.httpVersionMajor > 1 || req.httpVersionMinor >= 1) &&
    req.headers.upgrade?.toLowerCase() === 'websocket' &&
    (req.headers['sec-websocket-version'] === '13' || req.headers['sec-websocket-version'] === '8') &&
    typeof key === 'string' &&
    /^[+/0-9A-Za-z]{22}==$/.test(key)
  );
}

function statusFor(reason: RejectReason): number {
  return reason === 'not-found' ? 404 : reason === 'bad-request' ? 400 : 503;
}

/** A real HTTP answer before the upgrade, so the client sees a status it can count. */
export function refuse(socket: Duplex, status: number): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const reason = STATUS_CODES[status] ?? 'Error';
  const body = `${reason}\n`;
  const retryAfter = status === 503 ? 'Retry-After: 1\r\n' : '';
  socket.once('finish', socket.destroy);
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n${retryAfter}` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
