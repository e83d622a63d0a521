import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveBlastConfig, parseSourceAddresses } from '../src/config/blast-config.js';
import { ConfigError } from '../src/config/errors.js';
import { resolveServeConfig, serveDefaults } from '../src/config/serve-config.js';
import { BLAST_OPTIONS, blastDefaults } from '../src/config/blast-options.js';
import { optionKey, planOf } from '../src/config/option-table.js';
import { parseCount, parseDurationMs, parseSizeBytes } from '../src/config/units.js';
import { planServe } from '../src/limits/serve-plan.js';
import { planBlast } from '../src/limits/blast-plan.js';
import { splitExact, splitRate } from '../src/limits/split.js';

describe('units', () => {
  it('reads human counts, durations and sizes', () => {
    assert.equal(parseCount('50k'), 50_000);
    assert.equal(parseCount('1.5m'), 1_500_000);
    assert.equal(parseDurationMs('30s'), 30_000);
    assert.equal(parseDurationMs('250ms'), 250);
    assert.equal(parseDurationMs('2m'), 120_000);
    assert.equal(parseDurationMs('3'), 3000);
    assert.equal(parseSizeBytes('1mb'), 1_048_576);
    assert.equal(parseSizeBytes('4kb'), 4096);
    assert.ok(Number.isNaN(parseCount('lots')));
    assert.ok(Number.isNaN(parseDurationMs('5 fortnights')));
  });
});

