/**
 * `wsbench blast --data FILE` end to end: the real binary against a ws server on loopback that
 * records each connection's URL, headers and messages, so that every placeholder site is checked by
 * what the server got; then shards, wrap-around, --lifetime, the refusals (exit 2, one line naming
 * file, line and field) and what the result file carries (never a row's value).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer } from 'ws';
import { DataSet } from '../src/data/data-file.js';
import { ConfigError } from '../src/config/errors.js';
import { MessageTemplate } from '../src/message/template.js';
import type { BlastResult } from '../src/metrics/blast-result.js';
import { runCliToEnd } from './helpers/cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'wsbench-blast-data-'));
let fileCount = 0;
function file(text: string, extension = '.csv'): string {
  const path = join(scratch, `data-${++fileCount}${extension}`);
  writeFileSync(path, text);
  return path;
}

interface Connection {
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly messages: string[];
  lastRowSent?: string;
  matchedAfter?: string;
}

/**
 * A ws server on loopback port 0 that records each connection and echoes, except "drop …", which
 * it echoes and then closes (1001), and (for the scenario) "rows please": it answers with every row's token, 30 ms apart, and records which it had sent
 * last when the client says "matched" (so an expect must have waited for its own row's token).
 */
async function recordingServer(): Promise<{ url: string; connections: Connection[]; close(): Promise<void> }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await once(wss, 'listening');
  const connections: Connection[] = [];
  wss.on('connection', (ws, request) => {
    const connection: Connection = { url: request.url!, headers: request.headers, messages: [] };
    connections.push(connection);
    ws.on('message', (data, binary) => {
      const text = data.toString();
      connection.messages.push(text);
      if (text === 'matched') connection.matchedAfter = connection.lastRowSent;
      else if (text.startsWith('drop ')) {
        ws.send(data, { binary });
        ws.close(1001);
      }
      else if (text === 'rows please') {
        USERS.forEach((user, index) =>
          setTimeout(() => {
            connection.lastRowSent = `row:${user.token};`;
            if (ws.readyState === ws.OPEN) ws.send(connection.lastRowSent);
          }, 30 * (index + 1)),
        );
      } else ws.send(data, { binary });
    });
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`,
    connections,
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => wss.close(resolve));
    },
  };
}

const USERS = [
  { user: 'ann', token: 'tok-1', room: 'lobby' },
  { user: 'bob, jr', token: 'tok-2', room: 'a b/c&d' },
  { user: 'cy "the" third', token: 'tok-3', room: 'ü' },
  { user: 'dee', token: 'tok-4', room: 'r4' },
];
/** USERS as RFC 4180 CSV: quoted fields with a comma and doubled quotes, CRLF line ends. */
const USERS_CSV = 'user,token,room\r\n' + USERS.map((u) => [u.user, u.token, u.room].map((v) => (/[",]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v)).join(',')).join('\r\n') + '\r\n';
const USERS_JSONL = USERS.map((u) => JSON.stringify({ ...u, age: 30, admin: false, extra: { ignored: true } })).join('\n') + '\n';

function readResult(path: string): BlastResult {
  return JSON.parse(readFileSync(path, 'utf8')) as BlastResult;
}

describe('blast --data: every placeholder site', () => {
  let server: Awaited<ReturnType<typeof recordingServer>>;
  before(async () => (server = await recordingServer()));
  after(() => server.close());

  it('renders URL path and query (percent-encoded), -H values and --message per connection, and the result keeps no value', async () => {
    server.connections.length = 0;
    const out = join(scratch, 'echo.json');
    const run = await runCliToEnd([
      'blast', `${server.url}/room/{{data.room}}?token={{ data.token }}&v=1`, '-c', '4', '--messages', '2', '-d', '10s', '-w', '2',
      '--data', file(USERS_CSV), '-H', 'Authorization: Bearer {{data.token}}', '-H', 'X-User: {{data.user}}',
      '--message', 'hello {{data.user}} #{{seq}}', '-o', out, '-q',
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(server.connections.length, 4);
    const byToken = new Map(server.connections.map((c) => [new URL(c.url, 'ws://x').searchParams.get('token'), c]));
    for (const user of USERS) {
      const connection = byToken.get(user.token);
      assert.ok(connection, `a connection with ${user.token}`);
      assert.equal(connection.url, `/room/${encodeURIComponent(user.room)}?token=${user.token}&v=1`);
      assert.equal(connection.headers.authorization, `Bearer ${user.token}`);
      assert.equal(connection.headers['x-user'], user.user);
      assert.deepEqual(connection.messages, [`hello ${user.user} #1`, `hello ${user.user} #2`]);
    }
    const result = readResult(out);
    assert.equal(result.messages.received, 8);
    assert.equal(result.messages.mismatched, 0);
    assert.deepEqual(result.config.data, { file: result.config.data && (result.config.data as { file: string }).file, rows: 4, wrapped: false, unique: false });
    assert.equal(result.target.url, `${server.url}/room/{{data.room}}?token={{data.token}}&v=1`);
    assert.deepEqual(result.config.headers, { Authorization: '<redacted>', 'X-User': '<redacted>' });
    const text = readFileSync(out, 'utf8');
    for (const user of USERS) for (const value of [user.token, user.user]) assert.ok(!text.includes(value), `the result holds ${value}`);
  });

  it('renders --subscribe per connection from a JSON lines file', async () => {
    server.connections.length = 0;
    const run = await runCliToEnd(['blast', `${server.url}/feed?u={{data.user}}`, '-c', '4', '-d', '300ms', '--data', file(USERS_JSONL, '.jsonl'), '--subscribe', '{"join":"{{data.room}}","as":"{{data.token}}"}', '--no-save', '-q']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(server.connections.length, 4);
    for (const user of USERS) {
      const connection = server.connections.find((c) => c.url === `/feed?u=${encodeURIComponent(user.user)}`);
      assert.ok(connection, `a connection for ${user.user}`);
      assert.deepEqual(connection.messages, [JSON.stringify({ join: user.room, as: user.token })]);
    }
  });

  it('renders a flood\'s messages per connection (each burst rendered in place)', async () => {
    server.connections.length = 0;
    const run = await runCliToEnd(['blast', `${server.url}/f?t={{data.token}}`, '-c', '4', '-d', '300ms', '--data', file(USERS_CSV), '--flood', '--message', '{"ts":{{now_us}},"who":"{{data.user}}"}', '--no-save', '-q']);
    assert.equal(run.code, 0, run.stderr);
    for (const user of USERS) {
      const connection = server.connections.find((c) => c.url === `/f?t=${user.token}`)!;
      assert.ok(connection.messages.length > 1, `${user.token} flooded`);
      for (const message of connection.messages) assert.equal(message.replace(/"ts":\d+,/, ''), `{"who":"${user.user}"}`);
    }
  });

  it("renders a scenario's send and expect per connection: each expect waits for its own row's value", async () => {
    server.connections.length = 0;
    const scenario = file(
      [
        'steps:',
        '  - send: \'{"token":"{{data.token}}","n":{{seq}}}\'',
        '  - expect: { json: { path: token, equals: "{{data.token}}" }, timeout: 2s }',
        '  - send: rows please',
        '  - expect: { match: "row:{{data.token}};", timeout: 2s }',
        '  - send: matched',
      ].join('\n'),
      '.yaml',
    );
    const out = join(scratch, 'scenario.json');
    const run = await runCliToEnd(['blast', `${server.url}/s`, '-c', '4', '-d', '5s', '--data', file(USERS_CSV), '--scenario', scenario, '-o', out, '-q']);
    assert.equal(run.code, 0, run.stderr);
    const result = readResult(out);
    assert.equal(result.messages.completed, 4);
    assert.equal(result.messages.received, 8, 'each connection matched its echo and its own row');
    for (const user of USERS) {
      const connection = server.connections.find((c) => c.messages[0] === `{"token":"${user.token}","n":1}`);
      assert.ok(connection, `a connection sent ${user.token}`);
      assert.equal(connection.matchedAfter, `row:${user.token};`, 'the expect took its own row\'s token, no other');
    }
  });
});

