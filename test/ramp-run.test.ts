/**
 * blast's phases and the engine rules around them, with real servers on loopback: ramp then run,
 * --ramp-traffic, per-phase histograms, messages unanswered at the end, connect timeouts that the
 * client's own stalls explain, and the engine's timers.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { WebSocketServer } from 'ws';
import type { LoadGenerator } from '../src/blast/load-generator.js';
import { buildRequestHead, WsConnection, type ConnectionEvents } from '../src/blast/ws-connection.js';
import { blast } from '../src/index.js';
import { decodeHistogram } from '../src/metrics/histogram.js';
import { serve } from '../src/serve/server.js';
import { generatorFor } from './helpers/generator.js';
import { blackholeServer, silentServer, upgradeAnswer } from './helpers/servers.js';


const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
function blockFor(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // this process stalls
  }
}
async function rampDone(generator: LoadGenerator): Promise<void> {
  while (!generator.rampDone) await sleep(5);
}

/** A ws server that answers each upgrade only after `delayMs`. */
async function slowHandshakeServer(delayMs: number): Promise<{ url: string; close(): Promise<void> }> {
  const wss = new WebSocketServer({
    port: 0,
    host: '127.0.0.1',
    perMessageDeflate: false,
    verifyClient: (_info, done) => setTimeout(() => done(true), delayMs),
  });
  await once(wss, 'listening');
  return {
    url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`,
    close: () =>
      new Promise((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => resolve());
      }),
  };
}

describe('blast phases: ramp, then run', () => {
  it('by default no message is sent during the ramp; the run histogram holds every round trip', async () => {
    const server = await serve({ port: 0, max: 1000, workers: 1 });
    try {
      // A paced ramp (200 connections at 400/s) lasts ~0.5 s: long enough for echoes, were any sent.
      const result = await blast({ url: server.url, connections: 200, connectRate: 400, duration: '500ms', workers: 1 });
      assert.equal(result.outcomes.accepted, 200);
      assert.equal(result.messages.receivedDuringRamp, 0);
      assert.equal(result.latency.phases.ramp.roundTrip.count, 0);
      assert.ok(result.latency.phases.run.roundTrip.count > 200);
      assert.deepEqual(result.latency.roundTrip, result.latency.phases.run.roundTrip, 'the headline is the run');
      assert.equal(decodeHistogram(result.histograms.roundTripRamp_us).totalCount, 0);
      assert.ok(result.rampMs! >= 400, `ramp ${result.rampMs} ms`);
      assert.ok(result.runMs! >= 450 && result.runMs! < 2000, `run ${result.runMs} ms`);
      assert.equal(result.endReason, 'duration');
    } finally {
      await server.close();
    }
  });

  it('--ramp-traffic sends from each open; the phase histograms add up to every message sent', async () => {
    const server = await serve({ port: 0, max: 1000, workers: 1 });
    try {
      const result = await blast({ url: server.url, connections: 200, connectRate: 400, duration: '500ms', workers: 1, rampTraffic: true });
      assert.equal(result.outcomes.accepted, 200);
      assert.equal(result.outcomes.dropped.total, 0);
      const { ramp, run } = result.latency.phases;
      assert.ok(ramp.roundTrip.count > 0, 'round trips during the ramp');
      assert.equal(result.messages.receivedDuringRamp, ramp.roundTrip.count);
      // Every message sent is in exactly one phase's histogram: echoed, or unanswered at the end.
      assert.equal(ramp.roundTrip.count + run.roundTrip.count, result.messages.sent);
      assert.equal(result.messages.sent, result.messages.received + result.messages.unanswered);
      assert.equal(decodeHistogram(result.histograms.roundTripRamp_us).totalCount, ramp.roundTrip.count);
      assert.equal(decodeHistogram(result.histograms.roundTrip_us).totalCount, run.roundTrip.count);
      // Only the timing of traffic changes: the run's throughput is still the run's.
      assert.ok(result.messages.perSecond > 0);
      assert.equal(result.config.rampTraffic, true);
    } finally {
      await server.close();
    }
  });
});

describe('engine rules', () => {
  it('paced messages still unanswered when the run ends are recorded as round trips of at least their age', async () => {
    const server = await silentServer();
    try {
      const generator = generatorFor(server.url, { rate: 20 });
      generator.start();
      await rampDone(generator);
      generator.startRun();
      await sleep(1000);
      const snapshot = await generator.stop();
      await generator.close();
      const { messagesSent, messagesReceived, unanswered } = snapshot.counters;
      assert.equal(messagesReceived, 0);
      assert.ok(messagesSent >= 30, `sent ${messagesSent}`);
      assert.equal(unanswered, messagesSent);
      const run = decodeHistogram(snapshot.runRoundTripHistogram);
      assert.equal(run.totalCount, messagesSent, 'one round trip per unanswered message');
      // The oldest went out ~1 s before the end (its first interval starts at a random point).
      assert.ok(run.maxValue >= 850_000, `max ${run.maxValue} µs`);
    } finally {
      await server.close();
    }
  });

  it('closed loop: the message in flight at the end is recorded too, and nothing after the end is counted', async () => {
    const server = await silentServer();
    try {
      const generator = generatorFor(server.url, {});
      generator.start();
      await rampDone(generator);
      generator.startRun();
      await sleep(300);
      const snapshot = await generator.stop();
      await generator.close();
      assert.equal(snapshot.counters.messagesSent, 2);
      assert.equal(snapshot.counters.unanswered, 2);
      const run = decodeHistogram(snapshot.runRoundTripHistogram);
      assert.equal(run.totalCount, 2);
      assert.ok(run.minNonZeroValue >= 250_000, `min ${run.minNonZeroValue} µs`);
    } finally {
      await server.close();
    }
  });

  it('an answer that arrived while the client stalled past its deadline still counts as accepted', async () => {
    // The server answers after 100 ms; the client is blocked from 30 ms to 700 ms, past its 300 ms
    // connect timeout. The 101 waits unread in the socket: the timeout must not win.
    const server = await slowHandshakeServer(100);
    try {
      const generator = generatorFor(server.url, { connections: 5, connectTimeoutMs: 300, rate: 0 });
      generator.start();
      await sleep(30);
      blockFor(700);
      await rampDone(generator);
      const snapshot = await generator.stop();
      await generator.close();
      assert.equal(snapshot.counters.accepted, 5);
      assert.deepEqual(snapshot.counters.failed, {});
    } finally {
      await server.close();
    }
  });

  it('connect timeouts during which the client itself stalled are counted apart', async () => {
    const server = await blackholeServer();
    try {
      const stalled = generatorFor(server.url, { connections: 4, connectTimeoutMs: 300, rate: 0 });
      stalled.start();
      await sleep(30);
      blockFor(200);
      await rampDone(stalled);
      const a = (await stalled.stop()).counters;
      await stalled.close();
      assert.deepEqual(a.failed, { ETIMEDOUT: 4 });
      assert.equal(a.timeoutsWhileStalled, 4);

      const calm = generatorFor(server.url, { connections: 4, connectTimeoutMs: 300, rate: 0 });
      calm.start();
      await rampDone(calm);
      const b = (await calm.stop()).counters;
      await calm.close();
      assert.deepEqual(b.failed, { ETIMEDOUT: 4 });
      assert.equal(b.timeoutsWhileStalled, 0, 'the server alone was slow');
    } finally {
      await server.close();
    }
  });

  it("the connection's deadline and the engine's pace timer are separate fields", async () => {
    // A server that upgrades, starts the closing handshake, and never closes TCP: the connection
    // arms its close grace while the engine's pace timer is still armed; neither may overwrite the
    // other.
    // allowHalfOpen: Node would otherwise answer the client's FIN with its own at once, the
    // connection would close within a millisecond or two, and the check below would race it.
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => {});
      socket.once('data', (request) => {
        const key = /sec-websocket-key: *(\S+)/i.exec(request.toString('latin1'))?.[1] ?? '';
        socket.write(upgradeAnswer(key));
        setTimeout(() => socket.write(Buffer.from([0x88, 0x02, 0x03, 0xe8])), 20); // close 1000, and no FIN ever
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const events: ConnectionEvents = {
      onOpen: (c) => {
        c.pattern = { timer: setTimeout(() => {}, 10_000) }; // a paced pattern's state (blast/patterns/pacer.ts)
      },
      onRejected: () => {},
      onFailed: () => {},
      onAddressInUse: () => {},
      onMessage: () => {},
      onClosed: () => {},
    };
    const connection = new WsConnection(events);
    try {
      const url = new URL(`ws://127.0.0.1:${(server.address() as { port: number }).port}/`);
      connection.open({ host: '127.0.0.1', port: Number(url.port), requestHead: buildRequestHead(url, {}), subprotocols: [], connectTimeoutMs: 2000, batchWrites: false });
      for (let waited = 0; connection.state !== 'closing' && waited < 3000; waited += 5) await sleep(5);
      assert.equal(connection.state, 'closing');
      const pace = (connection.pattern as { timer: NodeJS.Timeout } | undefined)?.timer;
      assert.ok(pace, 'the engine timer is still there');
      assert.ok(connection.deadline, 'the close grace is armed');
      assert.notEqual(connection.deadline, pace);
      assert.ok(!('timer' in connection), 'no shared timer field');
      clearTimeout(pace);
    } finally {
      connection.destroy();
      server.close();
    }
  });
});