describe('config validation', () => {
  it('names the option, the value and what is allowed', () => {
    assert.throws(() => resolveServeConfig({ max: '-1' }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /^--max: "-1" is not valid; expected an integer from 1 to/);
      assert.equal(error.exitCode, 2);
      return true;
    });
    assert.throws(() => resolveServeConfig({ overflow: 'drop' }), /--overflow: "drop" is not valid; expected one of reject, queue/);
    assert.throws(() => resolveServeConfig({ workers: '0' }), /--workers: "0"/);
    assert.throws(() => resolveServeConfig({ path: 'ws' }), /--path: "ws" is not valid; expected a path that starts with \//);
    assert.throws(() => resolveBlastConfig({ url: 'http://x' }), /url: "http:\/\/x" is not valid; expected a ws:\/\/ or wss:\/\/ URL/);
    assert.throws(() => resolveBlastConfig({ connections: '0' }), /-c, --connections: "0"/);
    assert.throws(() => resolveBlastConfig({ header: ['no colon'] }), /--header: "no colon"/);
  });

  it('fills documented defaults and freezes the result', () => {
    const config = resolveServeConfig({});
    assert.equal(config.max, 10_000);
    assert.equal(config.overflow, 'reject');
    assert.equal(config.heartbeatMs, 30_000);
    assert.ok(Object.isFrozen(config));
    assert.equal(resolveServeConfig({ heartbeat: '0' }).heartbeatMs, 0);
    assert.equal(resolveBlastConfig({ size: '1kb' }).payload.length, 1024);
  });

  it("fills the option tables' defaults: every serve default is its config field's value", () => {
    const config = resolveServeConfig({}) as unknown as Record<string, unknown>;
    for (const [field, value] of Object.entries(serveDefaults)) assert.equal(config[field], value, field);
    const blast = resolveBlastConfig({});
    for (const field of ['connections', 'durationMs', 'connectRate', 'maxHandshakes', 'connectTimeoutMs', 'pipeline', 'publishers', 'protocol', 'lifetimeJitter', 'reconnectMinMs', 'reconnectMaxMs', 'barrierTimeoutMs', 'metricsHost', 'maxPayloadBytes'] as const) {
      assert.equal(blast[field], blastDefaults[field], field);
    }
    assert.equal(blast.payload.length, blastDefaults.sizeBytes);
    assert.equal(blast.reconnectJitter, blastDefaults.reconnectJitter === 'full');
  });

  it("sends every client process the table's plan entries as the config holds them", () => {
    // The plan options that go together, each given a value other than its default: the plan must
    // carry exactly the table's plan fields, with the config's values.
    const config = resolveBlastConfig({
      rampTraffic: true, connectTimeout: '3s', rate: '5', binary: true, message: 'hi {{seq}}',
      lifetime: '2s', lifetimeJitter: '20%', reconnect: true, reconnectMin: '50ms', reconnectMax: '2s', maxPayload: '2mb',
    });
    const plan = planOf(BLAST_OPTIONS, config) as unknown as Record<string, unknown>;
    const fields = BLAST_OPTIONS.filter((spec) => 'plan' in spec).map((spec) => ('config' in spec ? spec.config : optionKey(spec)));
    assert.deepEqual(Object.keys(plan), fields);
    assert.equal(fields.length, 17);
    for (const field of fields) {
      assert.ok(field in config, `${field} is a field of the config`);
      assert.equal(plan[field], (config as unknown as Record<string, unknown>)[field], field);
    }
    assert.deepEqual(
      [plan.rampTraffic, plan.connectTimeoutMs, plan.rate, plan.binary, plan.message, plan.lifetimeMs, plan.lifetimeJitter, plan.reconnect, plan.reconnectMinMs, plan.reconnectMaxMs, plan.maxPayloadBytes],
      [true, 3000, 5, true, 'hi {{seq}}', 2000, 0.2, true, 50, 2000, 2 * 1024 * 1024],
    );
    // --messages cannot go with --lifetime: on its own.
    assert.equal(planOf(BLAST_OPTIONS, resolveBlastConfig({ messages: '7' })).messages, 7);
  });

  it('errors from the option tables name the option as before', () => {
    assert.throws(() => resolveServeConfig({ port: '70000' }), /^ConfigError: --port: "70000" is not valid; expected an integer from 0 to 65535/);
    assert.throws(() => resolveServeConfig({ workers: '0' }), /^ConfigError: --workers: "0" is not valid; expected an integer from 1 to 256/);
    assert.throws(() => resolveServeConfig({ mode: 'x' }), /^ConfigError: --mode: "x" is not valid; expected one of echo, reply, broadcast$/);
    assert.throws(() => resolveBlastConfig({ size: 'big' }), /^ConfigError: --size: "big" is not valid; expected a size from 0 to 67108864 bytes/);
    assert.throws(() => resolveBlastConfig({ duration: 'soon' }), /^ConfigError: -d, --duration: "soon" is not valid; expected a duration from 0ms to 24d/);
    assert.throws(() => resolveBlastConfig({ reconnect: true, reconnectJitter: 'some' }), /^ConfigError: --reconnect-jitter: "some" is not valid; expected one of full, none$/);
    assert.throws(() => resolveBlastConfig({ metricsPort: '-1' }), /^ConfigError: --metrics-port: "-1" is not valid; expected an integer from 0 to 65535/);
  });

  it('reads source address lists and ranges', () => {
    assert.deepEqual(parseSourceAddresses('127.0.0.2-127.0.0.4,127.0.1.9'), ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.1.9']);
    assert.throws(() => parseSourceAddresses('127.0.0.9-127.0.0.2'), /--source-ip/);
  });
});

describe('exact split', () => {
  it('shares add up to the total, remainder spread, none lost', () => {
    for (const [total, parts] of [[50_000, 3], [7, 7], [3, 5], [100, 1], [0, 4], [19_999, 6]] as const) {
      const shares = splitExact(total, parts);
      assert.equal(shares.length, parts);
      assert.equal(shares.reduce((a, b) => a + b, 0), total);
      assert.ok(Math.max(...shares) - Math.min(...shares) <= 1);
    }
    const rates = splitRate(1000, 3);
    assert.equal(rates.reduce((a, b) => a + b, 0), 1000);
  });
});

describe('process plans', () => {
  it('serve: sizes workers from the fd limit and refuses too few with the numbers', () => {
    const plan = planServe(50_000, undefined, 20_000, 2);
    assert.equal(plan.workers, 3);
    assert.equal(plan.perWorkerCapacity, 19_488);
    assert.throws(() => planServe(50_000, 2, 20_000, 2), /--workers: 2 is not valid; --max 50000 needs at least 3 worker processes: each may hold 19488 connections \(open-file limit 20000/);
    assert.equal(planServe(100, undefined, 20_000, 2).workers, 2);
  });

  it('blast: one source address per process, exact shares, random per run', () => {
    const config = resolveBlastConfig({ url: 'ws://127.0.0.1:9/ws', connections: '50k' });
    const plan = planBlast(config, new URL(config.url!), 20_000, 2);
    assert.equal(plan.workers, 3);
    assert.equal(plan.shares.reduce((a, s) => a + s.connections, 0), 50_000);
    assert.equal(plan.sourceMode, 'auto-loopback');
    assert.equal(new Set(plan.sourceAddresses).size, plan.sourceAddresses.length);
    for (const address of plan.sourceAddresses) assert.match(address, /^127\./);
    assert.ok(!plan.sourceAddresses.includes('127.0.0.1'));
    const again = planBlast(config, new URL(config.url!), 20_000, 2);
    assert.notDeepEqual(again.sourceAddresses, plan.sourceAddresses);
    assert.throws(
      () => planBlast({ ...config, workers: 2 }, new URL(config.url!), 20_000, 2),
      /--workers: 2 is not valid; -c 50000 needs at least 3 client processes/,
    );
  });

  it('blast: refuses a plan whose listed source pairs cannot hold the connections', () => {
    const config = resolveBlastConfig({ url: 'ws://127.0.0.1:9/ws', connections: '60k', sourceIp: '127.0.0.2', workers: 4 });
    assert.throws(() => planBlast(config, new URL(config.url!), 20_000, 2), /--source-ip: "127.0.0.2" is not valid; client process 0 has \d+ source \(address, port\) pairs for 15000 connections/);
  });
});
