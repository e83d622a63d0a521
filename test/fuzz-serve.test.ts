/**
 * A seeded fuzzer against the real `wsbench serve`: thousands of malformed or hostile inputs, each
 * checked for the answer RFC 6455 and ws give it, while 20 well-behaved clients keep echoing.
 *
 * Inputs: broken upgrade requests (one per connection: 400, 404 for another path, 426 for no
 * upgrade at all, 431 for headers too large, the handshake timeout for a request cut short); and
 * after a valid upgrade, several hostile-but-legal inputs packed on one connection (fragmented
 * messages with pings between fragments, multi-byte UTF-8 split across fragments, pings, unsolicited
 * pongs; each must echo or pong exactly) and then one that ends it: unmasked frames, RSV bits,
 * reserved opcodes, long or fragmented control frames, stray continuations (1002), invalid UTF-8
 * (1007), oversized lengths (1009), invalid close codes (1002), a valid close (its code echoed), or
 * a truncated frame and silence (the heartbeat cuts it).
 *
 * Then the same against `serve --compress` with the compressed cases (helpers/serve-fuzz-cases.ts's
 * generateCompressed): compressed messages whole and in fragments, then data zlib refuses (1007), a
 * zip bomb (1009), compressed invalid UTF-8 (1007), RSV1 where it is not allowed (1002); the echoes
 * come back compressed and are inflated here by the project's codec, with ws clients compressing
 * alongside.
 *
 * Then both again, fewer of them, against `serve --mode reply` (every expected echo becomes the
 * JSON-RPC answer to it, modes.ts's replyFor, as text; the well-behaved clients check theirs) and
 * `serve --mode broadcast` (each case alone in a room of its own by `?room=`: nothing comes back but
 * pongs and the close): the modes share the connection code, and the hostile input must meet the
 * same answers there.
 *
 * Replay a failure with the seed it prints: WSBENCH_FUZZ_SEED=<seed> npm test.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { encodeFrame, FrameParser, Opcode } from '../src/protocol/frame-codec.js';
import { acceptAnswer, DeflateCodec } from '../src/protocol/permessage-deflate.js';
import { replyFor } from '../src/serve/modes.js';
import { generate, generateCompressed, inRoom, MAX_PAYLOAD, prng, type Case } from './helpers/serve-fuzz-cases.js';
import { startServeCli, stop } from './helpers/cli.js';
import { attemptMany, closeAll, eventually, openSockets } from './helpers/clients.js';

const SEED = process.env.WSBENCH_FUZZ_SEED !== undefined ? Number(process.env.WSBENCH_FUZZ_SEED) >>> 0 : (Date.now() ^ (process.pid << 8)) >>> 0;
const REPLAY = `replay with WSBENCH_FUZZ_SEED=${SEED}`;
const CONNECTIONS = 2600;
const CONCURRENCY = 40;
const COMPRESSED_CONNECTIONS = 600;
/** Per other mode: the same generator, fewer connections (the connection code is the same). */
const MODE_CONNECTIONS = 800;
const MODE_COMPRESSED_CONNECTIONS = 200;

/** What a mode answers a case's messages with, and how a case reaches it. */
interface ModeUnderTest {
  readonly mode: 'echo' | 'reply' | 'broadcast';
  readonly serveArgs: readonly string[];
  /** The messages a case must get back, from the echoes it would get in echo mode. */
  readonly expected: (echoes: Case['echoes']) => Case['echoes'];
  readonly place: (fuzzCase: Case, index: number) => Case;
}
const ECHO: ModeUnderTest = { mode: 'echo', serveArgs: [], expected: (echoes) => echoes, place: (c) => c };
const OTHER_MODES: readonly ModeUnderTest[] = [
  {
    mode: 'reply',
    serveArgs: ['--mode', 'reply'],
    expected: (echoes) => echoes.map((echo) => ({ data: Buffer.from(replyFor(echo.data).text), binary: false })),
    place: (c) => c,
  },
  {
    mode: 'broadcast',
    serveArgs: ['--mode', 'broadcast', '--rooms', '100000'],
    expected: () => [],
    place: (c, index) => ({ ...c, pieces: inRoom(c.pieces, index) }),
  },
];

interface Observation {
  status?: number;
  bytesReceived: number;
  echoes: { data: Buffer; binary: boolean }[];
  pongs: Buffer[];
  closeCode?: number;
  serverBrokeProtocol?: string;
  timedOut?: boolean;
}

