/** Real ws clients for tests, with every outcome of an attempt made explicit. */
import { WebSocket } from 'ws';

export type Attempt =
  | { kind: 'open'; ws: WebSocket }
  | { kind: 'rejected'; status: number; headers: Record<string, string | string[] | undefined> }
  | { kind: 'failed'; code: string };

export function attempt(url: string, options: { timeoutMs?: number } = {}): Promise<Attempt> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: options.timeoutMs ?? 10_000 });
    ws.once('open', () => resolve({ kind: 'open', ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ kind: 'rejected', status: res.statusCode ?? 0, headers: res.headers });
      res.resume();
      ws.terminate();
    });
    ws.once('error', (error: NodeJS.ErrnoException) => resolve({ kind: 'failed', code: error.code ?? error.message }));
  });
}

export async function attemptMany(url: string, count: number): Promise<Attempt[]> {
  return Promise.all(Array.from({ length: count }, () => attempt(url)));
}

export function openSockets(attempts: Attempt[]): WebSocket[] {
  return attempts.flatMap((a) => (a.kind === 'open' ? [a.ws] : []));
}

export function tally(attempts: Attempt[]): { open: number; rejected: Record<number, number>; failed: number } {
  const result = { open: 0, rejected: {} as Record<number, number>, failed: 0 };
  for (const a of attempts) {
    if (a.kind === 'open') result.open++;
    else if (a.kind === 'rejected') result.rejected[a.status] = (result.rejected[a.status] ?? 0) + 1;
    else result.failed++;
  }
  return result;
}

/** Close every socket and wait for each close to complete. */
export async function closeAll(sockets: WebSocket[]): Promise<void> {
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          ws.once('close', () => resolve());
          ws.close();
        }),
    ),
  );
}

/** Send one message and wait for its echo. */
export function echo(ws: WebSocket, data: string | Buffer, binary: boolean): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve, reject) => {
    ws.once('message', (reply: Buffer, isBinary: boolean) => resolve({ data: reply, binary: isBinary }));
    ws.send(data, { binary }, (error) => error && reject(error));
  });
}

export function closeEvent(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
}

/** Poll until `check` returns true, or fail after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * ws's private `_socket`: the TCP socket under a WebSocket. ws has no public way to reach it; tests
 * pause a client on it to play a peer that stops reading. package.json pins ws to the minor version
 * tested (~x.y.z), and test/serve.test.ts fails if the field is gone.
 */
export function privateSocketOf(ws: WebSocket): import('node:net').Socket | undefined {
  return (ws as unknown as { _socket?: import('node:net').Socket })._socket;
}
