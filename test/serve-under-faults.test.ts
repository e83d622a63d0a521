/**
 * serve under faults from its clients: cap storms with clients killed at random, peers that go
 * silent, slowloris handshakes, and wss:// with a throwaway certificate. Real processes on loopback.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { BlastResult } from '../src/metrics/blast-result.js';
import type { ServeStats } from '../src/metrics/serve-stats.js';
import { encodeFrame, Opcode } from '../src/protocol/frame-codec.js';
import { runCli, runCliToEnd, startServeCli, stop } from './helpers/cli.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function healthz(url: string): Promise<ServeStats> {
  const response = await fetch(url.replace(/^ws/, 'http').replace(/\/ws$/, '/healthz'));
  return (await response.json()) as ServeStats;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A full --max of new clients is admitted: no slot leaked. */
async function assertFullCapAdmitted(url: string, max: number): Promise<void> {
  const run = await runCliToEnd(['blast', url, '-c', String(max), '--rate', '0', '-d', '0', '--json', '--no-save']);
  const result = JSON.parse(run.stdout) as BlastResult;
  assert.equal(result.outcomes.accepted, max, JSON.stringify(result.outcomes));
}

describe('serve under client faults', () => {
  for (const workers of ['1', '3']) {
    it(`cap storms (--workers ${workers}): 20 rounds at 3x the cap, a client process killed each round; open never exceeds --max`, async () => {
      const max = 200;
      const server = await startServeCli(['--max', String(max), '--workers', workers, '--heartbeat', '0']);
      let peak = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, (await healthz(server.url)).open);
          await sleep(10);
        }
      })();
      try {
        for (let round = 0; round < 20; round++) {
          const clients = [0, 1, 2].map(() => runCli(['blast', server.url, '-c', String(max), '--rate', '0', '-d', '300ms', '--json', '--no-save']));
          // One of them is killed, with everything it holds, at a random moment.
          await sleep(100 + Math.floor(Math.random() * 400));
          // (Its client processes lose their coordinator and exit at once, sockets and all.)
          const victim = clients[round % 3]!;
          victim.child.kill('SIGKILL');
          const exits = await Promise.all(clients.map((c) => c.exited));
          let acceptedByClients = 0;
          for (const [i, c] of clients.entries()) {
            if (c === victim || exits[i]!.code !== 0) continue;
            acceptedByClients += (JSON.parse(c.stdout) as BlastResult).outcomes.accepted;
          }
          assert.ok(acceptedByClients <= max * 2, `round ${round}: ${acceptedByClients} accepted by the two survivors`);
          await until(`round ${round}: open back to 0`, async () => (await healthz(server.url)).open === 0, 20_000);
        }
        sampling = false;
        await sampler;
        assert.ok(peak <= max, `open peaked at ${peak}, over --max ${max}`);
        assert.ok(peak > 0);
        await assertFullCapAdmitted(server.url, max);
      } finally {
        sampling = false;
        await stop(server);
      }
    });
  }

  it('a peer that goes silent (its process stopped): the heartbeat frees its slots', async () => {
    const server = await startServeCli(['--max', '100', '--workers', '1', '--heartbeat', '500ms']);
    const holder = runCli(['blast', server.url, '-c', '100', '--rate', '0', '-d', '60s', '--no-save', '--quiet']);
    try {
      await until('100 open', async () => (await healthz(server.url)).open === 100);
      // Stop the client process and its children: their sockets stay open but nobody answers pings.
      const pids = [holder.child.pid!, ...childrenOf(holder.child.pid!)];
      for (const pid of pids) process.kill(pid, 'SIGSTOP');
      await until('the silent peers terminated', async () => (await healthz(server.url)).open === 0, 10_000);
      for (const pid of pids) process.kill(pid, 'SIGCONT');
      await assertFullCapAdmitted(server.url, 100);
    } finally {
      holder.child.kill('SIGKILL');
      await stop(server);
    }
  });

  it('slowloris: 5000 half-sent upgrades hold no slot, are closed at the handshake timeout, and real clients are served meanwhile', async () => {
    const server = await startServeCli(['--max', '100', '--workers', '1', '--handshake-timeout', '1s']);
    const port = Number(new URL(server.url).port);
    const slow: Socket[] = [];
    let closed = 0;
    try {
      for (let i = 0; i < 5000; i++) {
        const socket = connect({ host: '127.0.0.1', port });
        socket.on('error', () => {});
        socket.on('close', () => closed++);
        socket.on('connect', () => socket.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n'));
        slow.push(socket);
      }
      const run = await runCliToEnd(['blast', server.url, '-c', '150', '--rate', '0', '-d', '0', '--json', '--no-save']);
      const result = JSON.parse(run.stdout) as BlastResult;
      assert.equal(result.outcomes.accepted, 100, JSON.stringify(result.outcomes));
      assert.deepEqual(result.outcomes.rejected.byStatus, { 503: 50 });
      assert.equal(result.outcomes.failed.total, 0);
      await until('every half-sent upgrade closed by the server', async () => closed === 5000, 20_000);
      const stats = await healthz(server.url);
      assert.ok(stats.handshakeTimeouts >= 5000, `handshake timeouts ${stats.handshakeTimeouts}`);
      assert.equal(stats.open, 0);
    } finally {
      for (const socket of slow) socket.destroy();
      await stop(server);
    }
  });

  for (const workers of ['1', '2']) {
    it(`wss:// (--workers ${workers}): serve --tls-cert/--tls-key with a throwaway certificate, blast verifies or --insecure`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'wsbench-tls-'));
      const cert = join(dir, 'cert.pem');
      const key = join(dir, 'key.pem');
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
      const server = await startServeCli(['--max', '100', '--workers', workers, '--tls-cert', cert, '--tls-key', key]);
      try {
        assert.match(server.url, /^wss:\/\//);
        const insecure = await runCliToEnd(['blast', server.url, '-c', '50', '-d', '1s', '--insecure', '--json', '--no-save']);
        assert.equal(insecure.code, 0, insecure.stderr);
        const ok = JSON.parse(insecure.stdout) as BlastResult;
        assert.equal(ok.outcomes.accepted, 50);
        assert.ok(ok.messages.received > 0);
        assert.equal(ok.messages.mismatched, 0);
        const verified = await runCliToEnd(['blast', server.url, '-c', '5', '-d', '0', '--json', '--no-save']);
        const refused = JSON.parse(verified.stdout) as BlastResult;
        assert.equal(refused.outcomes.accepted, 0);
        assert.equal(refused.outcomes.failed.total, 5, 'a self-signed certificate does not verify');
      } finally {
        await stop(server);
      }
    });
  }
});

