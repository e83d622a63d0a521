/**
 * The reference client for blast-* benchmarks: what a user would write with the ws client.
 *
 *   node naive-client.js echo <url> <connections> <durationMs> <sizeBytes> [<payloadFile>|- [compress]]
 *     opens the connections, then each sends a message, awaits its echo (timed with
 *     process.hrtime.bigint), and sends again, for durationMs; prints one JSON line and exits.
 *     With a payload file, its text is the message instead of sizeBytes of 'x'; with `compress`,
 *     ws's permessage-deflate is offered, and every message compressed (threshold 0).
 *   node naive-client.js idle <url> <connections>
 *     opens the connections and holds them idle; prints one JSON line when all are open and
 *     stays until SIGTERM.
 *
 * At most 1000 handshakes are in flight at once, as wsbench blast does by default.
 */
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';

const MAX_HANDSHAKES = 1000;
const [mode, url, connectionsArg, durationArg, sizeArg, payloadFile, compressArg] = process.argv.slice(2);
const connections = Number(connectionsArg);
if ((mode !== 'echo' && mode !== 'idle') || !url || !(connections > 0)) {
  process.stderr.write('usage: naive-client.js echo <url> <connections> <durationMs> <sizeBytes> | idle <url> <connections>\n');
  process.exit(2);
}
const durationMs = Number(durationArg ?? 0);
const payload = payloadFile && payloadFile !== '-' ? readFileSync(payloadFile) : Buffer.alloc(Number(sizeArg ?? 64), 'x');
const perMessageDeflate = compressArg === 'compress' ? { threshold: 0 } : false;

const sockets: WebSocket[] = [];
let opened = 0;
let failed = 0;
let inFlight = 0;
let started = 0;
let measuring = false;
let messages = 0;
let totalMessages = 0;
const roundTripsUs: number[] = [];

function openMore(): void {
  while (started < connections && inFlight < MAX_HANDSHAKES) {
    started++;
    inFlight++;
    const ws = new WebSocket(url!, { perMessageDeflate });
    let sentAt = 0n;
    const send = () => {
      sentAt = process.hrtime.bigint();
      ws.send(payload, { binary: false });
    };
    ws.on('open', () => {
      inFlight--;
      opened++;
      sockets.push(ws);
      openMore();
      if (opened + failed === connections) allOpen();
    });
    ws.on('message', () => {
      totalMessages++;
      if (!measuring) return;
      messages++;
      if (roundTripsUs.length < 1_000_000) roundTripsUs.push(Number(process.hrtime.bigint() - sentAt) / 1000);
      send();
    });
    ws.on('error', () => {
      if (ws.readyState === WebSocket.CONNECTING || sentAt === 0n) {
        inFlight--;
        failed++;
        openMore();
        if (opened + failed === connections) allOpen();
      }
    });
    (ws as WebSocket & { startEcho?: () => void }).startEcho = send;
  }
}

function allOpen(): void {
  if (mode === 'idle') {
    process.stdout.write(JSON.stringify({ open: opened, failed }) + '\n');
    return;
  }
  measuring = true;
  const startedAt = process.hrtime.bigint();
  for (const ws of sockets) (ws as WebSocket & { startEcho: () => void }).startEcho();
  setTimeout(() => {
    measuring = false;
    const elapsedMs = Number(process.hrtime.bigint() - startedAt) / 1e6;
    roundTripsUs.sort((a, b) => a - b);
    const at = (q: number) => roundTripsUs[Math.min(roundTripsUs.length - 1, Math.floor(q * roundTripsUs.length))] ?? 0;
    const cpu = process.cpuUsage();
    process.stdout.write(
      JSON.stringify({
        open: opened,
        failed,
        messages,
        totalMessages,
        elapsedMs,
        perSecond: (messages * 1000) / elapsedMs,
        roundTripUs: { p50: at(0.5), p99: at(0.99) },
        cpuUs: cpu.user + cpu.system,
      }) + '\n',
    );
    for (const ws of sockets) ws.terminate();
    setTimeout(() => process.exit(0), 100);
  }, durationMs);
}

const stop = () => {
  for (const ws of sockets) ws.terminate();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
openMore();
