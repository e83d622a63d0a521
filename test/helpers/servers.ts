/** Misbehaving servers for blast's fault tests, in the test process, on loopback port 0. */
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';

export interface TestServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

type Behaviour = (ws: WebSocket, data: RawData, isBinary: boolean) => void;

async function wsServer(behaviour: Behaviour): Promise<TestServer> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
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
export async function blackholeServer(): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
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
