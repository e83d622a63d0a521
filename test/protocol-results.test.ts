/**
 * The protocol figures of a result (--protocol socketio, graphql-ws): merged exactly across shards,
 * checked by the result schema, gated by handshake2 thresholds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHistogram, decodeHistogram, encodeHistogram, recordUs, summarize } from '../src/metrics/histogram.js';
import type { BlastResult } from '../src/metrics/blast-result.js';
import { mergeResults } from '../src/gate/merge.js';
import { resultProblem } from '../src/gate/result-schema.js';
import { evaluate } from '../src/gate/evaluate.js';
import { fakeResult } from './helpers/results.js';

/** Shard `index` of 2 of a socketio run (each its own connect time, so merge takes them for two runs). */
function withProtocol(handshakeUs: number[], counts: Record<string, number>, reasons: Record<string, number>, index = 1): BlastResult {
  const histogram = createHistogram();
  for (const us of handshakeUs) recordUs(histogram, us);
  const shard = { index, count: 2, totalConnections: 20, totalConnectRate: 0, totalMaxHandshakes: 1000 };
  const base = fakeResult({ rttUs: [1000, 2000], connectUs: [1000 * index], config: { protocol: 'socketio', shard, connections: 10 } });
  return {
    ...base,
    histograms: { ...base.histograms, handshake2_us: encodeHistogram(histogram) },
    protocol: { name: 'socketio', counts, reasons, handshake: summarize(histogram) },
  };
}

test('protocol counts, reasons and the second handshake merge exactly across shards', () => {
  const a = withProtocol([1000, 2000, 3000], { connected: 3, acks: 100 }, { 'connect_error: no': 1 });
  const b = withProtocol([10_000], { connected: 1, acks: 50, events: 7 }, { 'connect_error: no': 2, 'server namespace disconnect': 1 }, 2);
  const merged = mergeResults([{ path: 'a.json', result: a }, { path: 'b.json', result: b }]);
  assert.deepEqual(merged.protocol?.counts, { connected: 4, acks: 150, events: 7 });
  assert.deepEqual(merged.protocol?.reasons, { 'connect_error: no': 3, 'server namespace disconnect': 1 });
  assert.equal(merged.protocol?.handshake.count, 4);
  assert.equal(decodeHistogram(merged.histograms.handshake2_us!).totalCount, 4);
  assert.equal(merged.protocol?.handshake.max_us, summarize(decodeHistogram(b.histograms.handshake2_us!)).max_us);
  assert.equal(resultProblem(JSON.parse(JSON.stringify(merged))), undefined);
  // Plain WebSocket results have none, and merge to none.
  assert.equal(mergeResults([{ path: 'c.json', result: fakeResult({ connectUs: [1] }) }, { path: 'd.json', result: fakeResult({ connectUs: [2] }) }]).protocol, null);
});

test('the schema refuses protocol figures that are not counts, or a handshake histogram that does not decode', () => {
  const good = withProtocol([1000], { acks: 1 }, {});
  assert.equal(resultProblem(JSON.parse(JSON.stringify(good))), undefined);
  assert.match(resultProblem({ ...good, protocol: { ...good.protocol!, counts: { acks: -1 } } })!, /^protocol\.counts\.acks: expected a whole number >= 0/);
  assert.match(resultProblem({ ...good, protocol: { ...good.protocol!, name: 3 } })!, /^protocol\.name: /);
  assert.match(resultProblem({ ...good, histograms: { ...good.histograms, handshake2_us: 'nope' } })!, /^histograms\.handshake2_us: expected an encoded histogram that decodes/);
});

test('handshake2 thresholds read the second handshake; a run without a protocol has no samples', () => {
  const result = withProtocol([1000, 2000, 50_000], { connected: 3 }, {});
  const [under, over] = evaluate(result, ['handshake2:p(50)<5ms', 'handshake2:max<10ms']);
  assert.equal(under!.ok, true);
  assert.equal(over!.ok, false);
  assert.ok(Math.abs(over!.observed! - 50_000) / 50_000 < 0.01);
  const [none] = evaluate(fakeResult({ rttUs: [1000] }), ['handshake2:p(99)<1s']);
  assert.equal(none!.ok, false);
  assert.match(none!.note!, /--protocol socketio or graphql-ws/);
});
