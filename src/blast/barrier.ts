/**
 * Shards that start together: `--barrier http://HOST:PORT` with `--shard i/N`.
 *
 * The process running shard 1 serves the barrier (BarrierHost) on PORT, on every interface. Every
 * shard, 1 included, arrives at it twice: at 'start', before it opens a connection, and at 'run',
 * when every connection of its ramp has its outcome. A stage is released for everyone at once when
 * all N shards have arrived, so that the shards' run phases begin within the time an HTTP response
 * takes to reach them, however long each shard's ramp took: the merged result then describes one
 * load that really ran at once (merge measures the overlap).
 *
 * The protocol is plain HTTP long polling, so that it passes any proxy and needs no client library:
 * `GET /barrier/<stage>?shard=i&of=N&key=K` is answered 200 `{ released: true, releasedAt }` once
 * the stage is released, or 200 `{ released: false, arrived, of }` after POLL_MS without, and the
 * shard asks again. A shard that cannot reach the barrier (shard 1 not up yet) keeps trying until
 * its --barrier-timeout, then fails with what it saw. 409 is the answer to a shard of another load
 * (another N, another key).
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { RunError } from '../config/errors.js';
import { sleep } from '../runtime/abort.js';

export type BarrierStage = 'start' | 'run';
const STAGES: readonly BarrierStage[] = ['start', 'run'];

/** A held request is answered (not released) after this long; the shard asks again. */
const POLL_MS = 5_000;
/** On a held answer's headers: "arrived/N" when the shard's request came in. */
const ARRIVED_HEADER = 'x-wsbench-arrived';
/** Between attempts to reach a barrier that does not answer yet. */
const RETRY_MS = 250;

export interface BarrierRelease {
  /** When the host released the stage (its clock, ms since the epoch). */
  readonly releasedAt: number;
  /** How long this shard waited at the barrier. */
  readonly waitedMs: number;
}

interface Stage {
  readonly arrived: Set<number>;
  readonly waiting: Set<ServerResponse>;
  releasedAt: number | undefined;
}

/** Shard 1's side: releases each stage when all `count` shards of the load `key` have arrived. */
export class BarrierHost {
  readonly #server: Server;
  readonly #stages = new Map<BarrierStage, Stage>(STAGES.map((s) => [s, { arrived: new Set(), waiting: new Set(), releasedAt: undefined }]));

  private constructor(
    server: Server,
    readonly count: number,
    readonly key: string,
  ) {
    this.#server = server;
  }

