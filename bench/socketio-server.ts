/**
 * The server of the socketio-vs-artillery benchmark: one socket.io 4 server (WebSocket transport
 * only), run as its own process. Usage: node socketio-server.js <port>
 *
 * It answers every "echo" event's ack with its argument. GET /count answers {connected, acks} so the
 * benchmark counts acks from the server's side, the same way for every client.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: socketio-server.js <port>\n');
  process.exit(2);
}

let connected = 0;
let acks = 0;
const http = createServer((req, res) => {
  if (req.url === '/count') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ connected, acks }));
  else if (!req.url?.startsWith('/socket.io/')) res.writeHead(404).end();
});
const io = new Server(http, { transports: ['websocket'] });
io.on('connection', (socket) => {
  connected++;
  socket.on('disconnect', () => connected--);
  socket.on('echo', (arg: unknown, ack?: (reply: unknown) => void) => {
    if (typeof ack !== 'function') return;
    acks++;
    ack(arg);
  });
});
http.listen(port, '127.0.0.1', 4096, () => process.stderr.write(`socketio-server listening on ${port}\n`));
process.on('SIGTERM', () => process.exit(0));
