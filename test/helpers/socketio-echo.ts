/**
 * A socket.io 4 server for the option matrix (WebSocket transport only, permessage-deflate
 * accepted): every event that asks for an ack is answered with its own arguments, the Socket.IO
 * shape of an echo. It counts connects and acks answered, which the matrix compares with blast's.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';

export interface SocketIoEcho {
  readonly url: string;
  readonly counts: { connects: number; acks: number };
  close(): Promise<void>;
}

export async function startSocketIoEcho(): Promise<SocketIoEcho> {
  const counts = { connects: 0, acks: 0 };
  const http = createServer();
  const io = new Server(http, { transports: ['websocket'], perMessageDeflate: { threshold: 0 }, maxHttpBufferSize: 1e7 });
  io.on('connection', (socket) => {
    counts.connects++;
    socket.onAny((...args: unknown[]) => {
      const ack = args[args.length - 1];
      if (typeof ack !== 'function') return;
      counts.acks++;
      (ack as (...reply: unknown[]) => void)(...args.slice(1, -1));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', 4096, resolve));
  const port = (http.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}/`,
    counts,
    close: async () => {
      io.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
    },
  };
}