  /** Listen on `port` on every interface (0: any free port). Throws RunError when the port is taken. */
  static async listen(port: number, count: number, key: string): Promise<BarrierHost> {
    const server = createServer();
    const host = new BarrierHost(server, count, key);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => host.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(new RunError('BARRIER', `--barrier: shard 1 cannot serve the barrier on port ${port} (${error.code ?? error.message})`)),
      );
      server.listen(port, () => resolve());
    });
    return host;
  }

  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://barrier');
    const stageName = /^\/barrier\/(start|run)$/.exec(url.pathname)?.[1] as BarrierStage | undefined;
    const reply = (status: number, body: unknown) => {
      if (res.writableEnded) return;
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET' || !stageName) return reply(404, { error: 'GET /barrier/start or /barrier/run' });
    const shard = Number(url.searchParams.get('shard'));
    const of = Number(url.searchParams.get('of'));
    if (of !== this.count || url.searchParams.get('key') !== this.key) {
      return reply(409, { error: `this barrier is for ${this.count} shards of another load (key ${this.key}); shard ${url.searchParams.get('shard')}/${url.searchParams.get('of')} asked` });
    }
    if (!Number.isInteger(shard) || shard < 1 || shard > this.count) return reply(400, { error: `shard must be 1 to ${this.count}` });
    const stage = this.#stages.get(stageName)!;
    stage.arrived.add(shard);
    if (stage.releasedAt === undefined && stage.arrived.size === this.count) {
      stage.releasedAt = Date.now();
      for (const waiting of stage.waiting) waiting.writableEnded || waiting.end(JSON.stringify({ released: true, releasedAt: stage.releasedAt }));
      stage.waiting.clear();
    }
    if (stage.releasedAt !== undefined) return reply(200, { released: true, releasedAt: stage.releasedAt });
    // Headers now, so that the shard knows the barrier is there and how many are; the body when
    // released or polled out.
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store', [ARRIVED_HEADER]: `${stage.arrived.size}/${this.count}` });
    res.flushHeaders();
    stage.waiting.add(res);
    const timer = setTimeout(() => {
      stage.waiting.delete(res);
      if (!res.writableEnded) res.end(JSON.stringify({ released: false, arrived: stage.arrived.size, of: this.count }));
    }, POLL_MS);
    res.once('close', () => {
      clearTimeout(timer);
      stage.waiting.delete(res);
    });
  }

  close(): Promise<void> {
    for (const stage of this.#stages.values()) for (const waiting of stage.waiting) waiting.destroy();
    this.#server.closeAllConnections?.();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

interface PollAnswer {
  readonly released: boolean;
  readonly releasedAt?: number;
  readonly arrived?: number;
  readonly of?: number;
  readonly error?: string;
}

/**
 * Arrive at `stage` of the barrier at `url` as shard `shard` of `count`, and wait for its release.
 * Throws RunError (exit 1) when the barrier does not release it within `timeoutMs`, saying whether
 * the barrier was never reached or how many shards had arrived; and when aborted.
 */
export async function arriveAt(
  url: URL,
  stage: BarrierStage,
  shard: { index: number; count: number },
  key: string,
  timeoutMs: number,
  signal?: AbortSignal,
  onWaiting?: (arrived: number, of: number) => void,
): Promise<BarrierRelease> {
  const began = Date.now();
  const deadline = began + timeoutMs;
  let lastProblem = 'not reached yet';
  let reached = false;
  const target = new URL(`barrier/${stage}`, url.href.endsWith('/') ? url : new URL(`${url.href}/`));
  target.search = new URLSearchParams({ shard: String(shard.index), of: String(shard.count), key }).toString();
  while (Date.now() < deadline) {
    if (signal?.aborted) throw new RunError('INTERRUPTED', `--barrier ${url.href}: interrupted while waiting at the ${stage} barrier`);
    const heard = (arrived: string | undefined) => {
      reached = true;
      const [got, of] = (arrived ?? '').split('/');
      if (got !== undefined && of !== undefined) lastProblem = `${got} of ${of} shards had arrived`;
    };
    try {
      const answer = await poll(target, Math.min(POLL_MS * 2, deadline - Date.now() + 100), signal, heard);
      if (answer.status === 409 || answer.status === 400) throw new RunError('BARRIER', `--barrier ${url.href}: ${answer.body.error ?? `answered ${answer.status}`}`);
      if (answer.status !== 200) {
        lastProblem = `it answered HTTP ${answer.status}`;
      } else if (answer.body.released && typeof answer.body.releasedAt === 'number') {
        return { releasedAt: answer.body.releasedAt, waitedMs: Date.now() - began };
      } else {
        lastProblem = `${answer.body.arrived ?? '?'} of ${answer.body.of ?? shard.count} shards had arrived`;
        onWaiting?.(answer.body.arrived ?? 0, answer.body.of ?? shard.count);
        continue;
      }
    } catch (error) {
      if (error instanceof RunError) throw error;
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      // A held answer cut short by the deadline: what its headers said stands.
      if (!(reached && code === 'ETIMEDOUT' && Date.now() >= deadline)) lastProblem = reached ? `the connection to it failed (${code})` : `not reached (${code})`;
    }
    await sleep(Math.min(RETRY_MS, Math.max(0, deadline - Date.now())), signal);
  }
  throw new RunError(
    'BARRIER',
    `--barrier ${url.href}: the ${stage} stage was not released within --barrier-timeout ${Math.round(timeoutMs / 1000)}s: ${lastProblem}` +
      (stage === 'start' && !reached ? ' (shard 1 serves it: is it running, and is its port reachable from here?)' : ''),
  );
}

function poll(target: URL, timeoutMs: number, signal: AbortSignal | undefined, heard: (arrived: string | undefined) => void): Promise<{ status: number; body: PollAnswer }> {
  return new Promise((resolve, reject) => {
    const req = request(target, { method: 'GET', signal, timeout: timeoutMs, agent: false }, (res) => {
      const arrived = res.headers[ARRIVED_HEADER];
      heard(typeof arrived === 'string' ? arrived : undefined);
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as PollAnswer });
        } catch {
          resolve({ status: res.statusCode === 200 ? 502 : (res.statusCode ?? 0), body: { released: false } });
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}


/** Wait until `atMs` (ms since the epoch); at once if it has passed. Ends early when aborted. */
export function waitUntil(atMs: number, signal?: AbortSignal): Promise<void> {
  // setTimeout's longest delay is 2^31-1 ms; config refuses times further than a day away.
  return sleep(Math.max(0, atMs - Date.now()), signal);
}
