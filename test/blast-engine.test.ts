/** blast's engine details, through the API with real servers: source pairs, pacing, payloads, headers. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { WebSocketServer } from 'ws';
import { blast, runVerdict, serve } from '../src/index.js';
import { generatorHealth } from '../src/metrics/blast-result.js';
import { generatorWarnings } from '../src/report/generator-advice.js';

async function listenOn(host: string, port: number): Promise<Server> {
  const server = createServer();
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}

describe('blast engine', () => {
  it('skips source (address, port) pairs that are taken instead of failing', async () => {
    const server = await serve({ port: 0, max: 10, workers: 1 });
    // The listed address's first two source ports are taken by listeners.
    const blockers = [await listenOn('127.0.0.77', 1024), await listenOn('127.0.0.77', 1025)];
    try {
      const result = await blast({ url: server.url, connections: 5, duration: '0', sourceIp: '127.0.0.77', rate: 0 });
      assert.equal(result.outcomes.accepted, 5);
      assert.equal(result.outcomes.failed.total, 0);
      assert.equal(result.outcomes.addressRetries, 2);
      assert.equal(result.plan.sourceMode, 'listed');
      assert.deepEqual(result.plan.sourceAddresses, ['127.0.0.77']);
    } finally {
      for (const blocker of blockers) blocker.close();
      await server.close();
    }
  });

  it('--connect-rate paces the ramp', async () => {
    const server = await serve({ port: 0, max: 100, workers: 1 });
    try {
      const result = await blast({ url: server.url, connections: 20, connectRate: 20, duration: '0', rate: 0, workers: 1 });
      assert.equal(result.outcomes.accepted, 20);
      // 20 connections at 20/s: the last may start no earlier than 0.95 s after the first.
      assert.ok(result.rampMs! >= 950, `ramp took ${result.rampMs} ms`);
    } finally {
      await server.close();
    }
  });

  it('sends a payload file, binary frames, extra headers and a subprotocol', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (protocols) => [...protocols][0] ?? false });
    await once(wss, 'listening');
    const seen: { header?: string; protocol?: string; binary?: boolean; data?: Buffer } = {};
    wss.on('connection', (ws, req) => {
      seen.header = req.headers['x-run'] as string;
      seen.protocol = ws.protocol;
      ws.on('message', (data: Buffer, isBinary) => {
        seen.binary = isBinary;
        seen.data = data;
        ws.send(data, { binary: isBinary });
      });
    });
    const file = join(mkdtempSync(join(tmpdir(), 'wsbench-payload-')), 'payload.bin');
    const payload = Buffer.from([1, 2, 3, 250, 0, 7]);
    writeFileSync(file, payload);
    try {
      const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`;
      const result = await blast({ url, connections: 1, messages: 3, payload: file, binary: true, header: ['X-Run: 42'], subprotocol: 'echo.v1' });
      assert.equal(result.messages.received, 3);
      assert.equal(result.messages.mismatched, 0);
      assert.equal(seen.header, '42');
      assert.equal(seen.protocol, 'echo.v1');
      assert.equal(seen.binary, true);
      assert.deepEqual(seen.data, payload);
    } finally {
      await new Promise((resolve) => wss.close(resolve));
    }
  });

  it('wss://: TLS to the server; --insecure accepts a self-signed certificate, without it the check fails', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'wsbench-tls-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
    } catch {
      return t.skip('openssl is not available to make a certificate');
    }
    const https = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) });
    const wss = new WebSocketServer({ server: https });
    wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    https.listen(0, '127.0.0.1');
    await once(https, 'listening');
    try {
      const url = `wss://localhost:${(https.address() as { port: number }).port}/`;
      const trusted = await blast({ url, connections: 3, messages: 10, insecure: true });
      assert.equal(trusted.outcomes.accepted, 3);
      assert.equal(trusted.messages.received, 30);
      assert.equal(trusted.messages.mismatched, 0);
      const checked = await blast({ url, connections: 2, messages: 1 });
      assert.deepEqual(checked.outcomes.failed.byReason, { DEPTH_ZERO_SELF_SIGNED_CERT: 2 });
    } finally {
      wss.close();
      await new Promise((resolve) => https.close(resolve));
    }
  });

  it('an answer that is not the echo is counted as mismatched, never timed or received; nothing matched exits 1', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    wss.on('connection', (ws) => ws.on('message', () => ws.send('something else')));
    try {
      const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`;
      const result = await blast({ url, connections: 2, messages: 4, duration: '1s' });
      // Each connection's first message got 'something else', and the echo it waits for never came.
      assert.equal(result.messages.sent, 2);
      assert.equal(result.messages.received, 0);
      assert.equal(result.messages.mismatched, 2);
      // The histogram holds only the 2 messages still unanswered at the end, at their age then.
      assert.equal(result.messages.unanswered, 2);
      assert.equal(result.latency.roundTrip.count, 2);
      assert.ok(result.latency.roundTrip.min_us >= 900_000, `aged, not timed by a push: min ${result.latency.roundTrip.min_us} µs`);
      assert.equal(runVerdict(result).exitCode, 1);
      assert.ok(generatorWarnings(result).some((w) => /2 messages received were not the echo/.test(w)));
    } finally {
      await new Promise((resolve) => wss.close(resolve));
    }
  });
});

describe("the generator's health", () => {
  const phase = (wallMs: number, cpuPercent: number, eventLoopDelayP99Ms = 1) => ({
    wallMs,
    cpuUs: wallMs * 10 * cpuPercent,
    eventLoopDelayP99Ms,
    eventLoopDelayMaxMs: eventLoopDelayP99Ms,
  });
  const busy = (ramp: ReturnType<typeof phase>, run: ReturnType<typeof phase> | null) => generatorHealth([{ index: 0, ramp, run }]).workers[0]!;

  it('a phase under 500 ms is judged by its event-loop delay alone: a short busy start is not a bottleneck', () => {
    // blast -c 1 -d 0: one connection opened in ~40 ms, at 140% CPU (compilations, the end-of-ramp collection).
    const short = busy(phase(40, 142.7, 26.8), null);
    assert.equal(short.phase, 'ramp');
    assert.equal(short.cpuPercent, 142.7);
    assert.equal(short.busy, false);
    assert.equal(busy(phase(40, 142.7, 80), null).busy, true, 'a stalled event loop counts however short the phase');
  });

  it('a phase of 500 ms or more is busy at 85% CPU or an event-loop delay p99 of 50 ms', () => {
    assert.equal(busy(phase(2000, 95), null).busy, true);
    assert.equal(busy(phase(2000, 60), null).busy, false);
    assert.equal(busy(phase(2000, 60, 55), null).busy, true);
    const run = busy(phase(40, 140), phase(600, 90));
    assert.equal(run.phase, 'run');
    assert.equal(run.busy, true);
    assert.equal(busy(phase(3000, 99), phase(400, 20)).phase, 'ramp', 'a run under 500 ms: the ramp is judged');
  });
});

