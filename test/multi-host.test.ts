/**
 * Beyond one machine, on one machine: `wsbench serve` in one network namespace and three
 * `wsbench blast --shard i/3 --barrier` in three others, each "host" with its own address on a
 * bridge (test/helpers/netns.ts), then `wsbench merge` of their results. Checks that every
 * connection is accounted for exactly (the merged count is the shards' sum and what serve counted),
 * that the barrier made the run phases overlap, that the merged histograms are the sum of the
 * shards', and that each shard's connections came from its own namespace's address.
 *
 * Skipped, saying why, where network namespaces cannot be made (not root, not Linux, no iproute2).
 * Every namespace it makes is deleted afterwards, also when a check fails.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { GatedResult } from '../src/gate/gate-plan.js';
import type { MergedResult } from '../src/gate/merge.js';
import { decodeHistogram, encodeHistogram, mergeEncoded, summarize } from '../src/metrics/histogram.js';
import { BIN, runCliToEnd } from './helpers/cli.js';
import {
  createNetwork, establishedPeers, httpGetIn, leftoverNamespaces, listNamespaces, netnsSupport, spawnIn, waitForHttpIn, type NetnsNetwork, type NsProcess,
} from './helpers/netns.js';

const SHARDS = 3;
const TOTAL = 900;
const PER_SHARD = TOTAL / SHARDS;
const SERVE_PORT = 8000;
const BARRIER_PORT = 7070;
const HISTOGRAMS = ['connect_us', 'roundTrip_us', 'roundTripRamp_us'] as const;

const support = netnsSupport();
const skip = support.ok ? false : `network namespaces are not available: ${support.reason}`;

describe('multi-host: serve and 3 blast shards in their own network namespaces, merged', { skip }, () => {
  let network: NetnsNetwork | undefined;
  const started: NsProcess[] = [];
  let scratch: string | undefined;

  before(() => {
    scratch = mkdtempSync(join(tmpdir(), 'wsbench-multi-host-'));
    network = createNetwork(SHARDS);
  });

  after(async () => {
    // Also when a check failed half-way: every process we started, by PID, then every namespace.
    for (const run of started) await run.stop('SIGKILL', 1000);
    network?.destroy();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it(`${SHARDS} × ${PER_SHARD} connections from 3 namespaces, started by a barrier: exact sums, ≥ 95% overlap, each from its own address`, { timeout: 60_000 }, async () => {
    const net = network!;
    const url = `ws://${net.server.address}:${SERVE_PORT}/ws`;
    const healthz = `http://${net.server.address}:${SERVE_PORT}/healthz`;
    // Each ends by itself within 90 s even if this test is killed (the next run sweeps the namespaces).
    const start = (namespace: string, args: string[]) => {
      const run = spawnIn(namespace, [process.execPath, BIN, ...args], { maxSeconds: 90 });
      started.push(run);
      return run;
    };
    try {
      const serve = start(net.server.name, ['serve', '--host', net.server.address, '--port', String(SERVE_PORT), '--max', '1000']);
      await serve.waitForStderr(/listening on ws:\/\/\S+/, 15_000);
      // Across the bridge from every client namespace before any shard starts.
      for (const client of net.clients) await waitForHttpIn(client.name, healthz, 10_000);

      const files = net.clients.map((_, i) => join(scratch!, `shard-${i + 1}.json`));
      const barrier = `http://${net.clients[0]!.address}:${BARRIER_PORT}`;
      const shards = net.clients.map((client, i) =>
        start(client.name, ['blast', url, '-c', String(TOTAL), '--shard', `${i + 1}/${SHARDS}`, '-d', '3s', '--barrier', barrier, '--barrier-timeout', '30s', '-q', '-o', files[i]!]),
      );

      // The server's own view while the shards run: established connections by peer address.
      let peers = new Map<string, number>();
      let ended = false;
      void Promise.all(shards.map((s) => s.exited)).then(() => (ended = true));
      const deadline = Date.now() + 40_000;
      while (!ended && Date.now() < deadline) {
        const now = await establishedPeers(net.server.name, SERVE_PORT);
        if ([...now.values()].reduce((a, b) => a + b, 0) > [...peers.values()].reduce((a, b) => a + b, 0)) peers = now;
        if ([...peers.values()].reduce((a, b) => a + b, 0) >= TOTAL) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const exits = await Promise.all(shards.map((s) => s.waitExit(45_000)));
      exits.forEach((exit, i) => assert.equal(exit.code, 0, `shard ${i + 1}: ${shards[i]!.stderr()}`));

      const results = files.map((file) => JSON.parse(readFileSync(file, 'utf8')) as GatedResult);
      // Each shard: its exact share, accepted in full, started by the barrier, from its own namespace.
      results.forEach((result, i) => {
        const shard = result.config.shard as { index: number; count: number };
        assert.deepEqual([shard.index, shard.count], [i + 1, SHARDS]);
        assert.equal(result.outcomes.attempted, PER_SHARD);
        assert.equal(result.outcomes.accepted, PER_SHARD, `shard ${i + 1}: ${JSON.stringify(result.outcomes)}`);
        assert.equal(result.outcomes.failed.total, 0);
        assert.ok(result.sync?.barrier?.startsWith(barrier), `shard ${i + 1} went through the barrier: ${JSON.stringify(result.sync)}`);
        assert.ok(result.clock?.runStartedAt && result.clock.runEndedAt, `shard ${i + 1} ran: ${JSON.stringify(result.clock)}`);
        // A non-loopback target: the kernel picks the source, the namespace's one address. Any address the plan names is that one.
        for (const address of result.plan.sourceAddresses) assert.equal(address, net.clients[i]!.address, `shard ${i + 1} planned ${address}`);
      });
      assert.deepEqual(
        Object.fromEntries([...peers].sort(([a], [b]) => a.localeCompare(b))),
        Object.fromEntries(net.clients.map((c) => [c.address, PER_SHARD])),
        'serve saw 300 established connections from each client namespace\'s address, and none from elsewhere',
      );

      // What serve counted, asked inside its namespace.
      const served = JSON.parse(await httpGetIn(net.server.name, healthz)) as { accepted: number; rejected: Record<string, number> };
      assert.equal(served.accepted, TOTAL, JSON.stringify(served));

      const merge = await runCliToEnd(['merge', ...files, '--json'], { timeoutMs: 30_000 });
      assert.equal(merge.code, 0, merge.stderr);
      const merged = JSON.parse(merge.stdout) as MergedResult;
      assert.equal(merged.outcomes.attempted, TOTAL);
      assert.equal(merged.outcomes.accepted, TOTAL);
      assert.equal(merged.outcomes.accepted, results.reduce((n, r) => n + r.outcomes.accepted, 0));
      assert.equal(merged.outcomes.accepted, served.accepted, 'blast and serve count the same connections');
      assert.equal(merged.outcomes.failed.total, 0);
      assert.equal(merged.outcomes.rejected.total, 0);
      assert.ok(merged.merged.overlap && merged.merged.overlap.share >= 0.95, `run phases overlapped ${JSON.stringify(merged.merged.overlap)}`);
      assert.equal(merged.messages.received, results.reduce((n, r) => n + r.messages.received, 0));
      assert.ok(merged.messages.received > 0, 'echoes were measured');

      // The merged histograms are the shards' added: same counts, and the same histogram.
      for (const key of HISTOGRAMS) {
        const shardsAdded = mergeEncoded(results.map((r) => r.histograms[key]));
        const mergedHistogram = decodeHistogram(merged.histograms[key]);
        assert.equal(mergedHistogram.totalCount, results.reduce((n, r) => n + decodeHistogram(r.histograms[key]).totalCount, 0), key);
        assert.deepEqual(summarize(mergedHistogram), summarize(shardsAdded), key);
        assert.equal(merged.histograms[key], encodeHistogram(shardsAdded), key);
      }
      assert.equal(decodeHistogram(merged.histograms.connect_us).totalCount, TOTAL, 'one connect sample per accepted connection');
      assert.deepEqual(merged.latency.connect, summarize(mergeEncoded(results.map((r) => r.histograms.connect_us))));

      await serve.stop('SIGTERM', 10_000);
    } finally {
      for (const run of started) await run.stop('SIGKILL', 1000);
    }
  });

  it('deletes every namespace it made, and a second destroy() is harmless', () => {
    const net = network!;
    net.destroy();
    net.destroy();
    assert.deepEqual(listNamespaces(`${net.bridge.slice(0, -'br'.length)}`), [], 'none of this run');
    assert.deepEqual(leftoverNamespaces(), [], 'no leftover wsb-mh-* namespace at all');
  });
});
