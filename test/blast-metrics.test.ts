/**
 * blast --metrics-port: Prometheus text at /metrics while the run goes, read with a Prometheus
 * text-format parser wsbench did not write (the official Python client's, Debian's
 * python3-prometheus-client, which .ci/run installs), its figures checked against the result
 * written at the end.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { GatedResult } from '../src/gate/gate-plan.js';
import { createHistogram, decodeHistogram, recordUs } from '../src/metrics/histogram.js';
import { BLAST_METRICS, countsAtOrBelow, LATENCY_BUCKETS_S } from '../src/report/blast-prometheus.js';
import { eventually } from './helpers/clients.js';
import { runCli } from './helpers/cli.js';

interface Family {
  readonly name: string;
  readonly type: string;
  readonly samples: readonly { name: string; labels: Record<string, string>; value: number }[];
}
type Scrape = Map<string, Family>;

const PYTHON = '/usr/bin/python3';
const PARSE = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
families = [{"name": f.name, "type": f.type, "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]} for f in text_string_to_metric_families(sys.stdin.read())]
print(json.dumps(families, allow_nan=True))
`;
const parserMissing = !existsSync(PYTHON) || spawnSync(PYTHON, ['-c', 'import prometheus_client'], { stdio: 'ignore' }).status !== 0
  ? "Debian's python3-prometheus-client is not installed (apt-get install python3-prometheus-client; .ci/run does)"
  : undefined;

/** Parsed by prometheus_client.parser: a line it cannot read fails the test. */
function parsePrometheus(text: string): Family[] {
  const run = spawnSync(PYTHON, ['-c', PARSE], { input: text, encoding: 'utf8' });
  assert.equal(run.status, 0, `prometheus_client could not parse /metrics: ${run.stderr}`);
  return JSON.parse(run.stdout.replace(/\bInfinity\b/g, '1e999')) as Family[];
}

async function scrape(url: string): Promise<Scrape> {
  const response = await fetch(url);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return new Map(parsePrometheus(await response.text()).map((family) => [family.name, family]));
}

/** The one sample of `name` whose labels include `labels`. (The parser names a counter's family without _total.) */
function value(metrics: Scrape, name: string, labels: Record<string, string> = {}): number {
  const family = metrics.get(name) ?? metrics.get(name.replace(/_total$/, ''));
  assert.ok(family, `${name} is served`);
  const sample = family.samples.find((m) => m.name === name && Object.entries(labels).every(([k, v]) => m.labels[k] === v));
  assert.ok(sample, `${name}${JSON.stringify(labels)} has a sample`);
  assert.equal(sample.labels.shard, '1/1', 'every series names its shard');
  return sample.value;
}

function histogram(metrics: Scrape, name: string): { buckets: [number, number][]; count: number; sum: number } {
  const family = metrics.get(name);
  assert.equal(family?.type, 'histogram');
  const of = (suffix: string) => family!.samples.filter((s) => s.name === `${name}${suffix}`);
  for (const s of family!.samples) assert.equal(s.labels.shard, '1/1');
  const buckets = of('_bucket').map((s): [number, number] => [s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), s.value]).sort((a, b) => a[0] - b[0]);
  return { buckets, count: of('_count')[0]!.value, sum: of('_sum')[0]!.value };
}

async function startWithMetrics(args: string[]) {
  const run = runCli(['blast', '--own-server', '--metrics-port', '0', '--metrics-host', '127.0.0.1', '--json', ...args]);
  // --json keeps stderr quiet but for where /metrics is (the port is the kernel's choice with 0).
  const [, url] = (await run.waitForStderr(/metrics at (http:\/\/\S+)/)) as unknown as [string, string];
  return { run, url };
}

