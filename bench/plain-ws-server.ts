/**
 * The reference server for serve-* benchmarks: a plain ws echo server, as a user would write it,
 * run as its own process. Usage: node plain-ws-server.js <port> [compress]
 * (`compress`: ws's permessage-deflate accepted, every echo compressed: threshold 0).
 *
 * It echoes each message with its binary flag. GET /count answers {open, accepted, messagesIn} so a
 * benchmark can tell when it holds its connections. It listens with backlog 4096, as `wsbench
 * serve` does, so the comparison is between the servers' code, not their listen queue.
 */
import { createServer } from 'node:http';
import { WebSocketServer, type RawData } from 'ws';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: plain-ws-server.js <port>\n');
  process.exit(2);
}

let accepted = 0;
let messagesIn = 0;
const http = createServer((req, res) => {
  if (req.url === '/count') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ open: wss.clients.size, accepted, messagesIn }));
  } else {
    res.writeHead(426).end();
  }
});
const wss = new WebSocketServer({ server: http, perMessageDeflate: process.argv[3] === 'compress' ? { threshold: 0 } : false });
wss.on('connection', (ws) => {
  accepted++;
  ws.on('message', (data: RawData, isBinary: boolean) => {
    messagesIn++;
    ws.send(data, { binary: isBinary });
  });
  ws.on('error', () => {});
});
http.listen({ port, host: '127.0.0.1', backlog: 4096 });
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