/** Reads what serve sends after the upgrade, with the project's own codec, and answers its pings. */
class ServerReader extends FrameParser {
  constructor(readonly socket: Socket, readonly observed: Observation, readonly midFrame: boolean) {
    super();
  }
  /** The server accepted permessage-deflate with this answer: inflate its echoes. */
  negotiate(extensions: string | undefined): void {
    const params = acceptAnswer(extensions, { clientNoContextTakeover: true, serverNoContextTakeover: false });
    if (params) this.compression = new DeflateCodec(params, false, MAX_PAYLOAD);
  }
  get compressionInUse(): boolean {
    return this.compression !== undefined;
  }
  protected override messageReceived(payload: Buffer, binary: boolean): void {
    this.observed.echoes.push({ data: Buffer.from(payload), binary });
  }
  protected override pingReceived(payload: Buffer): void {
    // A client stuck mid-frame cannot answer (its pong would land inside the frame).
    if (!this.midFrame && this.socket.writable) this.socket.write(encodeFrame(payload, Opcode.pong, true));
  }
  protected override pongReceived(payload: Buffer): void {
    this.observed.pongs.push(Buffer.from(payload));
  }
  protected override closeReceived(code: number): void {
    this.observed.closeCode = code;
    this.socket.end();
  }
  protected override protocolError(_code: number, reason: string): void {
    this.observed.serverBrokeProtocol = reason;
    this.socket.destroy();
  }
}

function run(port: number, fuzzCase: Case): Promise<Observation> {
  return new Promise((resolve) => {
    const observed: Observation = { bytesReceived: 0, echoes: [], pongs: [] };
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    const reader = new ServerReader(socket, observed, fuzzCase.expect.kind === 'cut');
    let head: Buffer | undefined = Buffer.alloc(0);
    const safety = setTimeout(() => {
      observed.timedOut = true;
      socket.destroy();
    }, 15_000);
    socket.on('connect', () => {
      for (const piece of fuzzCase.pieces) socket.write(piece);
    });
    socket.on('data', (chunk: Buffer) => {
      observed.bytesReceived += chunk.length;
      if (!head) return reader.receive(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      observed.status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head.toString('latin1', 0, end))?.[1]);
      const rest = head.subarray(end + 4);
      const extensions = /^Sec-WebSocket-Extensions: (.*)$/im.exec(head.toString('latin1', 0, end))?.[1]?.trim();
      head = undefined;
      if (observed.status !== 101) return void socket.destroy();
      reader.negotiate(extensions);
      if (rest.length > 0) reader.receive(rest);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(safety);
      // With compression the reader inflates after the bytes arrived: its close frame comes last.
      if (!reader.compressionInUse) return resolve(observed);
      const givenUpAt = Date.now() + 5000;
      const settled = () => {
        if (observed.closeCode !== undefined || observed.serverBrokeProtocol || Date.now() > givenUpAt) resolve(observed);
        else setTimeout(settled, 10);
      };
      settled();
    });
  });
}

/** What is wrong with an observation, or undefined when it is what RFC 6455 and ws require. */
function verdict(fuzzCase: Case, observed: Observation, mode: ModeUnderTest): string | undefined {
  const { expect } = fuzzCase;
  const echoes = mode.expected(fuzzCase.echoes);
  if (observed.timedOut) return 'no end within 15 s';
  if (expect.kind === 'status') return observed.status === expect.status ? undefined : `status ${observed.status}, expected ${expect.status}`;
  if (expect.kind === 'silent-close') return observed.bytesReceived === 0 ? undefined : `got ${observed.bytesReceived} bytes, expected none`;
  if (observed.status !== 101) return `upgrade answered ${observed.status}`;
  if (observed.serverBrokeProtocol) return `the server broke the protocol: ${observed.serverBrokeProtocol}`;
  if (observed.echoes.length !== echoes.length) return `${observed.echoes.length} echoes, expected ${echoes.length}`;
  for (const [i, echo] of echoes.entries()) {
    const got = observed.echoes[i]!;
    if (got.binary !== echo.binary || !got.data.equals(echo.data)) return `echo ${i} differs`;
  }
  if (observed.pongs.length !== fuzzCase.pings.length || fuzzCase.pings.some((ping, i) => !ping.equals(observed.pongs[i]!))) {
    return `${observed.pongs.length} pongs, expected ${fuzzCase.pings.length} matching`;
  }
  if (expect.kind === 'cut') return observed.closeCode === undefined ? undefined : `close ${observed.closeCode}, expected a cut`;
  return observed.closeCode === expect.code ? undefined : `close ${observed.closeCode}, expected ${expect.code}`;
}

