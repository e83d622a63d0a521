/**
 * blast beyond echo: templates, request/response by id, subscribe and publish, fire-and-forget and
 * flood. The units first; then the real `wsbench` binary against small servers built here with the
 * ws package, each counting what it saw, so blast's counts are checked against an independent tally.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { WebSocket } from 'ws';
import { ConfigError } from '../src/config/errors.js';
import { resolveBlastConfig } from '../src/config/blast-config.js';
import { compileIdExtractor } from '../src/message/reply-id.js';
import { findTimestampUs, MessageTemplate, monotonicUs } from '../src/message/template.js';
import { encodeFrame, frameHeaderLength, Opcode, writeFrameHeader } from '../src/protocol/frame-codec.js';
import type { BlastResult } from '../src/metrics/blast-result.js';
import { evaluate } from '../src/gate/evaluate.js';
import { runCliToEnd, startServeCli, stop } from './helpers/cli.js';
import { wsServerWith, type TestServer } from './helpers/servers.js';

const scratch = mkdtempSync(join(tmpdir(), 'wsbench-patterns-'));
let files = 0;

async function blastJson(url: string, args: string[]): Promise<{ code: number | null; result: BlastResult; stderr: string; stdout: string }> {
  const out = join(scratch, `result-${++files}.json`);
  const run = await runCliToEnd(['blast', url, '--quiet', '--out', out, ...args], { timeoutMs: 60_000 });
  assert.equal(run.stderr.includes('    at '), false, `no stack trace: ${run.stderr}`);
  const result = JSON.parse(readFileSync(out, 'utf8')) as BlastResult;
  const { outcomes } = result;
  assert.equal(outcomes.attempted, outcomes.accepted + outcomes.rejected.total + outcomes.failed.total, 'attempted = accepted + rejected + failed');
  return { code: run.code, result, stderr: run.stderr, stdout: run.stdout };
}

async function withServer<S extends TestServer, T>(server: S, body: (server: S) => Promise<T>): Promise<T> {
  try {
    return await body(server);
  } finally {
    await server.close();
  }
}

describe('message templates', () => {
  it('renders every placeholder, per connection and per message', () => {
    const template = new MessageTemplate('{"seq":{{seq}},"conn":{{conn}},"w":{{worker}},"t":{{now_us}},"u":"{{uuid}}","r":"{{random:12}}"}', '--message');
    assert.equal(template.constant, undefined);
    assert.equal(template.carriesTimestamp, true);
    assert.equal(template.timestampAnchor, ',"t":');
    const one = JSON.parse(template.render({ seq: 7, conn: 41, worker: 3 }).toString());
    const two = JSON.parse(template.render({ seq: 8, conn: 41, worker: 3 }).toString());
    assert.deepEqual([one.seq, one.conn, one.w, two.seq], [7, 41, 3, 8]);
    assert.match(one.u, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.notEqual(one.u, two.u);
    assert.equal(Buffer.from(one.r, 'base64').length, 12);
    assert.notEqual(one.r, two.r);
    assert.ok(two.t > one.t, 'now_us increases within a process');
    const hostNowUs = Number(process.hrtime.bigint() / 1000n);
    assert.ok(Math.abs(hostNowUs - two.t) < 1_000_000, `now_us is the host's monotonic clock: ${two.t} vs ${hostNowUs}`);
  });

  it('a template without placeholders is built once', () => {
    const template = new MessageTemplate('hello', '--message');
    assert.equal(template.render({ seq: 1, conn: 0, worker: 0 }), template.render({ seq: 2, conn: 5, worker: 1 }));
    assert.equal(template.carriesTimestamp, false);
  });

  it('refuses unknown placeholders and bad sizes, naming the option', () => {
    assert.throws(() => new MessageTemplate('{{nope}}', '--message'), (e: Error) => e instanceof ConfigError && /^--message: "\{\{nope\}\}" is not valid; expected one of the placeholders/.test(e.message));
    assert.throws(() => new MessageTemplate('{{random:0}}', '--subscribe'), /^ConfigError: --subscribe: "\{\{random:0\}\}" is not valid; expected \{\{random:N\}\} with N from 1 to 65536/);
    assert.throws(() => new MessageTemplate('{{random}}', '--message'), /random:N/);
    assert.throws(() => new MessageTemplate('{{seq:3}}', '--message'), /placeholders/);
    assert.throws(() => new MessageTemplate('a {{ uuid x}} b', '--message'), /placeholders/);
  });

  it('finds the timestamp after its anchor, also inside a wrapper', () => {
    const template = new MessageTemplate('{"ts":{{now_us}},"x":1}', '--message');
    const sent = template.render({ seq: 1, conn: 0, worker: 0 });
    const ts = JSON.parse(sent.toString()).ts as number;
    assert.equal(findTimestampUs(sent, template.timestampAnchor!), ts);
    assert.equal(findTimestampUs(Buffer.from(`{"room":2,"data":${sent}}`), template.timestampAnchor!), ts);
    assert.equal(findTimestampUs(Buffer.from('{"other":1}'), template.timestampAnchor!), undefined);
    const now = monotonicUs();
    assert.equal(findTimestampUs(Buffer.from(`${now} rest`), ''), now, 'a template that opens with {{now_us}}');
  });
});

describe('flood framing', () => {
  it('writes messages in place as render would: every number width, the timestamp given', () => {
    const template = new MessageTemplate('{"ts":{{now_us}},"c":{{conn}},"s":{{seq}},"w":{{worker}},"é":"{{uuid}}"}', '--message');
    const into = Buffer.alloc(template.maxBytes + 3);
    for (const [seq, conn, nowUs] of [[1, 0, 0], [10, 9, 99_999], [2 ** 31 - 1, 2 ** 31, 123_456_789_012], [Number.MAX_SAFE_INTEGER, 100_000_000, 1e15 + 7]]) {
      const length = template.writeInto(into, 3, { seq: seq!, conn: conn!, worker: 4 }, nowUs!);
      assert.ok(length <= template.maxBytes);
      const message = JSON.parse(into.toString('utf8', 3, 3 + length));
      assert.deepEqual([message.ts, message.c, message.s, message.w], [nowUs, conn, seq, 4]);
      assert.equal(template.timestampOf(into.subarray(3, 3 + length)), nowUs, 'read where it must be');
    }
    assert.equal(template.timestampOffset, 6);
    assert.equal(template.timestampOf(Buffer.from('{"wrapped":{"ts":42,"c":1}}')), 42, 'found by its anchor when moved');
    assert.equal(template.timestampOf(Buffer.from('{"other":1}')), undefined);
  });

  it('frames and masks in place what encodeFrame would send, with its own key per frame', () => {
    for (const length of [0, 5, 125, 126, 65_535, 65_536]) {
      const payload = Buffer.alloc(length, 'p');
      const header = frameHeaderLength(length, true);
      const frame = Buffer.alloc(header + length);
      payload.copy(frame, header);
      writeFrameHeader(frame, 0, length, Opcode.text, true);
      const reference = encodeFrame(payload, Opcode.text, true);
      assert.equal(frame.length, reference.length);
      assert.deepEqual(frame.subarray(0, header - 4), reference.subarray(0, header - 4), 'same header');
      const key = frame.subarray(header - 4, header);
      const unmasked = Buffer.from(frame.subarray(header).map((byte, i) => byte ^ key[i & 3]!));
      assert.deepEqual(unmasked, payload);
    }
    const keys = [0, 1].map(() => {
      const frame = Buffer.alloc(6 + 4);
      writeFrameHeader(frame, 0, 4, Opcode.binary, true);
      return frame.readUInt32BE(2);
    });
    assert.notEqual(keys[0], keys[1], 'a fresh masking key per frame');
  });
});

describe('--reply-id', () => {
  it('a JSON path reads ids as JSON text; a regex reads its group', () => {
    const byPath = compileIdExtractor('result.id');
    assert.equal(byPath(Buffer.from('{"result":{"id":12}}')), '12');
    assert.equal(byPath(Buffer.from('{"result":{"id":"12"}}')), '"12"');
    assert.equal(byPath(Buffer.from('{"result":{}}')), undefined);
    assert.equal(byPath(Buffer.from('not json')), undefined);
    const byRegex = compileIdExtractor('/id=(\\d+)/');
    assert.equal(byRegex(Buffer.from('ok id=77;')), '77');
    assert.equal(byRegex(Buffer.from('ok')), undefined);
  });

  it('refuses a regex without exactly one group, and a request with no id', () => {
    assert.throws(() => compileIdExtractor('/id=\\d+/'), /--reply-id: .* exactly one capturing group \(it has 0\)/);
    assert.throws(() => compileIdExtractor('/(a)(b)/'), /exactly one capturing group \(it has 2\)/);
    assert.throws(() => compileIdExtractor('/(/'), /valid regular expression/);
    assert.throws(() => resolveBlastConfig({ replyId: 'id' }), /--reply-id: "id" is not valid; expected --message too/);
    assert.throws(() => resolveBlastConfig({ replyId: 'id', message: '{"x":1}' }), /expected it to find an id in the --message request/);
    assert.throws(() => resolveBlastConfig({ replyId: 'id', message: '{"id":1}', pipeline: 4 }), /each request needs an id of its own/);
    assert.throws(() => resolveBlastConfig({ replyId: 'id', message: '{"id":{{seq}}}', flood: true }), /--flood: true is not valid; it cannot be combined with --reply-id/);
    assert.throws(() => resolveBlastConfig({ publishers: 5, connections: 4 }), /--publishers: 5 is not valid; expected at most -c \(4\)/);
    assert.throws(() => resolveBlastConfig({ expectFanout: 3 }), /--expect-fanout: 3 is not valid; it is for --subscribe or --publishers/);
  });
});

describe('blast patterns end to end (the wsbench binary against ws servers)', { timeout: 120_000 }, () => {
  it('request/response: out-of-order replies pair by id; stray replies are unmatched', async () => {
    let requests = 0;
    let strays = 0;
    // Answers requests in pairs, the second first, and after every tenth request sends a reply to no request.
    const held = new Map<WebSocket, Buffer>();
    const server = await wsServerWith(() => {}, (ws, data) => {
      requests++;
      const request = JSON.parse(data.toString()) as { id: number; method: string };
      const reply = Buffer.from(JSON.stringify({ id: request.id, result: request.method }));
      const first = held.get(ws);
      if (first === undefined) held.set(ws, reply);
      else {
        held.delete(ws);
        ws.send(reply);
        ws.send(first);
      }
      if (requests % 10 === 0) {
        strays++;
        ws.send(JSON.stringify({ id: -1, result: 'stray' }));
      }
    });
    await withServer(server, async () => {
      const { code, result } = await blastJson(server.url, ['-c', '10', '-p', '2', '--messages', '20', '-d', '20s', '--message', '{"id":{{seq}},"method":"m{{conn}}"}', '--reply-id', 'id']);
      assert.equal(code, 0);
      assert.equal(result.endReason, 'messages');
      assert.equal(result.latency.measures, 'reply');
      assert.equal(result.messages.sent, 200);
      assert.equal(result.messages.received, 200);
      assert.equal(result.messages.unanswered, 0);
      assert.equal(result.messages.unmatched, strays);
      assert.equal(requests, 200);
      assert.equal(result.latency.roundTrip.count, 200);
      const gate = evaluate(result, ['reply:p(99)<5s', 'unmatched:count==20', 'unanswered:count==0', 'delivery:p(99)<1s']);
      assert.deepEqual(gate.map((g) => g.ok), [true, true, true, false]);
      assert.equal(gate[3]!.note, 'no samples: this run measured reply latency');
    });
  });

  it('request/response, paced: a request the server never answers is unanswered, at least its age', async () => {
    const server = await wsServerWith(() => {}, (ws, data) => {
      const request = JSON.parse(data.toString()) as { id: number };
      if (request.id % 2 === 1) ws.send(JSON.stringify({ id: request.id }));
    });
    await withServer(server, async () => {
      const { result } = await blastJson(server.url, ['-c', '2', '--rate', '10', '-d', '2s', '--message', '{"id":{{seq}}}', '--reply-id', 'id']);
      const { sent, received, unanswered } = result.messages;
      assert.ok(sent >= 30, `sent ${sent}`);
      assert.equal(sent, received + unanswered);
      assert.ok(Math.abs(received - unanswered) <= 2, `half answered: ${received} of ${sent}`);
      assert.equal(result.latency.coordinatedOmissionCorrected, true);
      assert.ok(result.latency.roundTrip.max_us >= 1_000_000, `the oldest unanswered request is recorded at its age: max ${result.latency.roundTrip.max_us} µs`);
    });
  });

  it('subscribe and publish: every delivery counted and timed; fan-out as expected', async () => {
    let subscribes = 0;
    let relayed = 0;
    const server = await wsServerWith(() => {}, (from, data) => {
      if (data.toString().startsWith('{"subscribe"')) return void subscribes++;
      for (const ws of server.clients) if (ws !== from) {
        relayed++;
        ws.send(data);
      }
    });
    await withServer(server, async () => {
      const { code, result, stdout } = await blastJson(server.url, ['-c', '20', '--publishers', '2', '--rate', '20', '-d', '2s', '--subscribe', '{"subscribe":"ticks","conn":{{conn}}}']);
      assert.equal(code, 0);
      assert.equal(result.latency.measures, 'delivery');
      assert.equal(subscribes, 20);
      assert.equal(result.messages.subscribed, 20);
      const fanout = result.fanout!;
      assert.ok(fanout.published >= 60, `published ${fanout.published}`);
      assert.equal(fanout.expected, 19);
      assert.equal(result.messages.delivered, relayed, 'every relayed message was delivered and counted once');
      assert.equal(fanout.delivered, fanout.published * 19);
      assert.equal(fanout.missed, 0);
      assert.equal(fanout.observed, 19);
      assert.equal(result.messages.duplicates, 0);
      assert.equal(result.latency.roundTrip.count, fanout.delivered);
      assert.ok(result.latency.roundTrip.p50_us > 0 && result.latency.roundTrip.p50_us < 1_000_000);
      assert.match(stdout, /delivery: from the publisher's \{\{now_us\}\} to arrival, on this host's monotonic clock/);
      assert.match(stdout, /fan-out: [\d,]+ published, [\d,]+ delivered: 19 per message, expected 19; missed 0/);
      const gate = evaluate(result, ['delivery:p(99)<2s', 'fanout:ratio>=1', 'fanout:count==19', 'duplicates:count==0', 'rtt:p(99)<1s']);
      assert.deepEqual(gate.map((g) => g.ok), [true, true, true, true, false]);
    });
  });

  it('subscribers that miss messages, and duplicates, are counted', async () => {
    let relayed = 0;
    let doubled = 0;
    let dropped = 0;
    let n = 0;
    const server = await wsServerWith(() => {}, (from, data) => {
      let i = 0;
      n++;
      for (const ws of server.clients) {
        if (ws === from) continue;
        i++;
        if (i === 1 && n % 2 === 0) {
          dropped++;
          continue;
        }
        relayed++;
        ws.send(data);
        if (i === 2 && n % 3 === 0) {
          doubled++;
          ws.send(data);
        }
      }
    });
    await withServer(server, async () => {
      const { result } = await blastJson(server.url, ['-c', '6', '--publishers', '1', '--rate', '20', '-d', '2s']);
      const fanout = result.fanout!;
      assert.ok(dropped > 5 && doubled > 3, `dropped ${dropped}, doubled ${doubled}`);
      assert.equal(fanout.expected, 5);
      assert.equal(fanout.delivered, relayed);
      assert.equal(result.messages.duplicates, doubled);
      assert.equal(fanout.missed, dropped);
      assert.equal(fanout.missed, fanout.expected * fanout.published - fanout.delivered);
      assert.ok(fanout.observed < 5);
    });
  });

  it('echo of a --message without placeholders: its echoes match; the same length of other bytes does not', async () => {
    const echo = await wsServerWith(() => {}, (ws, data, binary) => ws.send(data, { binary }));
    await withServer(echo, async () => {
      const { code, result } = await blastJson(echo.url, ['-c', '2', '--messages', '50', '-d', '10s', '--message', 'hello']);
      assert.equal(code, 0);
      assert.equal(result.messages.received, 100);
      assert.equal(result.messages.bytesSent, 500);
      assert.equal(result.messages.mismatched, 0);
      assert.equal(result.latency.roundTrip.count, 100);
    });
    // Before each echo the server pushes 'HELLO': as long as the message, not its bytes. The push is
    // counted as mismatched and never timed; the echo after it is the round trip.
    const pushing = await wsServerWith(() => {}, (ws, data, binary) => {
      ws.send('HELLO');
      ws.send(data, { binary });
    });
    await withServer(pushing, async () => {
      const { code, result } = await blastJson(pushing.url, ['-c', '1', '--messages', '40', '-d', '10s', '--message', 'hello']);
      assert.equal(code, 0);
      assert.equal(result.messages.received, 40);
      assert.equal(result.messages.mismatched, 40);
      assert.equal(result.latency.roundTrip.count, 40);
    });
    // A server that only pushes: nothing matched, nothing was timed, exit 1.
    const onlyPushes = await wsServerWith(() => {}, (ws) => ws.send('HELLO'));
    await withServer(onlyPushes, async () => {
      const { code, result } = await blastJson(onlyPushes.url, ['-c', '2', '-d', '1s', '--message', 'hello']);
      assert.equal(code, 1);
      assert.equal(result.messages.received, 0);
      assert.equal(result.messages.mismatched, 2);
      // Only the two unanswered messages, at their age when the run ended.
      assert.equal(result.latency.roundTrip.count, 2);
    });
  });

  it('fire-and-forget: counts and bytes both ways, no latency; the server saw every message', async () => {
    let seen = 0;
    let seenBytes = 0;
    const server = await wsServerWith(() => {}, (ws, data) => {
      seen++;
      seenBytes += data.length;
      if (seen % 2 === 0) ws.send('ack');
    });
    await withServer(server, async () => {
      const { code, result, stdout } = await blastJson(server.url, ['-c', '5', '--fire-and-forget', '--rate', '50', '--messages', '20', '-d', '10s', '--message', 'event {{conn}}:{{seq}}']);
      assert.equal(code, 0);
      assert.equal(result.endReason, 'messages');
      assert.equal(result.latency.measures, 'none');
      assert.equal(result.messages.sent, 100);
      assert.equal(seen, 100);
      assert.equal(result.messages.bytesSent, seenBytes);
      assert.ok(result.messages.received >= 40 && result.messages.received <= 50, `acks ${result.messages.received}`);
      assert.equal(result.messages.unanswered, 0);
      assert.equal(result.latency.roundTrip.count, 0);
      assert.match(stdout, /fire-and-forget measures no message latency/);
    });
  });

  it('flood: keeps sockets full, and every echo is timed from the timestamp it carries', async () => {
    let seen = 0;
    const server = await wsServerWith(() => {}, (ws, data) => {
      seen++;
      ws.send(data);
    });
    await withServer(server, async () => {
      const { code, result } = await blastJson(server.url, ['-c', '4', '--flood', '-d', '1s', '--size', '100']);
      assert.equal(code, 0);
      assert.equal(result.latency.measures, 'echo');
      assert.ok(result.messages.sent > 1000, `sent ${result.messages.sent}`);
      assert.ok(seen >= result.messages.received);
      assert.equal(result.messages.unanswered, result.messages.sent - result.messages.received);
      assert.equal(result.latency.roundTrip.count, result.messages.received);
      // Padded so that no message is longer than --size, whatever its numbers' digits: up to 48 bytes shorter.
      const meanBytes = result.messages.bytesSent / result.messages.sent;
      assert.ok(meanBytes <= 100 && meanBytes >= 52, `the message is padded to at most --size: ${meanBytes} B`);
    });
  });

  it("against serve's matching modes: reply pairs by id; broadcast over two workers delivers to everyone else", async () => {
    const reply = await startServeCli(['--mode', 'reply', '--workers', '1']);
    try {
      const { code, result } = await blastJson(reply.url, ['-c', '20', '-p', '4', '--messages', '50', '-d', '30s', '--message', '{"jsonrpc":"2.0","id":{{seq}},"method":"add","params":[{{conn}},1]}', '--reply-id', 'id']);
      assert.equal(code, 0);
      assert.equal(result.endReason, 'messages');
      assert.equal(result.messages.sent, 1000);
      assert.equal(result.messages.received, 1000);
      assert.equal(result.messages.unmatched, 0);
      assert.equal(result.latency.roundTrip.count, 1000);
    } finally {
      await stop(reply);
    }
    const broadcast = await startServeCli(['--mode', 'broadcast', '--workers', '2']);
    try {
      const { code, result } = await blastJson(broadcast.url, ['-c', '30', '--publishers', '3', '--rate', '10', '-d', '2s', '--workers', '2']);
      assert.equal(code, 0);
      const fanout = result.fanout!;
      assert.equal(fanout.expected, 29);
      assert.ok(fanout.published >= 45, `published ${fanout.published}`);
      assert.equal(fanout.delivered, fanout.published * 29, 'every message reached every other connection, across both serve workers');
      assert.equal(result.messages.duplicates, 0);
      assert.equal(result.latency.roundTrip.count, fanout.delivered);
    } finally {
      await stop(broadcast);
    }
    const echo = await startServeCli(['--workers', '1']);
    try {
      const { code, result } = await blastJson(echo.url, ['-c', '10', '--fire-and-forget', '--rate', '20', '--messages', '10', '-d', '10s']);
      assert.equal(code, 0);
      assert.equal(result.messages.sent, 100);
      assert.equal(result.messages.received, 100, 'serve echoed every message');
    } finally {
      await stop(echo);
    }
  });

  it('bad pattern options: one line, exit 2', async () => {
    const file = join(scratch, 'message.txt');
    writeFileSync(file, '{"id":{{seq}}}');
    const cases: [string[], RegExp][] = [
      [['--reply-id', 'id', '--message', '@' + file, '--subscribe', 'x'], /^wsbench: --subscribe: true is not valid; it cannot be combined with --reply-id: choose one traffic pattern\n$/],
      [['--message', '{{when}}'], /^wsbench: --message: "\{\{when\}\}" is not valid; expected one of the placeholders \{\{seq\}\}, \{\{conn\}\}/],
      [['--message', '@/nonexistent/file'], /^wsbench: --message: "@\/nonexistent\/file" is not valid; expected text or @file with a readable file \(ENOENT\)\n$/],
      [['--flood', '--message', 'no timestamp'], /^wsbench: --message: "no timestamp" is not valid; with --flood the message must carry \{\{now_us\}\}/],
      [['--publishers', '2', '-p', '4'], /^wsbench: -p, --pipeline: "4" is not valid; pipelining is for echo and --reply-id, not --subscribe and --publishers\n$/],
    ];
    for (const [args, expected] of cases) {
      const run = await runCliToEnd(['blast', 'ws://127.0.0.1:9/ws', ...args]);
      assert.equal(run.code, 2, args.join(' '));
      assert.match(run.stderr, expected);
    }
  });
});