describe('blast --data: rows, shards and replacements', () => {
  let server: Awaited<ReturnType<typeof recordingServer>>;
  before(async () => (server = await recordingServer()));
  after(() => server.close());
  const tokens = (connections: readonly Connection[]) => connections.map((c) => new URL(c.url, 'ws://x').searchParams.get('t')!);

  it('goes round the rows when the connections are more, and says so', async () => {
    server.connections.length = 0;
    const out = join(scratch, 'wrap.json');
    const run = await runCliToEnd(['blast', `${server.url}/?t={{data.token}}`, '-c', '7', '-d', '200ms', '--data', file('token\na\nb\nc\n'), '-o', out, '-q']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /--data \S+ has 3 rows for 7 connections: they go round again \(connection N takes row N mod 3\)/);
    const counts: Record<string, number> = {};
    for (const token of tokens(server.connections)) counts[token] = (counts[token] ?? 0) + 1;
    assert.deepEqual(counts, { a: 3, b: 2, c: 2 });
    assert.match(run.stdout, /^  data \S+\.csv: 3 rows, fewer than the connections: they went round/m);
    assert.equal((readResult(out).config.data as { wrapped: boolean }).wrapped, true);
  });

  it('gives two shards disjoint rows that together cover the file, and merge accepts their results', async () => {
    const data = file('token\n' + Array.from({ length: 6 }, (_, i) => `s${i}`).join('\n') + '\n');
    const seen: string[][] = [];
    const outs: string[] = [];
    for (const shard of ['1/2', '2/2']) {
      server.connections.length = 0;
      const out = join(scratch, `shard-${shard[0]}.json`);
      const run = await runCliToEnd(['blast', `${server.url}/?t={{data.token}}`, '-c', '6', '--shard', shard, '-w', '2', '-d', '200ms', '--data', data, '--data-unique', '-o', out, '-q']);
      assert.equal(run.code, 0, run.stderr);
      seen.push(tokens(server.connections).sort());
      outs.push(out);
    }
    assert.deepEqual(seen, [['s0', 's1', 's2'], ['s3', 's4', 's5']]);
    const merged = await runCliToEnd(['merge', ...outs, '--min-overlap', '0', '--json', '-q']);
    assert.equal(merged.code, 0, merged.stderr);
    assert.deepEqual((JSON.parse(merged.stdout) as BlastResult).config.data, { file: data, rows: 6, wrapped: false, unique: true });
  });

  for (const [churn, args, prefix] of [
    ['replaced (--lifetime)', ['--lifetime', '300ms'], ''],
    ['reopened after a drop (--reconnect)', ['--reconnect', '--reconnect-max', '200ms'], 'drop '],
  ] as const) {
    it(`keeps a connection ${churn} on its row: one virtual user, one row`, async () => {
      server.connections.length = 0;
      const run = await runCliToEnd(['blast', `${server.url}/?t={{data.token}}`, '-c', '2', '--rate', '20', '-d', '1500ms', ...args, '--data', file('token\nzero\none\n'), '--message', `${prefix}{{conn}}:{{data.token}}`, '--no-save', '-q']);
      assert.equal(run.code, 0, run.stderr);
      assert.ok(server.connections.length > 2, `connections were opened again (${server.connections.length} opened)`);
      const rows = ['zero', 'one'];
      for (const connection of server.connections) {
        const token = new URL(connection.url, 'ws://x').searchParams.get('t');
        for (const message of connection.messages) {
          const [conn, sent] = message.slice(prefix.length).split(':');
          assert.equal(sent, rows[Number(conn) % 2], `connection ${conn} sends its row's token`);
          assert.equal(sent, token, 'the message and the upgrade carry the same row');
        }
      }
    });
  }
});

