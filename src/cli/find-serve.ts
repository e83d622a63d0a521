/**
 * `wsbench blast` without a URL, beside a `wsbench serve` started with its defaults: the two are
 * meant to meet. `wsbench serve --max 50000` in one terminal and `wsbench blast -c 50000` in another
 * should fill that server's cap, not leave it idle while blast starts a server of its own. So before
 * starting its own server, blast asks serve's default address for /healthz, and blasts the server
 * there when it says it is a wsbench serve that is up (not draining). Anything else there (nothing
 * listening, another program, no answer within the timeout) changes nothing: blast starts its own.
 */
import { get } from 'node:http';
import { serveDefaults } from '../config/serve-config.js';

/** The wsbench serve found at the default address. */
export interface FoundServe {
  readonly url: string;
  readonly mode: string;
  readonly max: number;
  readonly open: number;
}

const PROBE_TIMEOUT_MS = 1000;
/** A /healthz answer is a few hundred bytes; more than this is not serve's. */
const MAX_BODY_BYTES = 64 * 1024;

export function findDefaultServe(timeoutMs = PROBE_TIMEOUT_MS): Promise<FoundServe | undefined> {
  const { host, port } = serveDefaults;
  return new Promise((resolve) => {
    let answered = false;
    // The signal bounds the whole exchange (a timeout option would bound only each silence).
    const request = get({ host, port, path: '/healthz', agent: false, signal: AbortSignal.timeout(timeoutMs) }, (response) => {
      answered = true;
      if (response.statusCode !== 200) {
        request.destroy();
        resolve(undefined);
        return;
      }
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
        if (body.length > MAX_BODY_BYTES) request.destroy();
      });
      // Whole, the answer is read; cut short (destroyed, aborted), it says nothing.
      response.on('close', () => resolve(response.complete ? parseHealth(body, host, port) : undefined));
      response.on('error', () => resolve(undefined));
    });
    request.on('error', () => resolve(undefined));
    // Closed before any answer (a response, once there, settles this itself).
    request.on('close', () => {
      if (!answered) resolve(undefined);
    });
  });
}

function parseHealth(body: string, host: string, port: number): FoundServe | undefined {
  let health: unknown;
  try {
    health = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof health !== 'object' || health === null) return undefined;
  const { server, status, path, mode, max, open } = health as Record<string, unknown>;
  if (server !== 'wsbench' || status !== 'ok' || typeof path !== 'string' || !path.startsWith('/')) return undefined;
  if (typeof mode !== 'string' || typeof max !== 'number' || typeof open !== 'number') return undefined;
  return { url: `ws://${host}:${port}${path}`, mode, max, open };
}
