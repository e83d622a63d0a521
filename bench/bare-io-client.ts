/**
 * The floor for blast-cpu-vs-tcpkali's closed loop: the least a Node.js client can spend per echoed
 * message here, doing nothing but the socket I/O that every closed-loop client must do.
 *
 *   node bare-io-client.js <url> <connections> <durationMs> <sizeBytes>
 *     opens the connections (a real handshake each), then on every connection sends one frame,
 *     and each time a whole echo (sizeBytes in a 2-byte-header server frame) has arrived, sends
 *     the same frame again, for durationMs; prints one JSON line and exits.
 *
 * Per message it makes one read and one write, through blast's own paths (src/blast/handle-io.ts,
 * after its self-test): reads land in one shared buffer and go from the handle's read callback
 * straight to this code (readDirect), writes go to the handle past net's stream (directHandle,
 * writeBytesDirect). It does no WebSocket work at all: no header parsing (it counts bytes), one
 * frame masked once and sent every time, no clock, no histogram. So its CPU is Node's and libuv's
 * cost per read and per write on this machine, and no client that speaks WebSocket, times its
 * messages and runs on Node can cost less. Where the self-test turns a path off, it stops with an
 * error rather than measure another path.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { directHandle, proveHandleIo, readDirect, writeBytesDirect } from '../src/blast/handle-io.js';

const [urlArg, connectionsArg, durationArg, sizeArg] = process.argv.slice(2);
const connections = Number(connectionsArg);
const durationMs = Number(durationArg);
const size = Number(sizeArg ?? 64);
if (!urlArg || !(connections > 0) || !(durationMs > 0) || !(size >= 0 && size < 126)) {
  process.stderr.write('usage: bare-io-client.js <ws://host:port/path> <connections> <durationMs> <sizeBytes under 126>\n');
  process.exit(2);
}
const url = new URL(urlArg);
const port = Number(url.port || 80);
const proof = await proveHandleIo();
if (!proof.directReads.on || !proof.directWrites.on) {
  process.stderr.write(`bare-io-client: blast's direct paths are off here (${JSON.stringify(proof)})\n`);
  process.exit(1);
}

/** A server frame of one echo, and the client frame sent each time (masked once, with a fixed key). */
const ECHO_BYTES = 2 + size;
const frame = Buffer.alloc(6 + size);
frame[0] = 0x81;
frame[1] = 0x80 | size;
randomBytes(4).copy(frame, 2);
for (let i = 0; i < size; i++) frame[6 + i] = 0x78 ^ frame[2 + (i & 3)]!;

const readBuffer = Buffer.allocUnsafe(64 * 1024);
let open = 0;
let failed = 0;
let messages = 0;
/** Bytes of an echo not yet whole, per open connection. */
const partial = new Map<Socket, number>();

function send(socket: Socket): void {
  const handle = directHandle(socket);
  if (handle) writeBytesDirect(socket, handle, frame);
}

function onRead(socket: Socket, bytes: number): void {
  let pending = partial.get(socket)! + bytes;
  while (pending >= ECHO_BYTES) {
    pending -= ECHO_BYTES;
    messages++;
    send(socket);
  }
  partial.set(socket, pending);
}

/** After the 101: the handle's reads come to onRead; the first frame goes once every connection has settled. */
function upgraded(socket: Socket): void {
  if (!readDirect(socket, onRead)) throw new Error("bare-io-client: the socket's reads could not be taken past net");
  partial.set(socket, 0);
  open++;
  startWhenAllSettled();
}

/** Once every connection is open or has failed, each open one sends its first frame. */
function startWhenAllSettled(): void {
  if (open + failed === connections) for (const socket of partial.keys()) send(socket);
}

for (let i = 0; i < connections; i++) {
  let head = '';
  const socket: Socket = connect({
    host: url.hostname,
    port,
    noDelay: true,
    onread: {
      buffer: readBuffer,
      callback: (bytes: number): boolean => {
        head += readBuffer.toString('latin1', 0, bytes);
        if (!head.includes('\r\n\r\n')) return true;
        if (!head.startsWith('HTTP/1.1 101')) {
          failed++;
          socket.destroy();
          startWhenAllSettled();
          return false;
        }
        upgraded(socket);
        return true;
      },
    },
  });
  socket.on('connect', () =>
    socket.write(
      `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ),
  );
  socket.on('error', () => {
    if (partial.has(socket)) return;
    failed++;
    startWhenAllSettled();
  });
}

setTimeout(() => {
  process.stdout.write(JSON.stringify({ open, failed, totalMessages: messages }) + '\n');
  process.exit(0);
}, durationMs);