describe('blast --data: refusals before any connection (exit 2, one line)', { concurrency: 3 }, () => {
  const target = 'ws://127.0.0.1:9/ws?t={{data.token}}';
  const refusals: Array<[string, () => string[], RegExp]> = [
    ['a missing file', () => ['--data', join(scratch, 'nope.csv')], /^wsbench: --data: "[^"]+nope\.csv" is not valid; expected a readable file \(ENOENT\)$/],
    ['an extension it does not read', () => ['--data', file('token\na\n', '.txt')], /^wsbench: --data: "[^"]+\.txt" is not valid; expected a \.csv file/],
    ['an empty file', () => ['--data', file('')], /^wsbench: --data: "[^"]+\.csv" is not valid; expected a header row naming the fields, then at least one row; the file is empty$/],
    ['a header with no rows', () => ['--data', file('token\r\n')], /^wsbench: --data: "[^"]+\.csv" is not valid; expected at least one row under the header row; the file has none$/],
    ['an empty JSON lines file', () => ['--data', file('\n\n', '.jsonl')], /^wsbench: --data: "[^"]+\.jsonl" is not valid; expected at least one row; the file has none$/],
    ['an unterminated quote', () => ['--data', file('token,room\na,1\n"b,2\nc,3\n')], /^wsbench: --data \S+\.csv line 3: "a quoted field" is not valid; expected its closing quote; the file ends first$/],
    ['a row of another length', () => ['--data', file('token,room\na,1\n"b\nb",2\nc\n')], /^wsbench: --data \S+\.csv line 5: "1 field\(s\)" is not valid; expected 2, as the header row has \(token, room\)$/],
    ['a field missing from the header', () => ['--data', file('user,room\na,1\n')], /^wsbench: --data \S+\.csv line 1: "\{\{data\.token\}\}" is not valid; expected a field of the header row \(user, room\)$/],
    ['a bad JSON line', () => ['--data', file('{"token":"a"}\n{"token":\n', '.jsonl')], /^wsbench: --data \S+\.jsonl line 2: "the line" is not valid; expected one JSON object \(/],
    ['a JSON row without the field', () => ['--data', file('{"token":"a"}\n\n{"user":"b"}\n', '.jsonl')], /^wsbench: --data \S+\.jsonl line 3: "\{\{data\.token\}\}" is not valid; expected the field "token" in every row; this one has user$/],
    ['a placeholder without --data', () => [], /^wsbench: url: "\{\{data\.token\}\}" is not valid; it needs --data FILE/],
    ['--data-unique with fewer rows than the run has connections (all shards)', () => ['--data', file('token\na\nb\nc\n'), '--data-unique', '-c', '4', '--shard', '1/2'], /^wsbench: --data-unique: "[^"]+\.csv" is not valid; expected a row for each of the run's 4 connections \(all shards together\); the file has 3$/],
    ['a line break in a value an -H header carries', () => ['--data', file('token,auth\na,"x\r\ny"\n'), '-H', 'Authorization: {{data.auth}}'], /^wsbench: --data \S+\.csv line 2: "auth" is not valid; its value holds a line break \(CR or LF\), which an upgrade header cannot carry$/],
    ['a placeholder in the host', () => ['--data', file('token,host\na,b\n'), '--message', 'x'], /^wsbench: url: .* is not valid; \{\{data\.FIELD\}\} may stand only in the path and the query$/],
  ];
  for (const [what, args, expected] of refusals) {
    it(`refuses ${what}`, async () => {
      const url = what === 'a placeholder in the host' ? 'ws://{{data.host}}.example:9/ws' : target;
      const run = await runCliToEnd(['blast', url, '-c', '2', '-d', '1s', '--no-save', '-q', ...args()]);
      assert.equal(run.code, 2, run.stderr);
      const lines = run.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, run.stderr);
      assert.match(lines[0]!, expected);
    });
  }
});