/**
 * Run every case, CONCURRENCY connections at a time, and list those answered wrongly. `alongside`
 * runs meanwhile, told whether cases are still being run.
 */
async function runAll(port: number, cases: readonly Case[], alongside?: (running: () => boolean) => Promise<void>, mode: ModeUnderTest = ECHO): Promise<string[]> {
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const index = next++;
      const fuzzCase = mode.place(cases[index]!, index);
      const problem = verdict(fuzzCase, await run(port, fuzzCase), mode);
      if (problem) failures.push(`#${index} ${fuzzCase.name}: ${problem}`);
    }
  };
  await Promise.all([...Array.from({ length: CONCURRENCY }, worker), alongside?.(() => next < cases.length)]);
  return failures;
}

/**
 * 20 well-behaved clients echoing in a closed loop, each echo checked (compressing with `compress`;
 * with `answerFor`, what comes back is that answer rather than the message).
 */
function wellBehaved(url: string, compress = false, answerFor: (sent: Buffer) => Buffer = (sent) => sent) {
  const stats = { echoes: 0, mismatched: 0, closedEarly: 0 };
  let running = true;
  const sockets: WebSocket[] = [];
  const ready = Promise.all(
    Array.from({ length: 20 }, (_, i) => new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: compress ? { threshold: 0 } : false });
      sockets.push(ws);
      let expected: Buffer = Buffer.alloc(0);
      let count = 0;
      const send = () => {
        const message = Buffer.from(JSON.stringify({ id: `${i}-${count++}`, body: 'x'.repeat(count % 200) }));
        expected = answerFor(message);
        ws.send(message, { binary: count % 2 === 0 });
      };
      ws.on('message', (data: Buffer) => {
        stats.echoes++;
        if (!data.equals(expected)) stats.mismatched++;
        if (running) send();
      });
      ws.once('open', () => {
        send();
        resolve();
      });
      ws.once('error', reject);
      ws.once('close', () => {
        if (running) stats.closedEarly++;
      });
    })),
  );
  return { stats, sockets, ready, stop: () => (running = false) };
}

async function healthz(httpBase: string): Promise<{ status: string; open: number }> {
  return (await (await fetch(`${httpBase}/healthz`)).json()) as { status: string; open: number };
}

