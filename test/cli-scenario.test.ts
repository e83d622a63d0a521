/**
 * `wsbench blast --scenario` end to end: the real binary against small servers built here with ws
 * on loopback (a JSON-RPC reply server, a chat room broadcast server, a ticker), with exact counts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import type { BlastResult } from '../src/metrics/blast-result.js';
import { freePort, runCliToEnd, startServeCli, stop as stopCli } from './helpers/cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'wsbench-cli-scenario-'));
let fileCount = 0;
function scenarioFile(text: string, suffix = '.yaml'): string {
  const path = join(scratch, `scenario-${++fileCount}${suffix}`);
  writeFileSync(path, text);
  return path;
}
const example = (name: string) => new URL(`../../examples/${name}`, import.meta.url).pathname;

interface Served {
  readonly url: string;
  /** Each connection's upgrade headers and chosen subprotocol, in order of connection. */
  readonly upgrades: Array<{ headers: IncomingHttpHeaders; protocol: string }>;
  /** Every text message received, in order. */
  readonly received: string[];
  close(): Promise<void>;
}

/** A ws server on loopback port 0 that records upgrades and messages; `behave` answers. */
async function server(behave: (ws: WebSocket, text: string) => void, onOpen?: (ws: WebSocket) => void): Promise<Served> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await once(wss, 'listening');
  const served: Served = {
    url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/ws`,
    upgrades: [],
    received: [],
    close: () =>
      new Promise((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => resolve());
      }),
  };
  wss.on('connection', (ws, request) => {
    served.upgrades.push({ headers: request.headers, protocol: ws.protocol });
    ws.on('message', (data) => {
      const text = data.toString();
      served.received.push(text);
      behave(ws, text);
    });
    onOpen?.(ws);
  });
  return served;
}

/**
 * JSON-RPC as `serve --mode reply` answers: the request's id with a result; anything without an id
 * gets an error with id null. `answers(method)` false: that request gets nothing.
 */
function replyServer(options: { answers?: (method: string) => boolean; noticeFirst?: boolean; welcome?: boolean } = {}): Promise<Served> {
  return server(
    (ws, text) => {
      let request: { id?: unknown; method?: string };
      try {
        request = JSON.parse(text) as typeof request;
      } catch {
        return ws.send('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}');
      }
      if (options.answers && !options.answers(String(request.method))) return;
      if (options.noticeFirst) ws.send('{"jsonrpc":"2.0","method":"notice","params":{"text":"busy day"}}');
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: request.id ?? null, result: { method: request.method } }));
    },
    options.welcome ? (ws) => ws.send('{"jsonrpc":"2.0","method":"welcome"}') : undefined,
  );
}

async function blastJson(args: string[]): Promise<{ code: number | null; stderr: string; stdout: string; result: BlastResult }> {
  const out = join(scratch, `result-${++fileCount}.json`);
  const run = await runCliToEnd(['blast', ...args, '--out', out]);
  assert.ok(run.code === 0 || run.code === 1, `exit ${run.code}: ${run.stderr}`);
  return { ...run, result: JSON.parse(readFileSync(out, 'utf8')) as BlastResult };
}

function assertAccounting(result: BlastResult): void {
  const { outcomes } = result;
  assert.equal(outcomes.attempted, outcomes.accepted + outcomes.rejected.total + outcomes.failed.total);
}

describe('wsbench blast --scenario (CLI)', () => {
  it('JSON-RPC with a counted loop: exact counts, replies paired by id, connect headers and placeholders', async () => {
    const served = await replyServer();
    try {
      const file = scenarioFile(`
connect:
  headers: { Authorization: "Bearer file-token", X-Team: core }
  subprotocol: jsonrpc
steps:
  - send: '{"jsonrpc":"2.0","id":{{seq}},"method":"auth","params":{"conn":{{conn}},"worker":{{worker}}}}'
  - expect: { json: { path: id, equals: "{{seq}}" }, timeout: 2s }
  - loop:
      count: 5
      steps:
        - send: '{"jsonrpc":"2.0","id":{{seq}},"method":"ping","params":{"conn":{{conn}},"worker":{{worker}}}}'
        - expect: { json: { path: id, equals: "{{seq}}" }, timeout: 2s }
`);
      const { code, result, stdout } = await blastJson([served.url, '-c', '4', '-d', '30s', '-H', 'x-team: cli', '--scenario', file]);
      assert.equal(code, 0);
      assertAccounting(result);
      assert.equal(result.outcomes.accepted, 4);
      assert.equal(result.endReason, 'completed', 'the run ends when every connection has run its last step');
      assert.deepEqual(
        { sent: result.messages.sent, received: result.messages.received, completed: result.messages.completed, unmatched: result.messages.unmatched, unanswered: result.messages.unanswered, mismatched: result.messages.mismatched },
        { sent: 24, received: 24, completed: 4, unmatched: 0, unanswered: 0, mismatched: 0 },
      );
      // Steps start with the run: every expect's latency is in the run phase.
      assert.equal(result.latency.measures, 'reply');
      assert.equal(result.latency.phases.run.roundTrip.count, 24);
      assert.equal(result.latency.phases.ramp.roundTrip.count, 0);
      assert.equal(result.config.scenario, file);
      assert.equal(result.config.pattern, 'scenario');

      // connect: the file's headers and subprotocol on every upgrade; -H of the same name wins.
      assert.equal(served.upgrades.length, 4);
      for (const upgrade of served.upgrades) {
        assert.equal(upgrade.headers.authorization, 'Bearer file-token');
        assert.equal(upgrade.headers['x-team'], 'cli');
        assert.equal(upgrade.protocol, 'jsonrpc');
      }
      // Placeholders: {{seq}} counts each connection's messages from 1, {{conn}} is unique over the
      // run, {{worker}} is a client process's number.
      const byConn = new Map<number, number[]>();
      const workers = new Set<number>();
      for (const text of served.received) {
        const message = JSON.parse(text) as { id: number; params: { conn: number; worker: number } };
        byConn.set(message.params.conn, [...(byConn.get(message.params.conn) ?? []), message.id]);
        workers.add(message.params.worker);
      }
      assert.deepEqual([...byConn.keys()].sort(), [0, 1, 2, 3]);
      for (const ids of byConn.values()) assert.deepEqual(ids, [1, 2, 3, 4, 5, 6]);
      for (const worker of workers) assert.ok(worker >= 0 && worker < result.plan.workers, `worker ${worker}`);

      assert.match(stdout, /scenario .*scenario-\d+\.yaml \(steps from the start of the run\): 4 connections ran every step/);
      assert.match(stdout, /expects matched 24 {2}unanswered 0 .* unmatched 0/);
    } finally {
      await served.close();
    }
  });

  it('an expect that times out: unanswered, recorded at its wait (>= the timeout), and the connection stops its steps', async () => {
    const served = await replyServer({ answers: (method) => method === 'auth' });
    try {
      const file = scenarioFile(`
steps:
  - send: '{"id":{{seq}},"method":"auth"}'
  - expect: { match: '"result"', timeout: 2s }
  - send: '{"id":{{seq}},"method":"ping"}'
  - expect: { match: '"result"', timeout: 300ms }
  - send: '{"id":{{seq}},"method":"never-sent"}'
`);
      const { code, result, stdout } = await blastJson([served.url, '-c', '3', '-d', '20s', '--scenario', file]);
      assert.equal(code, 0);
      assert.equal(result.endReason, 'completed', 'a connection stopped at a timeout has finished too');
      assert.equal(result.runMs! < 10_000, true);
      assert.deepEqual(
        { sent: result.messages.sent, received: result.messages.received, unanswered: result.messages.unanswered, completed: result.messages.completed, unmatched: result.messages.unmatched },
        { sent: 6, received: 3, unanswered: 3, completed: 0, unmatched: 0 },
      );
      const roundTrip = result.latency.roundTrip;
      assert.equal(roundTrip.count, 6, 'three replies and three timeouts');
      assert.ok(roundTrip.max_us >= 300_000, `max ${roundTrip.max_us} µs`);
      assert.ok(roundTrip.p50_us < 300_000, `p50 ${roundTrip.p50_us} µs`);
      assert.equal(served.received.filter((text) => text.includes('never-sent')).length, 0);
      // The connections stay open after the timeout: nothing dropped.
      assert.equal(result.outcomes.dropped.total, 0);
      assert.match(stdout, /expects matched 3 {2}unanswered 3 /);
    } finally {
      await served.close();
    }
  });

  it('an expect still waiting when the run ends is unanswered, recorded at its age', async () => {
    const served = await replyServer({ answers: () => false });
    try {
      const file = scenarioFile('steps:\n  - send: \'{"id":1}\'\n  - expect: { match: result, timeout: 1m }\n');
      const { code, result } = await blastJson([served.url, '-c', '2', '-d', '500ms', '--scenario', file]);
      assert.equal(code, 1, 'sent and nothing answered: nothing was measured');
      assert.equal(result.endReason, 'duration');
      assert.equal(result.messages.unanswered, 2);
      assert.equal(result.latency.roundTrip.count, 2);
      assert.ok(result.latency.roundTrip.min_us >= 400_000, `min ${result.latency.roundTrip.min_us} µs`);
    } finally {
      await served.close();
    }
  });

  it('messages no expect takes are unmatched: a welcome before the steps, and notices an expect skips', async () => {
    const served = await replyServer({ noticeFirst: true, welcome: true });
    try {
      const file = scenarioFile(`
steps:
  - send: '{"id":{{seq}},"method":"hello"}'
  - expect: { json: { path: id, equals: "{{seq}}" }, timeout: 2s }
  - loop:
      count: 3
      steps:
        - send: '{"id":{{seq}},"method":"ping"}'
        - expect: { json: { path: result.method, equals: ping }, timeout: 2s }
        - sleep: 20ms
`);
      const { code, result } = await blastJson([served.url, '-c', '3', '--scenario', file]);
      assert.equal(code, 0);
      // Per connection: the welcome (it arrives in the ramp, before the steps start) and one notice
      // before each of the 4 replies are unmatched; the 4 replies are taken.
      assert.deepEqual(
        { sent: result.messages.sent, received: result.messages.received, unmatched: result.messages.unmatched, completed: result.messages.completed, unanswered: result.messages.unanswered },
        { sent: 12, received: 12, unmatched: 15, completed: 3, unanswered: 0 },
      );
    } finally {
      await served.close();
    }
  });

  it('steps start with the run; with --ramp-traffic, at each open (their latency in the ramp phase)', async () => {
    const served = await replyServer();
    try {
      const file = scenarioFile(`
steps:
  - loop:
      count: 4
      steps:
        - send: '{"id":{{seq}}}'
        - expect: { json: { path: id, equals: "{{seq}}" }, timeout: 2s }
        - sleep: 100ms
`);
      const afterRamp = (await blastJson([served.url, '-c', '4', '--connect-rate', '4', '--scenario', file])).result;
      assert.equal(afterRamp.latency.phases.ramp.roundTrip.count, 0);
      assert.equal(afterRamp.latency.phases.run.roundTrip.count, 16);
      assert.equal(afterRamp.messages.receivedDuringRamp, 0);
      const fromOpen = (await blastJson([served.url, '-c', '4', '--connect-rate', '4', '--ramp-traffic', '--scenario', file])).result;
      assert.ok(fromOpen.latency.phases.ramp.roundTrip.count > 0, 'the first connections ran steps while the others opened');
      assert.equal(fromOpen.latency.phases.ramp.roundTrip.count + fromOpen.latency.phases.run.roundTrip.count, 16);
      assert.equal(fromOpen.messages.receivedDuringRamp, fromOpen.latency.phases.ramp.roundTrip.count);
    } finally {
      await served.close();
    }
  });

  it('a long loop of sends waits for its socket to drain and yields to other connections: every message arrives, in order', async () => {
    const seqs = new Map<string, number[]>();
    const served = await server((ws, text) => {
      if (text === 'last') return ws.send('done');
      const [conn, seq] = text.split(' ', 2);
      if (seq === '1') {
        // Stop reading for a while: the client's socket fills, and it must wait for the drain.
        const socket = (ws as unknown as { _socket: Socket })._socket;
        socket.pause();
        setTimeout(() => socket.resume(), 500);
      }
      seqs.set(conn!, [...(seqs.get(conn!) ?? []), Number(seq)]);
    });
    try {
      // 3,000 messages of ~1.4 KB per connection, with nothing to wait for in between: megabytes
      // that only the socket's drain and the per-turn step budget keep bounded.
      const file = scenarioFile(`
steps:
  - loop:
      count: 3000
      steps:
        - send: '{{conn}} {{seq}} {{random:1024}}'
  - send: last
  - expect: { match: done, timeout: 10s }
`);
      const { code, result } = await blastJson([served.url, '-c', '2', '-d', '30s', '--scenario', file]);
      assert.equal(code, 0);
      assert.deepEqual(
        { sent: result.messages.sent, received: result.messages.received, completed: result.messages.completed, unmatched: result.messages.unmatched },
        { sent: 2 * 3001, received: 2, completed: 2, unmatched: 0 },
      );
      assert.deepEqual([...seqs.keys()].sort(), ['0', '1']);
      for (const list of seqs.values()) assert.deepEqual(list, Array.from({ length: 3000 }, (_, i) => i + 1));
    } finally {
      await served.close();
    }
  });

  it('examples/jsonrpc.yaml against a reply server: replies paired, nothing unmatched', async () => {
    const served = await replyServer();
    try {
      const { code, result } = await blastJson([served.url, '-c', '3', '-d', '2s', '--scenario', example('jsonrpc.yaml')]);
      assert.equal(code, 0);
      assert.ok(result.messages.received >= 3 * 10, `received ${result.messages.received}`);
      assert.equal(result.messages.unmatched, 0);
      assert.ok(result.messages.unanswered <= 3, 'at most the one reply each connection waited for at the end');
      assert.equal(result.messages.sent, result.messages.received + result.messages.unanswered);
      for (const upgrade of served.upgrades) assert.equal(upgrade.headers.authorization, 'Bearer demo-token');
    } finally {
      await served.close();
    }
  });

  it('examples/jsonrpc.yaml against serve --mode reply: every expect matched by its id', async () => {
    const served = await startServeCli(['--mode', 'reply', '--workers', '1']);
    try {
      const { code, result } = await blastJson([served.url, '-c', '3', '-d', '2s', '--scenario', example('jsonrpc.yaml')]);
      assert.equal(code, 0);
      assertAccounting(result);
      assert.ok(result.messages.received >= 3 * 10, `received ${result.messages.received}`);
      assert.equal(result.messages.unmatched, 0);
      assert.ok(result.messages.unanswered <= 3, 'at most the expect each connection was waiting on at the end');
      assert.equal(result.messages.sent, result.messages.received + result.messages.unanswered);
    } finally {
      await stopCli(served);
    }
  });

  it('examples/chat.yaml against serve --mode broadcast --rooms 4: every connection hears the room', async () => {
    const served = await startServeCli(['--mode', 'broadcast', '--rooms', '4', '--workers', '1']);
    try {
      const { code, result } = await blastJson([served.url, '-c', '4', '-d', '2500ms', '--scenario', example('chat.yaml')]);
      assert.equal(code, 0);
      assertAccounting(result);
      assert.equal(result.outcomes.dropped.total, 0);
      assert.ok(result.messages.received >= 4 * 2, `received ${result.messages.received}`);
      assert.ok(result.messages.unmatched > 0, "the room's messages that arrive during the sleep");
      assert.ok(result.messages.unanswered <= 4);
      assert.equal(result.messages.completed, 0, 'the loop runs until the run ends');
      assert.equal(result.endReason, 'duration');
    } finally {
      await stopCli(served);
    }
  });

  it('examples/ticker.yaml against a ticker: subscribed, then 60 pushes each, and the run ends', async () => {
    const timers = new Set<NodeJS.Timeout>();
    const served = await server((ws, text) => {
      if (!text.includes('"subscribe"')) return;
      ws.send('{"type":"subscribed","channel":"ticker"}');
      const timer = setInterval(() => {
        if (ws.readyState !== ws.OPEN) return clearInterval(timer);
        ws.send(JSON.stringify({ type: 'tick', symbol: 'BTC-USD', price: 60_000 + Math.random() }));
      }, 10);
      timers.add(timer);
    });
    try {
      const { code, result } = await blastJson([served.url, '-c', '3', '-d', '20s', '--scenario', example('ticker.yaml')]);
      assert.equal(code, 0);
      assert.equal(result.endReason, 'completed');
      assert.equal(result.messages.completed, 3);
      assert.equal(result.messages.sent, 3);
      assert.equal(result.messages.received, 3 * 61);
      assert.equal(result.messages.unanswered, 0);
    } finally {
      for (const timer of timers) clearInterval(timer);
      await served.close();
    }
  });

  it('on: rules answer every ping at any point of the steps, counted apart: never unmatched, never taken by an expect', async () => {
    // Engine.IO's heartbeat: the server sends "2" every 20 ms from the open (before the steps start,
    // while an expect waits, after the last step) and counts the "3"s; requests get replies late.
    const pings = { sent: 0, pongs: 0 };
    const timers = new Set<NodeJS.Timeout>();
    const served = await server(
      (ws, text) => {
        if (text === '3') return void pings.pongs++;
        setTimeout(() => ws.readyState === ws.OPEN && ws.send(`re:${text}`), 60);
      },
      (ws) => {
        const timer = setInterval(() => {
          if (ws.readyState !== ws.OPEN) return clearInterval(timer);
          pings.sent++;
          ws.send('2');
        }, 20);
        timers.add(timer);
      },
    );
    try {
      const file = scenarioFile(`
on:
  - equals: "2"
    send: "3"
steps:
  - loop:
      count: 4
      steps:
        - send: 'q{{seq}}'
        - expect: { equals: 're:q{{seq}}', timeout: 2s }
  - loop:
      steps:
        - sleep: 100ms
`);
      const { code, result } = await blastJson([served.url, '-c', '3', '-d', '1500ms', '--scenario', file]);
      assert.equal(code, 0);
      const m = result.messages;
      assert.deepEqual({ sent: m.sent, received: m.received, unmatched: m.unmatched, completed: m.completed, unanswered: m.unanswered }, { sent: 12, received: 12, unmatched: 0, completed: 0, unanswered: 0 });
      // Every ping taken was answered, every answer reached the server, and pings were answered
      // through the sleeps too (the 4 round trips of 60 ms take ~0.25 s of the 1.5 s).
      assert.equal(m.onSent, m.onMatched);
      assert.equal(pings.pongs, m.onSent);
      assert.ok(m.onMatched! > 3 * 40, `pings taken ${m.onMatched}`);
      assert.ok(m.onMatched! <= pings.sent);
      assert.equal(served.received.filter((text) => text !== '3').length, 12);
    } finally {
      for (const timer of timers) clearInterval(timer);
      await served.close();
    }
  });

  it('examples/stomp-heartbeat.yaml against a STOMP server: heart-beats both ways, every message heard back', async () => {
    const beats = { fromClient: 0 };
    const timers = new Set<NodeJS.Timeout>();
    const served = await server((ws, text) => {
      if (text === '\n') return void beats.fromClient++;
      if (text.startsWith('CONNECT\n')) {
        ws.send('CONNECTED\nversion:1.2\nheart-beat:100,100\n\n\0');
        const timer = setInterval(() => (ws.readyState === ws.OPEN ? ws.send('\n') : clearInterval(timer)), 50);
        timers.add(timer);
      } else if (text.startsWith('SEND\n')) {
        const body = text.slice(text.indexOf('\n\n') + 2, -1);
        ws.send(`MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/topic/x\n\n${body}\0`);
      }
    });
    try {
      // The example as written, its timers made short enough for a test.
      const file = scenarioFile(readFileSync(example('stomp-heartbeat.yaml'), 'utf8').replace('every: 10s', 'every: 100ms').replace('sleep: 1s', 'sleep: 100ms'));
      const { code, result } = await blastJson([served.url, '-c', '2', '-d', '1500ms', '--scenario', file]);
      assert.equal(code, 0);
      const m = result.messages;
      assert.equal(m.unmatched, 0);
      assert.equal(m.unanswered, 0);
      assert.ok(m.received >= 2 * 5, `received ${m.received}`);
      assert.equal(served.upgrades[0]!.protocol, 'v12.stomp');
      assert.equal(beats.fromClient, m.onSent);
      assert.ok(m.onSent! >= 2 * 8, `heart-beats sent ${m.onSent}`);
      assert.ok(m.onMatched! >= 2 * 15, `heart-beats taken ${m.onMatched}`);
    } finally {
      for (const timer of timers) clearInterval(timer);
      await served.close();
    }
  });

  it('examples/phoenix-heartbeat.yaml against a Phoenix-like server that closes sockets without heartbeats', async () => {
    const seen = { heartbeats: 0, closedForSilence: 0 };
    const timers = new Set<NodeJS.Timeout>();
    const served = await server(
      (ws, text) => {
        const message = JSON.parse(text) as { topic: string; event: string; ref: string; payload: unknown };
        if (message.topic === 'phoenix' && message.event === 'heartbeat') seen.heartbeats++;
        (ws as WebSocket & { lastHeard?: number }).lastHeard = Date.now();
        ws.send(JSON.stringify({ topic: message.topic, event: 'phx_reply', ref: message.ref, payload: { status: 'ok', response: {} } }));
      },
      (ws) => {
        const socket = ws as WebSocket & { lastHeard?: number };
        socket.lastHeard = Date.now();
        const timer = setInterval(() => {
          if (ws.readyState !== ws.OPEN) return clearInterval(timer);
          if (Date.now() - socket.lastHeard! > 400) {
            seen.closedForSilence++;
            ws.close(1000, 'heartbeat timeout');
          }
        }, 50);
        timers.add(timer);
      },
    );
    try {
      // Heartbeats every 150 ms, pushes every 1 s: only the heartbeats keep the socket open.
      const file = scenarioFile(readFileSync(example('phoenix-heartbeat.yaml'), 'utf8').replace('every: 30s', 'every: 150ms'));
      const { code, result } = await blastJson([served.url, '-c', '2', '-d', '2500ms', '--scenario', file]);
      assert.equal(code, 0);
      assert.equal(seen.closedForSilence, 0);
      assert.equal(result.outcomes.dropped.total, 0);
      const m = result.messages;
      assert.equal(m.unmatched, 0);
      assert.equal(seen.heartbeats, m.onSent);
      assert.equal(m.onMatched, m.onSent, 'every heartbeat reply taken by its rule');
      assert.ok(m.received >= 2 * 3, `join and push replies ${m.received}`);
    } finally {
      for (const timer of timers) clearInterval(timer);
      await served.close();
    }
  });

  it('a bad scenario file or a conflicting option: exit 2, one line naming the file and the step, before any connection', async () => {
    const port = await freePort();
    const url = `ws://127.0.0.1:${port}/ws`;
    const timeout = scenarioFile('steps:\n  - send: hi\n  - loop:\n      count: 2\n      steps:\n        - expect: { match: x, timeout: 2 sec }\n');
    const endless = scenarioFile(JSON.stringify({ steps: [{ loop: { steps: [{ send: 'x' }] } }] }), '.json');
    const fine = scenarioFile('steps:\n  - send: hi\n');
    const missing = join(scratch, 'missing.yaml');
    for (const [args, pattern] of [
      [['--scenario', timeout], new RegExp(`^wsbench: --scenario ${timeout} steps\\[1\\]\\.loop\\.steps\\[0\\]\\.expect\\.timeout: "2 sec" is not valid; expected a duration`)],
      [['--scenario', endless], new RegExp(`^wsbench: --scenario ${endless} steps\\[0\\]\\.loop\\.steps: \\[\\{"send":"x"\\}\\] is not valid; a loop without a count`)],
      [['--scenario', missing], new RegExp(`^wsbench: --scenario: "${missing}" is not valid; expected a readable file \\(ENOENT\\)`)],
      [['--scenario', fine, '--message', 'x'], /^wsbench: --message: "x" is not valid; it cannot be combined with --scenario/],
      [['--scenario', fine, '--messages', '3'], /^wsbench: --messages: "3" is not valid; it cannot be combined with --scenario/],
      [['--scenario', fine, '-p', '4'], /^wsbench: -p, --pipeline: "4" is not valid; it cannot be combined with --scenario/],
    ] as const) {
      const run = await runCliToEnd(['blast', url, ...args, '--no-save']);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, pattern);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      assert.equal(run.stdout, '');
    }
  });
});
