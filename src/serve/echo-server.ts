/**
 * One process's echo server: the HTTP listener for /healthz and /metrics, the upgrade handler that
 * asks the admission point for a slot, and one small handler set per WebSocket connection.
 *
 * Per-connection cost is kept to what ws itself needs: the message, close, pong and error handlers
 * are shared functions (no closures per connection), and the heartbeat is one interval over all
 * clients rather than a timer each.
 */
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { ServeConfig } from '../config/serve-config.js';
import { emptyServeCounters, type RejectReason, type ServeStats } from '../metrics/serve-stats.js';
import { formatPrometheus } from '../report/prometheus.js';
import type { AdmissionOutcome } from './admission.js';

/** How an echo server reaches its admission point: in-process, or over IPC to the primary. */
export interface AdmissionClient {
  /** Ask for a slot; `answer` is called exactly once unless the request is cancelled. Returns its id. */
  request(answer: (outcome: AdmissionOutcome) => void): number;
  cancel(requestId: number): void;
  release(): void;
  /** The global figures, for /metrics and /healthz. */
  stats(): Promise<ServeStats>;
}

/** Echo stops reading from a peer whose unsent echoes exceed this, until its socket drains. */
const ECHO_HIGH_WATER_BYTES = 4 * 1024 * 1024;
const TEXT = { binary: false } as const;
const BINARY = { binary: true } as const;
const kAlive = Symbol('alive');
const kHttpUsed = Symbol('httpUsed');

type TrackedSocket = WebSocket & { [kAlive]?: boolean };

export class EchoServer {
  readonly counters = emptyServeCounters();
  readonly http: Server;
  readonly wss: WebSocketServer;
  readonly #config: ServeConfig;
  readonly #admission: AdmissionClient;
  #heartbeat: NodeJS.Timeout | undefined;
  #shuttingDown = false;
  readonly #releaseSlot: () => void;
  readonly #onMessage: (this: WebSocket, data: RawData, isBinary: boolean) => void;
  readonly #onClose: () => void;

  constructor(config: ServeConfig, admission: AdmissionClient) {
    this.#config = config;
    this.#admission = admission;
    const counters = this.counters;
    this.#releaseSlot = () => admission.release();
    this.#onClose = () => {
      counters.closed++;
    };
    this.#onMessage = function echo(this: WebSocket, data: RawData, isBinary: boolean) {
      const bytes = (data as Buffer).length;
      counters.messagesIn++;
      counters.bytesIn += bytes;
      this.send(data, isBinary ? BINARY : TEXT);
      counters.messagesOut++;
      counters.bytesOut += bytes;
      if (this.bufferedAmount > ECHO_HIGH_WATER_BYTES) pauseUntilDrained(this);
    };
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: true,
      perMessageDeflate: false,
      maxPayload: config.maxPayloadBytes,
    });
    // With a listener here ws leaves the refusal of a malformed upgrade to us, so it is counted.
    this.wss.on('wsClientError', (_error: Error, socket: Duplex) => {
      counters.rejected['bad-request']++;
      refuse(socket, 400);
    });
    this.http = createServer((req, res) => this.#onRequest(req, res));
    this.http.on('connection', (socket: Socket) => {
      socket.setTimeout(config.handshakeTimeoutMs);
      socket.on('timeout', onHandshakeTimeout);
    });
    const onHandshakeTimeout = function (this: Socket & { [kHttpUsed]?: boolean }) {
      if (!this[kHttpUsed]) counters.handshakeTimeouts++;
      this.destroy();
    };
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      (socket as Socket).setTimeout(0);
      socket.removeListener('timeout', onHandshakeTimeout);
      this.#onUpgrade(req, socket, head);
    });
    if (config.heartbeatMs > 0) {
      this.#heartbeat = setInterval(() => this.#beat(), config.heartbeatMs);
      this.#heartbeat.unref();
    }
  }

  get open(): number {
    return this.wss.clients.size;
  }

  /** Serve a connection that arrived elsewhere (the primary's listener, passed over IPC). */
  adopt(socket: Socket): void {
    this.http.emit('connection', socket);
    socket.resume();
  }

  /** Refuse new upgrades, close every connection with 1001, and cut what is left after the drain time. */
  async shutdown(drainTimeoutMs: number): Promise<void> {
    this.#shuttingDown = true;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    for (const ws of this.wss.clients) ws.close(1001, 'server shutting down');
    const deadline = Date.now() + drainTimeoutMs;
    while (this.wss.clients.size > 0 && Date.now() < deadline) await delay(20);
    for (const ws of this.wss.clients) ws.terminate();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (pathOf(req.url) !== this.#config.path) return this.#reject(socket, 'not-found');
    if (this.#shuttingDown) return this.#reject(socket, 'shutting-down');
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
      // The slot is tied to the socket: whatever ends it (close, reset, failed handshake, heartbeat
      // termination, a killed peer) fires 'close' once, and that gives the slot back.
      socket.on('close', this.#releaseSlot);
      this.wss.handleUpgrade(req, socket, head, (ws) => this.#onOpen(ws));
    });
  }

  #onOpen(ws: WebSocket): void {
    this.counters.accepted++;
    ws.on('message', this.#onMessage);
    ws.on('close', this.#onClose);
    ws.on('error', ignoreError);
    if (this.#heartbeat) {
      (ws as TrackedSocket)[kAlive] = true;
      ws.on('pong', markAlive);
    }
  }

  #reject(socket: Duplex, reason: RejectReason): void {
    this.counters.rejected[reason]++;
    refuse(socket, statusFor(reason));
  }

  #beat(): void {
    for (const ws of this.wss.clients as Set<TrackedSocket>) {
      if (ws[kAlive] === false) {
        ws.terminate();
        continue;
      }
      ws[kAlive] = false;
      ws.ping();
    }
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    (req.socket as Socket & { [kHttpUsed]?: boolean })[kHttpUsed] = true;
    const path = pathOf(req.url);
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
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status, ...stats }) + '\n');
        }
      },
      (error: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${error.message}\n`),
    );
  }
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

function pauseUntilDrained(ws: WebSocket): void {
  const socket = (ws as unknown as { _socket?: Socket })._socket;
  if (!socket || ws.isPaused) return;
  ws.pause();
  socket.once('drain', () => ws.resume());
}

function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

function markAlive(this: TrackedSocket): void {
  this[kAlive] = true;
}

function ignoreError(): void {
  // ws closes the connection itself (1002, 1007, 1009) and emits 'close'; nothing more to do.
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
