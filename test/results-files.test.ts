/**
 * Results files are data to check: merge, compare and report refuse a damaged file with one line
 * naming the file and the field (exit 2), merge refuses the same run twice, and --out writes only
 * regular files and names the path when the disk refuses it. The real `wsbench` binary, on a real
 * result of a short run against its own server.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCliToEnd } from './helpers/cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'wsbench-results-files-'));
let good: Record<string, unknown>;
const goodPath = join(scratch, 'good.json');

before(async () => {
  const run = await runCliToEnd(['blast', '--own-server', '-c', '2', '--messages', '3', '-d', '5s', '--quiet', '--out', goodPath]);
  assert.equal(run.code, 0, run.stderr);
  good = JSON.parse(readFileSync(goodPath, 'utf8')) as Record<string, unknown>;
});

/** The good result with `change` applied to a deep copy. */
function damaged(name: string, change: (result: Record<string, any>) => void): string {
  const copy = structuredClone(good) as Record<string, any>;
  change(copy);
  const path = join(scratch, `${name}.json`);
  writeFileSync(path, JSON.stringify(copy));
  return path;
}

const DAMAGES: readonly [string, (r: Record<string, any>) => void, RegExp][] = [
  ['garbage-histogram', (r) => (r.histograms.roundTrip_us = 'HISTFAAAA-not-base64!!'), /histograms\.roundTrip_us: expected an encoded histogram/],
  ['no-startedAt', (r) => delete r.startedAt, /startedAt: expected a date \(ISO 8601\), got nothing/],
  ['bad-startedAt', (r) => (r.startedAt = 'yesterday'), /startedAt: expected a date/],
  ['timeline-null', (r) => (r.timeline = [null]), /timeline\[0\]: expected an object, got null/],
  ['thresholds-string', (r) => (r.thresholds = 'rtt<1ms'), /thresholds: expected a list of threshold outcomes/],
  ['comparison-number', (r) => (r.comparison = 7), /comparison: expected an object, got 7/],
  ['negative-accepted', (r) => (r.outcomes.accepted = -1000), /outcomes\.accepted: expected a whole number >= 0, got -1000/],
  ['text-count', (r) => (r.messages.sent = 'many'), /messages\.sent: expected a whole number >= 0, got "many"/],
  ['inconsistent', (r) => (r.outcomes.accepted += 1), /outcomes\.attempted: expected accepted \+ rejected \+ failed = 3/],
  ['future-schema', (r) => (r.schemaVersion = 99), /schemaVersion: expected a schema this wsbench reads \(1 to \d+\), got 99/],
];

describe('results files: damage is refused, naming the file and the field', () => {
  for (const [name, change, message] of DAMAGES) {
    it(`${name}: report (every format), merge and compare exit 2 with one line`, async () => {
      const path = damaged(name, change);
      const runs = [
        ['report', path, '--format', 'md'],
        ['report', path, '--format', 'junit'],
        ['merge', path, goodPath],
        ['compare', goodPath, path],
        ['compare', path, goodPath],
      ];
      for (const args of runs) {
        const run = await runCliToEnd(args);
        assert.equal(run.code, 2, `${args.join(' ')}: exit ${run.code}\n${run.stderr}`);
        assert.equal(run.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line: ${run.stderr}`);
        assert.ok(run.stderr.includes(JSON.stringify(path)), `${args.join(' ')}: names the file: ${run.stderr}`);
        assert.match(run.stderr, message, args.join(' '));
        assert.doesNotMatch(run.stderr, /unexpected error|    at /);
      }
    });
  }

  it('merge refuses the same run twice (a copy too): every count would double', async () => {
    const copy = join(scratch, 'copy.json');
    writeFileSync(copy, readFileSync(goodPath));
    for (const args of [['merge', goodPath, goodPath], ['merge', goodPath, copy], ['merge', '--force', goodPath, copy]]) {
      const run = await runCliToEnd(args);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, /is the same run as .*: merged, every count would double/);
    }
  });
});

describe('--out: regular files only, and disk errors name the path', () => {
  it('a device or a symbolic link at --out is refused before the run (exit 2)', async () => {
    const link = join(scratch, 'link.json');
    symlinkSync(join(scratch, 'elsewhere.json'), link);
    for (const [out, why] of [['/dev/null', /is not a regular file/], [link, /is a symbolic link/]] as const) {
      const run = await runCliToEnd(['blast', '--own-server', '-c', '1', '-d', '1s', '--out', out]);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, why);
    }
  });

  describe('a full disk', () => {
    const full = join(scratch, 'full');
    let mounted = false;
    before(() => {
      mkdirSync(full);
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4k', 'tmpfs', full], { stdio: 'ignore' });
        mounted = true;
      } catch {
        mounted = false;
      }
    });
    after(() => {
      if (mounted) execFileSync('umount', [full], { stdio: 'ignore' });
    });

    it('the run still prints its summary, then exits 1 naming the file that could not be written', async (t) => {
      if (!mounted) return t.skip('a tmpfs could not be mounted here (not root?): no full disk to try');
      const out = join(full, 'run.json');
      const run = await runCliToEnd(['blast', '--own-server', '-c', '2', '--messages', '2', '-d', '5s', '--out', out]);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stdout, /Connections/);
      assert.match(run.stderr, new RegExp(`could not write ${out.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: ENOSPC`));
      assert.doesNotMatch(run.stderr, /unexpected error|    at /);
    });
  });
});
