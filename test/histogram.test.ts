import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as hdr from 'hdr-histogram-js';
import { createHistogram, decodeHistogram, encodeHistogram, FAST_RECORDING, HDR, hdrIndex, mergeEncoded, recordUs, summarize } from '../src/metrics/histogram.js';

describe('histogram merge', () => {
  it("the histogram's own modules (loaded instead of the package's index) build, encode and decode as the index does", () => {
    assert.equal(HDR.from, 'modules', 'this version of hdr-histogram-js has the modules');
    const index = hdrIndex(hdr);
    const ours = HDR.build();
    const theirs = index.build();
    assert.equal(ours.constructor, theirs.constructor);
    let seed = 4242;
    const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < 20_000; i++) {
      const value = random() < 0.95 ? 1 + random() * 5_000 : random() * 3_600_000_000;
      recordUs(ours, value);
      recordUs(theirs, value);
    }
    const encoded = encodeHistogram(ours);
    assert.equal(encoded, index.encode(theirs), 'the same bytes');
    assert.deepEqual(summarize(decodeHistogram(encoded)), summarize(index.decode(encoded)));
    assert.equal(decodeHistogram(index.encode(theirs)).totalCount, 20_000);
    // Damage is refused the same way.
    assert.throws(() => decodeHistogram('not base64!'), /Invalid string/);
    assert.throws(() => index.decode('not base64!'), /Invalid string/);
    assert.throws(() => decodeHistogram(Buffer.from('no histogram here').toString('base64')), /Encoding not supported/);
  });

  it('worker histograms merged equal one histogram fed the same values', () => {
    const whole = createHistogram();
    const parts = [createHistogram(), createHistogram(), createHistogram()];
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < 30_000; i++) {
      // A long-tailed mix: mostly sub-ms, some tens of ms, a few seconds.
      const value = random() < 0.99 ? 50 + random() * 900 : 10_000 + random() * 3_000_000;
      recordUs(whole, value);
      recordUs(parts[i % 3]!, value);
    }
    const merged = mergeEncoded(parts.map(encodeHistogram));
    // Results always pass through a snapshot, which reports max at its bucket's resolution, so the
    // single histogram is compared after the same round trip.
    assert.deepEqual(summarize(merged), summarize(mergeEncoded([encodeHistogram(whole)])));
    assert.ok(Math.abs(summarize(merged).max_us - whole.maxValue) / whole.maxValue < 0.001);
    assert.equal(merged.totalCount, 30_000);
  });

  it("recordUs (its integer bucket index) records exactly what the library's recordValue records, over the whole range", () => {
    const fast = createHistogram();
    const library = createHistogram();
    let seed = 777;
    const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const values: number[] = [1, 2, 2047, 2048, 2049, 4095, 4096, 2 ** 31 - 1, 2 ** 31, 3_600_000_000];
    for (let i = 0; i < 200_000; i++) values.push(Math.exp(random() * Math.log(3_600_000_000)));
    for (const value of values) {
      recordUs(fast, value);
      library.recordValue(Math.min(3_600_000_000, Math.max(1, Math.round(value))));
    }
    // The fast path is in use: hdr-histogram-js still has the shape it relies on.
    assert.equal(FAST_RECORDING, true);
    assert.equal(encodeHistogram(fast), encodeHistogram(library));
    assert.equal(fast.totalCount, values.length);
    assert.equal(fast.maxValue, library.maxValue);
    assert.equal(fast.minNonZeroValue, library.minNonZeroValue);
  });

  it('clamps out-of-range values instead of throwing', () => {
    const histogram = createHistogram();
    recordUs(histogram, 0);
    recordUs(histogram, 10 ** 12);
    assert.equal(histogram.totalCount, 2);
  });

  it('an empty histogram summarizes to zeros', () => {
    assert.equal(summarize(createHistogram()).p99_us, 0);
  });
});