describe('fuzz: wsbench serve against hostile input', () => {
  it(`${CONNECTIONS} connections of malformed and hostile input, seed ${SEED}`, { timeout: 60_000 }, async (t) => {
    t.diagnostic(`seed ${SEED} (${REPLAY})`);
    const cases = generate(prng(SEED), CONNECTIONS);
    const inputs = cases.reduce((total, c) => total + c.inputs, 0);
    assert.ok(inputs >= 10_000, `${inputs} inputs generated; ${REPLAY}`);
    const server = await startServeCli(['--max', '200', '--handshake-timeout', '1s', '--heartbeat', '1s', '--max-payload', `${MAX_PAYLOAD / 1024}kb`]);
    const port = Number(new URL(server.url).port);
    const httpBase = `http://127.0.0.1:${port}`;
    const baseline = (await healthz(httpBase)).open;
    const clients = wellBehaved(server.url);
    try {
      await clients.ready;
      let healthChecks = 0;
      // /healthz answers all along: serve is alive while the fuzz runs.
      const failures = await runAll(port, cases, async (running) => {
        while (running()) {
          assert.equal((await healthz(httpBase)).status, 'ok');
          healthChecks++;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      });
      t.diagnostic(`${inputs} inputs over ${cases.length} connections; ${clients.stats.echoes} echoes meanwhile; ${healthChecks} health checks`);
      assert.deepEqual(failures.slice(0, 20), [], `${failures.length} inputs answered wrongly; ${REPLAY}`);
      assert.equal(server.child.exitCode, null, `serve is still running; ${REPLAY}`);

      // The well-behaved clients carried on, every echo right.
      clients.stop();
      assert.ok(clients.stats.echoes > 0, 'echoes flowed during the fuzz');
      assert.equal(clients.stats.mismatched, 0, `every echo matched; ${REPLAY}`);
      assert.equal(clients.stats.closedEarly, 0, `no well-behaved client was closed; ${REPLAY}`);
      // Every hostile connection gave its slot back: open is the baseline plus the 20.
      await eventually(async () => (await healthz(httpBase)).open === baseline + 20, 10_000, `open back at ${baseline} + 20 (${REPLAY})`);
      await closeAll(clients.sockets);
      await eventually(async () => (await healthz(httpBase)).open === baseline, 10_000, `open back at ${baseline}`);
      // And a full --max of new clients is admitted.
      const admitted = openSockets(await attemptMany(server.url, 200));
      assert.equal(admitted.length, 200, `a full --max admitted afterwards; ${REPLAY}`);
      await closeAll(admitted);
    } finally {
      clients.stop();
      for (const ws of clients.sockets) ws.terminate();
      await stop(server);
    }
  });

  it(`serve --compress: ${COMPRESSED_CONNECTIONS} connections of compressed hostile input, seed ${SEED}`, { timeout: 60_000 }, async (t) => {
    t.diagnostic(`seed ${SEED} (${REPLAY})`);
    const cases = generateCompressed(prng(SEED ^ 0x5a5a), COMPRESSED_CONNECTIONS);
    const server = await startServeCli(['--max', '200', '--heartbeat', '1s', '--max-payload', `${MAX_PAYLOAD / 1024}kb`, '--compress']);
    const port = Number(new URL(server.url).port);
    const httpBase = `http://127.0.0.1:${port}`;
    const clients = wellBehaved(server.url, true);
    try {
      await clients.ready;
      const failures = await runAll(port, cases);
      t.diagnostic(`${cases.length} compressed connections; ${clients.stats.echoes} compressed echoes meanwhile`);
      assert.deepEqual(failures.slice(0, 20), [], `${failures.length} inputs answered wrongly; ${REPLAY}`);
      clients.stop();
      assert.ok(clients.stats.echoes > 0, 'echoes flowed during the fuzz');
      assert.equal(clients.stats.mismatched, 0, `every echo matched; ${REPLAY}`);
      assert.equal(clients.stats.closedEarly, 0, `no well-behaved client was closed; ${REPLAY}`);
      const stats = (await (await fetch(`${httpBase}/healthz`)).json()) as { compressionNegotiated: number };
      // Every upgrade offered it: the 20 clients and every case.
      assert.equal(stats.compressionNegotiated, 20 + cases.length, 'every connection negotiated permessage-deflate');
      await closeAll(clients.sockets);
    } finally {
      clients.stop();
      for (const ws of clients.sockets) ws.terminate();
      await stop(server);
    }
  });
});

describe('fuzz: serve --mode reply and --mode broadcast against the same hostile input', () => {
  for (const mode of OTHER_MODES) {
    for (const compress of [false, true]) {
      const count = compress ? MODE_COMPRESSED_CONNECTIONS : MODE_CONNECTIONS;
      it(`serve --mode ${mode.mode}${compress ? ' --compress' : ''}: ${count} connections, seed ${SEED}`, { timeout: 60_000 }, async (t) => {
        t.diagnostic(`seed ${SEED} (${REPLAY})`);
        const cases = compress ? generateCompressed(prng(SEED ^ 0x5a5a), count) : generate(prng(SEED), count);
        const server = await startServeCli(['--max', '200', '--handshake-timeout', '1s', '--heartbeat', '1s', '--max-payload', `${MAX_PAYLOAD / 1024}kb`, ...mode.serveArgs, ...(compress ? ['--compress'] : [])]);
        const port = Number(new URL(server.url).port);
        const httpBase = `http://127.0.0.1:${port}`;
        // Reply: well-behaved requesters alongside, each answer checked. Broadcast: none (they
        // would hear each other); each case is alone in its room.
        const clients = mode.mode === 'reply' ? wellBehaved(server.url, compress, (sent) => Buffer.from(replyFor(sent).text)) : undefined;
        try {
          await clients?.ready;
          const failures = await runAll(port, cases, undefined, mode);
          t.diagnostic(`${cases.length} connections; ${clients?.stats.echoes ?? 0} answers to well-behaved clients meanwhile`);
          assert.deepEqual(failures.slice(0, 20), [], `${failures.length} inputs answered wrongly; ${REPLAY}`);
          assert.equal(server.child.exitCode, null, `serve is still running; ${REPLAY}`);
          if (clients) {
            clients.stop();
            assert.ok(clients.stats.echoes > 0, 'answers flowed during the fuzz');
            assert.equal(clients.stats.mismatched, 0, `every answer matched; ${REPLAY}`);
            assert.equal(clients.stats.closedEarly, 0, `no well-behaved client was closed; ${REPLAY}`);
            await closeAll(clients.sockets);
          }
          // Every hostile connection gave its slot back.
          await eventually(async () => (await healthz(httpBase)).open === 0, 10_000, `open back at 0 (${REPLAY})`);
        } finally {
          clients?.stop();
          for (const ws of clients?.sockets ?? []) ws.terminate();
          await stop(server);
        }
      });
    }
  }
});