function childrenOf(pid: number): number[] {
  try {
    const direct = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
    return direct.flatMap((child) => [child, ...childrenOf(child)]);
  } catch {
    return [];
  }
}

describe('serve under overload', () => {
  it('a client that sends and never reads: serve stops reading it (memory bounded), and the heartbeat closes it', async () => {
    const server = await startServeCli(['--max', '10', '--workers', '1', '--heartbeat', '1s']);
    const port = Number(new URL(server.url).port);
    const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))?.[1]);
    try {
      const before = rssKb();
      const socket = connect({ host: '127.0.0.1', port });
      socket.on('error', () => {});
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`);
      await new Promise((resolve) => socket.once('data', resolve));
      socket.pause(); // never read again: every echo stays queued on the server's side
      // Send 64 KiB messages while the server takes them; stop when it has not taken any for 1 s.
      const frame = encodeFrame(Buffer.alloc(64 * 1024, 7), Opcode.binary, true);
      let sent = 0;
      for (;;) {
        if (socket.write(frame)) {
          sent += frame.length;
          if (sent > 512 * 1024 * 1024) break;
          continue;
        }
        sent += frame.length;
        const drained = await Promise.race([new Promise((resolve) => socket.once('drain', () => resolve(true))), sleep(1000).then(() => false)]);
        if (!drained || socket.destroyed) break;
      }
      const peakGrowthMb = (rssKb() - before) / 1024;
      assert.ok(sent < 256 * 1024 * 1024, `the server kept reading: ${Math.round(sent / 1048576)} MiB taken`);
      assert.ok(peakGrowthMb < 64, `serve grew by ${peakGrowthMb.toFixed(1)} MB`);
      await Promise.race([closed, sleep(10_000).then(() => assert.fail('the non-draining connection was not closed'))]);
      assert.equal((await healthz(server.url)).open, 0);
      await assertFullCapAdmitted(server.url, 10);
    } finally {
      await stop(server);
    }
  });
});