describe('DataSet: RFC 4180 CSV', () => {
  it('reads quoted commas, doubled quotes, line breaks in quotes and CRLF, and skips blank lines', () => {
    const path = file('\uFEFFa,b\r\n"1,2","say ""hi"""\r\n\r\n"multi\nline",x\n3,\n');
    const data = new DataSet(path, { fields: ['b', 'a'], headerFields: new Set() });
    assert.equal(data.rows, 3);
    assert.deepEqual(data.rowsFor(0, 3).rows, [['say "hi"', '1,2'], ['x', 'multi\nline'], ['', '3']]);
    // A process's share: its connections' rows only, going round the file.
    assert.deepEqual(data.rowsFor(2, 2).rows, [['', '3'], ['say "hi"', '1,2']]);
    assert.equal(data.rowsFor(1, 10).rows.length, 3);
  });

  it('names the line a row begins on, counting line breaks inside quotes', () => {
    const path = file('a,b\n"x\ny\nz",1\n2\n');
    assert.throws(() => new DataSet(path, { fields: [], headerFields: new Set() }), (error: unknown) => error instanceof ConfigError && / line 5: "1 field\(s\)"/.test(error.message));
  });

  it('counts line breaks before a doubled quote inside a quoted field', () => {
    // Line 2 opens a field whose break (to line 3) comes before its "": the short row is on line 5.
    const path = file('a,b\n"x\ny ""q"" z",1\nc,2\n3\n');
    assert.throws(() => new DataSet(path, { fields: [], headerFields: new Set() }), (error: unknown) => error instanceof ConfigError && / line 5: "1 field\(s\)"/.test(error.message));
  });
});

describe('MessageTemplate with {{data.FIELD}}', () => {
  it('writes multi-byte values whole within maxBytes, and refuses a field the rows lack', () => {
    const layout = { fields: ['name', 'id'], maxBytes: [Buffer.byteLength('Zoë ü'), 2] };
    const template = new MessageTemplate('{{data.id}}:{{ data.name }}#{{seq}}', '--message', layout);
    const rendered = template.render({ seq: 7, conn: 0, worker: 0, data: ['Zoë ü', '42'] });
    assert.equal(rendered.toString(), '42:Zoë ü#7');
    assert.ok(rendered.length <= template.maxBytes);
    const burst = Buffer.alloc(template.maxBytes);
    assert.equal(burst.toString('utf8', 0, template.writeInto(burst, 0, { seq: 7, conn: 0, worker: 0, data: ['Zoë ü', '42'] }, 0)), '42:Zoë ü#7');
    assert.throws(() => new MessageTemplate('{{data.nope}}', '--message', layout), (error: unknown) => error instanceof ConfigError && /^--message: "\{\{data\.nope\}\}" is not valid; expected a field of --data \(name, id\)$/.test(error.message));
  });
});
