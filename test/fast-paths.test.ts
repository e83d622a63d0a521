/**
 * The fast paths on Node internals (runtime/fast-paths.ts): each is on only after its self-test has
 * passed in the process, a self-test that sees a path misbehave turns it off, the portable path then
 * runs, and the result, serve's /healthz and the summary say which ran. The suite runs on every
 * supported Node (.ci/run), so the first two tests also say that each of them passes.
 *
 * The differential and fuzz suites run a second time with WSBENCH_PORTABLE=all (package.json's
 * test script), so the portable path stays correct too.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { directHandle, handleIoInUse, proveHandleIo } from '../src/blast/handle-io.js';
import { proveSharedReads, sharedReadsInUse } from '../src/serve/server-connection.js';
import { forcedOff, mergeRuntimeReports, portableLine, runtimeReport } from '../src/runtime/fast-paths.js';
import { formatMarkdown } from '../src/report/markdown.js';
import { runCliToEnd, startServeCli, stop } from './helpers/cli.js';
import { fakeResult } from './helpers/results.js';

/** A connected socket pair on loopback, for the length of `body`. */
async function withSocketPair<T>(body: (client: Socket, peer: Socket) => Promise<T>): Promise<T> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  await once(client, 'connect');
  const [peer] = await accepted;
  try {
    return await body(client, peer);
  } finally {
    client.destroy();
    peer.destroy();
    server.close();
  }
}

describe('fast paths: self-tests on this Node', () => {
  it(`blast's direct writes and reads pass their loopback self-test on ${process.version}`, async () => {
    const proof = await proveHandleIo({});
    assert.deepEqual(proof, { directWrites: { on: true }, directReads: { on: true } });
    assert.deepEqual(handleIoInUse(), { directWrites: true, directReads: true });
  });

  it(`serve's shared read buffer passes its loopback self-test on ${process.version}`, async () => {
    assert.deepEqual(await proveSharedReads({}), { on: true });
    assert.equal(sharedReadsInUse(), true);
  });
});

describe('fast paths: a self-test that sees a path misbehave turns it off', () => {
  it('a handle whose writes queue and never complete: direct writes off, and frames go through net again', async () => {
    // Every write "succeeds" as queued (libuv's async flag set) and no byte ever leaves or completes.
    const proof = await proveHandleIo({
      timeoutMs: 300,
      handle: (real) => ({
        get writeQueueSize() {
          return 1;
        },
        writeBuffer: () => {
          // The same flag libuv's own queued write sets; read by handle-io after the call.
          const binding = (process as unknown as { binding(name: string): { streamBaseState: Int32Array; kLastWriteWasAsync: number } }).binding('stream_wrap');
          binding.streamBaseState[binding.kLastWriteWasAsync] = 1;
          void real;
          return 0;
        },
      }),
    });
    try {
      assert.equal(proof.directWrites.on, false);
      assert.match(proof.directWrites.why ?? '', /^self-test: 0 of \d+ bytes written past net arrived$/);
      assert.equal(handleIoInUse().directWrites, false);
      await withSocketPair(async (client) => {
        assert.equal(directHandle(client), undefined, 'no frame goes to the handle directly');
      });
    } finally {
      // The rest of this process may use the real paths again.
      assert.equal((await proveHandleIo({})).directWrites.on, true);
    }
  });

  it('a switch that loses the bytes read before it (as one read() did on Node 26): shared reads off', async () => {
    const verdict = await proveSharedReads({ takeEarly: () => {}, timeoutMs: 300 });
    try {
      assert.equal(verdict.on, false);
      assert.match(verdict.why ?? '', /bytes arrived through the shared buffer/);
      assert.equal(sharedReadsInUse(), false);
    } finally {
      assert.equal((await proveSharedReads({})).on, true);
    }
  });
});

