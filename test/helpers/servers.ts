/** Misbehaving servers for blast's fault tests, in the test process, on loopback port 0. */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';

export interface TestServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

type Behaviour = (ws: WebSocket, data: RawData, isBinary: boolean) => void;

async function wsServer(behaviour: Behaviour, maxPayload?: number): Promise<TestServer> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, maxPayload });
  await once(wss, 'listening');
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => behaviour(ws, data, isBinary)));
  const port = (wss.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    port,
    close: () =>
      new Promise((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => resolve());
      }),
  };
}

/**
 * A ws server whose connections get `onConnection`; messages go to `onMessage`. `clients` is the
 * set of open connections, for servers that push or broadcast.
 */
export async function wsServerWith(
  onConnection: (ws: WebSocket) => void,
  onMessage?: (ws: WebSocket, data: Buffer, binary: boolean) => void,
): Promise<TestServer & { clients: Set<WebSocket> }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  await once(wss, 'listening');
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    if (onMessage) ws.on('message', (data: Buffer, binary: boolean) => onMessage(ws, data, binary));
    onConnection(ws);
  });
  const port = (wss.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    port,
    clients: wss.clients,
    close: () => new Promise((resolve) => {
      for (const ws of wss.clients) ws.terminate();
      wss.close(() => resolve());
    }),
  };
}

/** Echoes each message after `delayMs`. */
export function delayedEchoServer(delayMs: number): Promise<TestServer> {
  return wsServer((ws, data, isBinary) => setTimeout(() => ws.send(data, { binary: isBinary }), delayMs));
}

/** Echoes at once, except during one stall of `stallMs` that starts `stallAfterMs` after the first message. */
export function stallingEchoServer(stallAfterMs: number, stallMs: number): Promise<TestServer> {
  let stallFrom = 0;
  let stallUntil = 0;
  return wsServer((ws, data, isBinary) => {
    const now = Date.now();
    if (stallFrom === 0) {
      stallFrom = now + stallAfterMs;
      stallUntil = stallFrom + stallMs;
    }
    if (now >= stallFrom && now < stallUntil) setTimeout(() => ws.send(data, { binary: isBinary }), stallUntil - now);
    else ws.send(data, { binary: isBinary });
  });
}

/** Accepts WebSocket connections and never echoes. */
export function silentServer(): Promise<TestServer> {
  return wsServer(() => {});
}

/** Accepts TCP connections and never answers the upgrade. */
export function blackholeServer(): Promise<TestServer & { connections(): number }> {
  return countingServer();
}

/** The Sec-WebSocket-Accept a correct server answers for `key`. */
export function acceptFor(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

/** A correct 101 answer for `key`, with extra header lines. */
export function upgradeAnswer(key: string, extraHeaders: string[] = []): string {
  return ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptFor(key)}`, ...extraHeaders, '', ''].join('\r\n');
}

/**
 * A node:net server on loopback port 0 that tracks its sockets (errors ignored) and destroys them
 * all on close. `onSocket` gets each connection.
 */
async function netServer(onSocket: (socket: Socket) => void, options: { allowHalfOpen?: boolean } = {}): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer(options, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    onSocket(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    port,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A server that speaks raw bytes over node:net: `onRequest` gets each connection once its request
 * head has arrived (with the client's Sec-WebSocket-Key), and can answer anything at all. Bytes the
 * client sends after its head are collected in `received`.
 */
export async function rawServer(
  onRequest: (socket: Socket, key: string, head: string) => void,
): Promise<TestServer & { readonly connections: { socket: Socket; received: Buffer[] }[] }> {
  const connections: { socket: Socket; received: Buffer[] }[] = [];
  const server = await netServer((socket) => {
    const connection = { socket, received: [] as Buffer[] };
    connections.push(connection);
    let head = Buffer.alloc(0);
    let answered = false;
    socket.on('data', (chunk: Buffer) => {
      if (answered) return void connection.received.push(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      answered = true;
      if (end + 4 < head.length) connection.received.push(head.subarray(end + 4));
      const text = head.toString('latin1', 0, end);
      const key = /\r\nsec-websocket-key:\s*([^\r]+)/i.exec(text)?.[1]?.trim() ?? '';
      onRequest(socket, key, text);
    });
  });
  return { ...server, connections };
}

/** A plain ws echo server (the reference): each message back with its type, up to `maxPayload`. */
export function plainEchoServer(maxPayload = 2 * 1024 * 1024): Promise<TestServer> {
  return wsServer((ws, data, isBinary) => ws.send(data, { binary: isBinary }), maxPayload);
}

/**
 * Completes the WebSocket upgrade by hand, then ignores the connection for good: no echo, no close
 * frame, no FIN (half-open: the client's FIN gets none back). A client's closing handshake with it can
 * only end by the client's own deadline.
 */
export function upgradeThenIgnoreServer(): Promise<TestServer> {
  return netServer(
    (socket) =>
      socket.once('data', (request) => {
        const key = /sec-websocket-key: *(\S+)/i.exec(request.toString('latin1'))?.[1] ?? '';
        socket.write(upgradeAnswer(key));
      }),
    { allowHalfOpen: true },
  );
}

/** Accepts TCP connections, holds them, and counts them (to show that a refused command opened none). */
export async function countingServer(): Promise<TestServer & { connections(): number }> {
  let count = 0;
  const server = await netServer(() => count++);
  return { ...server, connections: () => count };
}
