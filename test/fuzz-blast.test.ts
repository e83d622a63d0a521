/**
 * The fuzzer pointed the other way: a seeded hostile server answers each of blast's connections with
 * one case drawn from a list (garbage, wrong accept keys, error statuses, protocol violations after
 * the upgrade, resets, silence). blast must end on its own, write a whole result, and count every case
 * in its documented outcome class: the counts per class must equal what the seed drew.
 * Replay a failure with WSBENCH_FUZZ_SEED=<seed>.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { BlastResult } from '../src/metrics/blast-result.js';
import { encodeFrame, Opcode } from '../src/protocol/frame-codec.js';
import { runCliToEnd } from './helpers/cli.js';
import { rawServer, upgradeAnswer } from './helpers/servers.js';

const seed = Number(process.env.WSBENCH_FUZZ_SEED ?? Date.now() % 1_000_000);
const CONNECTIONS = 300;

/** mulberry32: a small seeded PRNG, so a failing draw can be replayed exactly. */
function prng(state: number): () => number {
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Outcome = { kind: 'failed'; reason: string } | { kind: 'rejected'; status: number } | { kind: 'dropped'; code: number } | { kind: 'held' };

interface Case {
  readonly name: string;
  /** Plays the case on a connection whose request head has arrived; returns the outcome blast must count. */
  play(socket: import('node:net').Socket, key: string, random: () => number): Outcome;
}

const frame = (first: number, payload: Buffer, masked = false): Buffer => {
  const bytes = encodeFrame(payload, first & 0x0f, masked);
  bytes[0] = first;
  return bytes;
};

const CASES: readonly Case[] = [
  { name: 'garbage status line', play: (s) => (s.end('HELLO THERE\r\n\r\n'), { kind: 'failed', reason: 'bad-response' }) },
  { name: 'wrong accept key', play: (s) => (s.write(upgradeAnswer('AAAAAAAAAAAAAAAAAAAAAA==')), { kind: 'failed', reason: 'bad-accept-key' }) },
  {
    name: '101 without Upgrade',
    play: (s, key) => (s.write(upgradeAnswer(key).replace('Upgrade: websocket\r\n', '')), { kind: 'failed', reason: 'bad-upgrade-header' }),
  },
  {
    name: 'an error status',
    play: (s, _key, random) => {
      const status = [400, 401, 403, 404, 429, 500, 502, 503][Math.floor(random() * 8)]!;
      s.end(`HTTP/1.1 ${status} No\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      return { kind: 'rejected', status };
    },
  },
  { name: 'RSV bit', play: (s, key) => (s.write(upgradeAnswer(key)), s.write(frame(0xc1, Buffer.from('x'))), { kind: 'dropped', code: 1002 }) },
  { name: 'masked server frame', play: (s, key) => (s.write(upgradeAnswer(key)), s.write(encodeFrame(Buffer.from('x'), Opcode.text, true)), { kind: 'dropped', code: 1002 }) },
  {
    name: 'reserved opcode',
    play: (s, key, random) => {
      const opcode = [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf][Math.floor(random() * 10)]!;
      s.write(upgradeAnswer(key));
      s.write(frame(0x80 | opcode, Buffer.alloc(0)));
      return { kind: 'dropped', code: 1002 };
    },
  },
  { name: 'invalid UTF-8', play: (s, key) => (s.write(upgradeAnswer(key)), s.write(frame(0x81, Buffer.from([0xc3, 0x28]))), { kind: 'dropped', code: 1007 }) },
  {
    name: 'server close with a code',
    play: (s, key, random) => {
      const code = [1000, 1001, 1011, 1013, 4000 + Math.floor(random() * 1000)][Math.floor(random() * 5)]!;
      const body = Buffer.alloc(2);
      body.writeUInt16BE(code);
      s.write(upgradeAnswer(key));
      s.write(frame(0x88, body));
      return { kind: 'dropped', code };
    },
  },
  { name: 'reset after the upgrade', play: (s, key) => (s.write(upgradeAnswer(key), () => setTimeout(() => s.destroy(), 20)), { kind: 'dropped', code: 1006 }) },
  { name: 'never answers', play: () => ({ kind: 'failed', reason: 'ETIMEDOUT' }) },
  {
    name: 'truncated frame, then silence',
    play: (s, key) => (s.write(upgradeAnswer(key)), s.write(Buffer.from([0x81, 0x7e, 0x01])), { kind: 'held' }),
  },
  { name: 'a plain good upgrade', play: (s, key) => (s.write(upgradeAnswer(key)), { kind: 'held' }) },
];

describe(`blast against a seeded hostile server (seed ${seed})`, () => {
  it(`${CONNECTIONS} connections, each a drawn case, each counted in its class`, async () => {
    const random = prng(seed);
    const expected = { failed: {} as Record<string, number>, rejected: {} as Record<string, number>, dropped: {} as Record<string, number>, accepted: 0 };
    const drawn: Record<string, number> = {};
    const server = await rawServer((socket, key) => {
      const chosen = CASES[Math.floor(random() * CASES.length)]!;
      drawn[chosen.name] = (drawn[chosen.name] ?? 0) + 1;
      const outcome = chosen.play(socket, key, random);
      if (outcome.kind === 'failed') expected.failed[outcome.reason] = (expected.failed[outcome.reason] ?? 0) + 1;
      else if (outcome.kind === 'rejected') expected.rejected[outcome.status] = (expected.rejected[outcome.status] ?? 0) + 1;
      else {
        expected.accepted++;
        if (outcome.kind === 'dropped') expected.dropped[outcome.code] = (expected.dropped[outcome.code] ?? 0) + 1;
      }
    });
    const out = join(mkdtempSync(join(tmpdir(), 'wsbench-fuzz-blast-')), 'result.json');
    const replay = `replay with WSBENCH_FUZZ_SEED=${seed}`;
    try {
      const run = await runCliToEnd(['blast', server.url, '-c', String(CONNECTIONS), '--rate', '0', '-d', '1s', '--connect-timeout', '1s', '--workers', '2', '--out', out], {
        timeoutMs: 60_000,
      });
      assert.ok(run.code === 0 || run.code === 1, `blast ended with ${run.code} (${run.signal}); ${replay}\n${run.stderr}`);
      assert.doesNotMatch(run.stderr, /unexpected error|at .*\.js:\d+/, `${replay}\n${run.stderr}`);
      const result = JSON.parse(readFileSync(out, 'utf8')) as BlastResult;
      const { outcomes } = result;
      assert.equal(outcomes.attempted, CONNECTIONS, replay);
      assert.equal(outcomes.attempted, outcomes.accepted + outcomes.rejected.total + outcomes.failed.total, replay);
      const context = `${replay}; drawn ${JSON.stringify(drawn)}`;
      assert.deepEqual(outcomes.failed.byReason, expected.failed, context);
      assert.deepEqual(outcomes.rejected.byStatus, expected.rejected, context);
      assert.equal(outcomes.accepted, expected.accepted, context);
      assert.deepEqual(outcomes.dropped.byCloseCode, expected.dropped, context);
    } finally {
      await server.close();
    }
  });
});