describe('fast paths: what the result, /healthz and the summary say', () => {
  it('WSBENCH_PORTABLE names paths to turn off, or all of them', () => {
    assert.equal(forcedOff('directWrites', {}), undefined);
    assert.equal(forcedOff('directWrites', { WSBENCH_PORTABLE: 'all' }), 'WSBENCH_PORTABLE=all');
    assert.equal(forcedOff('directWrites', { WSBENCH_PORTABLE: 'directReads, directWrites' }), 'WSBENCH_PORTABLE=directReads, directWrites');
    assert.equal(forcedOff('sharedReads', { WSBENCH_PORTABLE: 'directReads' }), undefined);
    assert.equal(forcedOff('sharedReads', { WSBENCH_PORTABLE: '0' }), undefined);
  });

  it('a path is on in a report only where every process ran it; merged reports keep each Node once', () => {
    const report = runtimeReport([{ directWrites: { on: true }, directReads: { on: true } }, { directWrites: { on: false, why: 'x' }, directReads: { on: true } }], 'v1');
    assert.deepEqual(report, { node: 'v1', fastPaths: { directWrites: false, directReads: true }, portableBecause: { directWrites: 'x' } });
    assert.equal(portableLine(report), 'Node v1: the portable path ran for directWrites (x)');
    assert.equal(portableLine(runtimeReport([{ directWrites: { on: true } }], 'v1')), undefined);
    const merged = mergeRuntimeReports([report, runtimeReport([{ directWrites: { on: true }, directReads: { on: false, why: 'y' } }], 'v2'), undefined]);
    assert.deepEqual(merged, { node: 'v1, v2', fastPaths: { directWrites: false, directReads: false }, portableBecause: { directWrites: 'x', directReads: 'y' } });
  });

  it('the Markdown report says when a fast path was off, and is silent when all ran', () => {
    const off = { ...fakeResult(), runtime: runtimeReport([{ directWrites: { on: false, why: 'self-test: x' } }], 'v9') };
    assert.match(formatMarkdown(off), /> Node v9: the portable path ran for directWrites \(self-test: x\)\./);
    assert.doesNotMatch(formatMarkdown({ ...fakeResult(), runtime: runtimeReport([{ directWrites: { on: true } }], 'v9') }), /portable path/);
  });

  it('blast: the result names the Node and the fast paths that ran; with WSBENCH_PORTABLE=all none ran, and the summary says why', { timeout: 90_000 }, async () => {
    const args = ['blast', '--own-server', '-c', '20', '-d', '1s', '--workers', '2', '--no-save'];
    const fast = await runCliToEnd([...args, '--json']);
    assert.equal(fast.code, 0, fast.stderr);
    const fastResult = JSON.parse(fast.stdout) as { runtime: unknown; outcomes: { accepted: number } };
    assert.deepEqual(fastResult.runtime, { node: process.version, fastPaths: { directWrites: true, directReads: true, histogramIndex: true } });
    assert.doesNotMatch(fast.stderr, /portable path/);

    const portable = await runCliToEnd(args, { env: { WSBENCH_PORTABLE: 'all' } });
    assert.equal(portable.code, 0, portable.stderr);
    assert.match(portable.stdout + portable.stderr, /the portable path ran for directWrites \(WSBENCH_PORTABLE=all\); directReads \(WSBENCH_PORTABLE=all\); histogramIndex \(WSBENCH_PORTABLE=all\)/);
    const json = await runCliToEnd([...args, '--json'], { env: { WSBENCH_PORTABLE: 'directReads' } });
    assert.equal(json.code, 0, json.stderr);
    const result = JSON.parse(json.stdout) as { runtime: { fastPaths: Record<string, boolean>; portableBecause: Record<string, string> }; outcomes: { accepted: number }; messages: { received: number; mismatched: number } };
    assert.deepEqual(result.runtime.fastPaths, { directWrites: true, directReads: false, histogramIndex: true });
    assert.deepEqual(result.runtime.portableBecause, { directReads: 'WSBENCH_PORTABLE=directReads' });
    assert.equal(result.outcomes.accepted, 20);
    assert.ok(result.messages.received > 0 && result.messages.mismatched === 0, 'the portable reads echo correctly');
  });

  it("serve: /healthz names the Node and whether the shared read buffer is on; serve says when it is not", { timeout: 60_000 }, async () => {
    const fast = await startServeCli(['--max', '10']);
    try {
      const health = (await (await fetch(new URL('/healthz', fast.url.replace('ws', 'http')))).json()) as { runtime: unknown };
      assert.deepEqual(health.runtime, { node: process.version, fastPaths: { sharedReads: true } });
      assert.doesNotMatch(fast.stderr, /portable path/);
    } finally {
      await stop(fast);
    }
    const { runCli } = await import('./helpers/cli.js');
    const portable = runCli(['serve', '--port', '0', '--max', '10'], { env: { WSBENCH_PORTABLE: 'sharedReads' } });
    try {
      const [, url] = await portable.waitForStderr(/listening on (ws:\/\/\S+)/);
      await portable.waitForStderr(/the portable path ran for sharedReads \(WSBENCH_PORTABLE=sharedReads\)/);
      const health = (await (await fetch(new URL('/healthz', url!.replace('ws', 'http')))).json()) as { runtime: { fastPaths: unknown } };
      assert.deepEqual(health.runtime.fastPaths, { sharedReads: false });
    } finally {
      await stop(portable);
    }
  });
});