describe('blast --metrics-port (live Prometheus metrics)', () => {
  it('idle connections: the scraped counts and the connect histogram equal the final result exactly', { skip: parserMissing }, async () => {
    const { run, url } = await startWithMetrics(['-c', '40', '--rate', '0', '-d', '3s']);
    let metrics: Scrape = new Map();
    await eventually(async () => {
      metrics = await scrape(url);
      return value(metrics, BLAST_METRICS.phase, { phase: 'run' }) === 1;
    }, 15_000, 'the run phase on /metrics');
    // The ramp is over: what it measured no longer changes.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    metrics = await scrape(url);
    const { code } = await run.exited;
    assert.equal(code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as GatedResult;
    assert.equal(value(metrics, BLAST_METRICS.open), 40);
    assert.equal(value(metrics, BLAST_METRICS.target), 40);
    assert.equal(value(metrics, BLAST_METRICS.attempts, { outcome: 'accepted' }), result.outcomes.accepted);
    assert.equal(value(metrics, BLAST_METRICS.attempts, { outcome: 'failed' }), result.outcomes.failed.total);
    assert.equal(value(metrics, BLAST_METRICS.messages, { direction: 'sent' }), 0);
    const connect = histogram(metrics, BLAST_METRICS.connect);
    const final = decodeHistogram(result.histograms.connect_us);
    assert.equal(connect.count, final.totalCount, 'one handshake per accepted connection, as in the result');
    assert.deepEqual(
      connect.buckets.filter(([le]) => le !== Infinity).map(([, n]) => n),
      countsAtOrBelow(final, LATENCY_BUCKETS_S.map((s) => s * 1e6)),
      "the buckets are the result's histogram's",
    );
    assert.ok(Math.abs(connect.sum - (final.mean * final.totalCount) / 1e6) < 1e-3);
    assert.equal(value(metrics, BLAST_METRICS.processes), result.plan.workers);
    const cpu = value(metrics, BLAST_METRICS.cpu, { process: '0' });
    assert.ok(cpu >= 0 && cpu < 4, `cpu ratio ${cpu}`);
  });

  it('under echo traffic: counters only grow, buckets are cumulative, and none passes the final result', { skip: parserMissing }, async () => {
    const { run, url } = await startWithMetrics(['-c', '20', '-d', '5s']);
    const scrapes: Scrape[] = [];
    // Client processes report once a second: scrapes a second apart see the run move on.
    let last = 0;
    await eventually(async () => {
      if (Date.now() - last < 1100) return false;
      const metrics = await scrape(url);
      if (value(metrics, BLAST_METRICS.phase, { phase: 'run' }) === 1) {
        scrapes.push(metrics);
        last = Date.now();
      }
      return scrapes.length >= 3;
    }, 20_000, 'three scrapes during the run');
    const { code } = await run.exited;
    assert.equal(code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as GatedResult;
    const sent = scrapes.map((m) => value(m, BLAST_METRICS.messages, { direction: 'sent' }));
    const received = scrapes.map((m) => value(m, BLAST_METRICS.messages, { direction: 'received' }));
    assert.deepEqual(sent, [...sent].sort((a, b) => a - b), 'sent only grows');
    assert.deepEqual(received, [...received].sort((a, b) => a - b), 'received only grows');
    assert.ok(sent.at(-1)! > 0 && sent.at(-1)! <= result.messages.sent);
    assert.ok(received.at(-1)! <= result.messages.received);
    for (const metrics of scrapes) {
      const rtt = histogram(metrics, BLAST_METRICS.rtt);
      const counts = rtt.buckets.map(([, n]) => n);
      assert.deepEqual(counts, [...counts].sort((a, b) => a - b), 'cumulative buckets');
      assert.equal(counts.at(-1), rtt.count, '+Inf holds every observation');
      assert.ok(rtt.count <= result.latency.roundTrip.count + result.latency.phases.ramp.roundTrip.count);
      assert.ok(rtt.count <= value(metrics, BLAST_METRICS.messages, { direction: 'received' }), 'a round trip per echo received, at most');
    }
  });

  it('countsAtOrBelow counts exactly what was recorded at or under each bound', () => {
    const values = createHistogram();
    const samples = [1, 400, 499, 500, 501, 999, 1000, 1001, 2_400, 2_600, 30_000_000, 40_000_000];
    for (const us of samples) recordUs(values, us);
    const bounds = [500, 1000, 2500, 30_000_000];
    // HDR buckets are exact below 2048 µs; above, a value counts under a bound when its bucket's top
    // does: 30 s itself lies in a bucket 16 ms wide whose top is past 30 s, so it counts above it.
    assert.deepEqual(countsAtOrBelow(values, bounds), [4, 7, 9, 10]);
    assert.deepEqual(countsAtOrBelow(createHistogram(), bounds), [0, 0, 0, 0]);
  });

  it('a port that is taken is refused before any connection (exit 1, one line)', async () => {
    const { createServer } = await import('node:net');
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as { port: number }).port;
    const run = runCli(['blast', '--own-server', '-c', '5', '--metrics-port', String(port), '--metrics-host', '127.0.0.1', '--no-save']);
    const { code } = await run.exited;
    holder.close();
    assert.equal(code, 1);
    assert.match(run.stderr, new RegExp(`^wsbench: --metrics-port: cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)$`, 'm'));
    const bad = runCli(['blast', '--own-server', '--metrics-port', '70000']);
    assert.equal((await bad.exited).code, 2);
    assert.match(bad.stderr, /--metrics-port: "70000" is not valid; expected an integer from 0 to 65535/);
  });
});
