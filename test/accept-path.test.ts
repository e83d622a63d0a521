/**
 * serve's accept path: many descriptors of one listening socket, a budget that pauses accepting,
 * the primary's logic driven without forking, and, end to end with the real binaries, new
 * connections opening while hundreds of others echo flat out.
 */
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { resolveServeConfig } from '../src/config/serve-config.js';
import type { PrimaryToServeWorker } from '../src/ipc/serve-messages.js';
import { LISTENERS_PER_PROCESS, planServe } from '../src/limits/serve-plan.js';
import type { BlastResult } from '../src/metrics/blast-result.js';
import { duplicateHandle, ListenerSet, type ListeningHandle } from '../src/serve/listener-set.js';
import { ServePrimary } from '../src/serve/primary.js';
import type { WorkerLink } from '../src/serve/worker-pool.js';
import { runCli, runCliToEnd, startServeCli, stop } from './helpers/cli.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sockets this process has open, from /proc (Linux). */
function openSocketCount(): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')) count++;
    } catch {
      // closed meanwhile (the readdir's own descriptor)
    }
  }
  return count;
}

async function connectTo(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

describe('listener set', () => {
  it('duplicates the listening socket into 63 more descriptors, and each one accepts', async () => {
    const accepted: Socket[] = [];
    const listeners = new ListenerSet((socket) => accepted.push(socket));
    const port = await listeners.listen('127.0.0.1', 0);
    const before = openSocketCount();
    const handles = await duplicateHandle(listeners.handle!, LISTENERS_PER_PROCESS - 1);
    assert.equal(handles.length, LISTENERS_PER_PROCESS - 1);
    for (const handle of handles) listeners.add(handle);
    assert.equal(listeners.size, LISTENERS_PER_PROCESS);
    assert.equal(openSocketCount() - before, LISTENERS_PER_PROCESS - 1, 'one new descriptor each');
    const clients = await Promise.all(Array.from({ length: 200 }, () => connectTo(port)));
    while (accepted.length < 200) await sleep(5);
    listeners.close();
    assert.equal(listeners.size, 0);
    for (const socket of [...clients, ...accepted]) socket.destroy();
  });

  it('with a budget, pauses at it (the queue waits in the kernel) and asks for descriptors once there is room', async () => {
    const accepted: Socket[] = [];
    let roomCalls = 0;
    const listeners = new ListenerSet((socket) => accepted.push(socket), { max: 300, onRoom: () => roomCalls++ });
    const port = await listeners.listen('127.0.0.1', 0);
    const clients = await Promise.all(Array.from({ length: 320 }, () => connectTo(port)));
    while (accepted.length < 300) await sleep(5);
    await sleep(100);
    assert.equal(accepted.length, 300, 'nothing accepted past the budget');
    assert.equal(listeners.paused, true);
    assert.equal(listeners.size, 0);
    assert.equal(listeners.open, 300);
    // 255 close: not yet room (resume at 256 below the budget)…
    for (const socket of accepted.slice(0, 255)) socket.destroy();
    await sleep(100);
    assert.equal(roomCalls, 0);
    // …one more, and it asks.
    accepted[255]!.destroy();
    while (roomCalls === 0) await sleep(5);
    assert.equal(listeners.paused, false);
    listeners.close();
    for (const socket of [...clients, ...accepted]) socket.destroy();
  });
});

describe('serve primary (no processes)', () => {
  function fakeWorker(index: number): WorkerLink & { sent: { message: PrimaryToServeWorker; handle?: ListeningHandle }[] } {
    const sent: { message: PrimaryToServeWorker; handle?: ListeningHandle }[] = [];
    return { index, alive: true, sent, send: (message, handle) => sent.push({ message, handle }) };
  }
  const handle: ListeningHandle = { close: () => {} };

  it('hands out descriptors, admits up to the cap, and takes slots back', () => {
    const config = resolveServeConfig({ max: 3, workers: 2 });
    const primary = new ServePrimary(config, planServe(3, 2));
    const workers = [fakeWorker(0), fakeWorker(1)];
    primary.attach(workers);
    primary.listenThrough(handle, workers[0]!);
    const listenerCount = (w: (typeof workers)[number]) => w.sent.filter((s) => s.message.t === 'listener' && s.handle === handle).length;
    assert.equal(listenerCount(workers[0]!), LISTENERS_PER_PROCESS - 1, 'the binder already accepts through one');
    assert.equal(listenerCount(workers[1]!), LISTENERS_PER_PROCESS);

    for (let id = 1; id <= 4; id++) primary.onMessage(workers[id % 2]!, { t: 'acquire', id }, undefined);
    const outcomes = workers.flatMap((w) => w.sent.flatMap((s) => (s.message.t === 'admit' ? [s.message.outcome] : [])));
    assert.deepEqual(outcomes.sort(), ['admitted', 'admitted', 'admitted', 'full']);
    assert.equal(primary.snapshot().open, 3);
    primary.onMessage(workers[1]!, { t: 'release', n: 2 }, undefined);
    assert.equal(primary.snapshot().open, 1);

    primary.onMessage(workers[1]!, { t: 'listeners-wanted', n: 5 }, undefined);
    assert.equal(listenerCount(workers[1]!), LISTENERS_PER_PROCESS + 5);
    primary.close();
    primary.onMessage(workers[1]!, { t: 'listeners-wanted', n: 5 }, undefined);
    assert.equal(listenerCount(workers[1]!), LISTENERS_PER_PROCESS + 5, 'none after close');
  });
});

describe('accepting while busy (real binaries)', () => {
  for (const workers of ['1', '2']) {
    it(`serve --workers ${workers}: 1000 new connections open within a 2 s connect timeout while 800 others echo`, async () => {
      // Before serve accepted through many descriptors, a server echoing for ~1000 busy sockets
      // accepted tens of connections a second and most of these timed out.
      const server = await startServeCli(['--max', '3000', '--workers', workers]);
      try {
        const busy = runCli(['blast', server.url, '-c', '800', '-d', '8s', '--no-save', '--quiet']);
        // Wait until the busy run's traffic flows (its ramp is done), then ramp 1000 more.
        await sleep(2500);
        const fresh = await runCliToEnd(['blast', server.url, '-c', '1000', '--rate', '0', '-d', '0', '--connect-timeout', '2s', '--json', '--no-save']);
        assert.equal(fresh.code, 0, fresh.stderr);
        const result = JSON.parse(fresh.stdout) as BlastResult;
        assert.equal(result.outcomes.accepted, 1000, JSON.stringify(result.outcomes));
        assert.equal(result.outcomes.failed.total, 0);
        const { code } = await busy.exited;
        assert.equal(code, 0, busy.stderr);
        assert.match(busy.stdout, /accepted 800 {2}rejected 0 {2}failed 0/);
      } finally {
        await stop(server);
      }
    });
  }
});
