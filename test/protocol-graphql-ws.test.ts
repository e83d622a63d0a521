/**
 * blast --protocol graphql-ws against the real graphql-ws server package (on ws, with graphql-js),
 * in this process, counting what it saw: connection_init payloads, subscribes, nexts, completes and
 * errors, and refused inits. Each test compares those counts with the result of the real
 * bin/wsbench.js.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphQLInt, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { runCliToEnd } from './helpers/cli.js';
import type { BlastResult } from '../src/metrics/blast-result.js';

interface Seen {
  inits: number;
  tokens: Set<string>;
  refused: number;
  subscribes: number;
  nexts: number;
  completes: number;
  errors: number;
}

const schema = new GraphQLSchema({
  query: new GraphQLObjectType({ name: 'Query', fields: { hello: { type: GraphQLString, resolve: () => 'world' } } }),
  subscription: new GraphQLObjectType({
    name: 'Subscription',
    fields: {
      count: {
        type: GraphQLInt,
        args: { n: { type: new GraphQLNonNull(GraphQLInt) } },
        subscribe: async function* (_root: unknown, { n }: { n: number }) {
          for (let i = 1; i <= n; i++) {
            await new Promise((resolve) => setTimeout(resolve, 5));
            yield { count: i };
          }
        },
      },
    },
  }),
});

async function startServer(): Promise<{ url: string; seen: Seen; close: () => Promise<void> }> {
  const seen: Seen = { inits: 0, tokens: new Set(), refused: 0, subscribes: 0, nexts: 0, completes: 0, errors: 0 };
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/graphql' });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  useServer(
    {
      schema,
      onConnect: (ctx) => {
        seen.inits++;
        const token = String((ctx.connectionParams as { token?: string } | undefined)?.token);
        if (token === 'bad') {
          seen.refused++;
          return false;
        }
        seen.tokens.add(token);
        return true;
      },
      onSubscribe: () => {
        seen.subscribes++;
      },
      onNext: () => {
        seen.nexts++;
      },
      onError: () => {
        seen.errors++;
      },
      onComplete: () => {
        seen.completes++;
      },
    },
    wss,
  );
  const port = (wss.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}/graphql`,
    seen,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

const dir = mkdtempSync(join(tmpdir(), 'wsbench-graphql-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
function queryFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

async function blastJson(args: string[]): Promise<{ code: number | null; result: BlastResult; stderr: string }> {
  const run = await runCliToEnd(['blast', ...args, '--json', '--no-save', '-w', '1'], { timeoutMs: 60_000 });
  assert.ok(run.stdout.trim().startsWith('{'), `expected a JSON result; stderr:\n${run.stderr}`);
  return { code: run.code, result: JSON.parse(run.stdout) as BlastResult, stderr: run.stderr };
}

test('graphql-ws: connection_init with a payload, subscriptions of 5 values each; nexts and completes agree with the server', async () => {
  const server = await startServer();
  try {
    const query = queryFile('count.graphql', 'subscription Count($n: Int!) { count(n: $n) }');
    const { code, result } = await blastJson([
      server.url, '--protocol', 'graphql-ws', '-c', '10', '--messages', '3', '-p', '2', '-d', '20s',
      '--graphql-query', query, '--graphql-variables', '{"n":5}', '--graphql-init', '{"token":"t{{conn}}"}',
    ]);
    assert.equal(code, 0);
    assert.equal(result.endReason, 'messages');
    const counts = result.protocol!.counts;
    assert.equal(result.protocol!.name, 'graphql-ws');
    assert.equal(server.seen.inits, 10);
    assert.equal(server.seen.tokens.size, 10, 'each connection rendered its own init payload');
    assert.equal(counts.acked, 10);
    assert.equal(result.protocol!.handshake.count, 10);
    assert.equal(server.seen.subscribes, 30);
    assert.equal(counts.subscribes, 30);
    assert.equal(server.seen.nexts, 150);
    assert.equal(counts.next, 150);
    assert.equal(result.messages.delivered, 150);
    assert.equal(result.latency.roundTrip.count, 150, 'every next timed');
    assert.equal(result.latency.measures, 'delivery');
    assert.equal(server.seen.completes, 30);
    assert.equal(counts.complete, 30);
    assert.equal(counts.error, undefined);
  } finally {
    await server.close();
  }
});

test('graphql-ws: an operation the server refuses comes back as error, counted; a refused init closes with 4403, counted by reason', async () => {
  const server = await startServer();
  try {
    const query = queryFile('bad.graphql', 'subscription { nothingHere }');
    const failing = await blastJson([server.url, '--protocol', 'graphql-ws', '-c', '4', '--messages', '2', '-d', '10s', '--graphql-query', query]);
    assert.equal(server.seen.errors, 8);
    assert.equal(failing.result.protocol!.counts.error, 8);
    assert.equal(failing.result.protocol!.counts.subscribes, 8);
    assert.equal(failing.result.endReason, 'messages');

    const good = queryFile('hello.graphql', '{ hello }');
    const refused = await blastJson([server.url, '--protocol', 'graphql-ws', '-c', '5', '-d', '500ms', '--graphql-query', good, '--graphql-init', '{"token":"bad"}']);
    assert.equal(server.seen.refused, 5);
    assert.equal(refused.result.protocol!.counts.acked, undefined);
    assert.deepEqual(refused.result.protocol!.reasons, { 'close 4403 forbidden': 5 });
    assert.equal(refused.result.outcomes.dropped.byCloseCode['4403'], 5);
  } finally {
    await server.close();
  }
});

test('graphql-ws: a query file is required, and options of other patterns are refused (exit 2)', async () => {
  const query = queryFile('q.graphql', '{ hello }');
  const cases: [string[], RegExp][] = [
    [['ws://127.0.0.1:9/', '--protocol', 'graphql-ws'], /--graphql-query: .* expected a file/],
    [['ws://127.0.0.1:9/', '--protocol', 'graphql-ws', '--graphql-query', query, '--rate', '5'], /--rate: .* the server sets the pace/],
    [['ws://127.0.0.1:9/', '--protocol', 'graphql-ws', '--graphql-query', query, '--graphql-init', '[1]'], /--graphql-init: .* expected a JSON object/],
    [['ws://127.0.0.1:9/', '--graphql-query', query], /--graphql-query: .* it is for --protocol graphql-ws/],
    // The operation is the document: a payload or its size would be ignored, so both are refused.
    [['ws://127.0.0.1:9/', '--protocol', 'graphql-ws', '--graphql-query', query, '-s', '1kb'], /^wsbench: -s, --size: "1kb" is not valid; with --protocol graphql-ws the operation comes from --graphql-query/],
    [['ws://127.0.0.1:9/', '--protocol', 'graphql-ws', '--graphql-query', query, '--payload', query], /^wsbench: --payload: .* with --protocol graphql-ws the operation comes from --graphql-query/],
    // The document's placeholders are checked before the run, not in a client process; per-connection
    // values go in the variables.
    [['ws://127.0.0.1:9/', '--protocol', 'graphql-ws', '--graphql-query', queryFile('bad.graphql', 'subscription { t(n: {{nope}}) }')], /--graphql-query .*bad\.graphql: "\{\{nope\}\}" is not valid; expected one of the placeholders/],
    [['ws://127.0.0.1:9/', '--protocol', 'graphql-ws', '--graphql-query', queryFile('data.graphql', 'subscription { t(u: "{{data.user}}") }')], /--graphql-query: .* expected no \{\{data\.FIELD\}\} in the document: per-connection values go in --graphql-variables/],
  ];
  for (const [args, message] of cases) {
    const run = await runCliToEnd(['blast', ...args, '--no-save'], { timeoutMs: 20_000 });
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, message);
  }
});
