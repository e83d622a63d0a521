/**
 * blast-cpu-vs-tcpkali: client CPU per echoed message, 100 connections, 64 B messages, against the
 * Go echo server (../shared/peers/go-echo; `wsbench serve --workers 1` when Go cannot build it) on
 * core 0, every client on core 1:
 *
 *   tcpkali-flood  tcpkali --ws, no rate: it writes as fast as each socket takes (zero mask key)
 *   blast-flood    wsbench blast --flood --workers 1 (every echo timed from its {{now_us}})
 *   blast-p16      wsbench blast -p 16 --workers 1
 *   blast-p1       wsbench blast -p 1 --workers 1 (closed loop)
 *   blast-p1-portable  the same with WSBENCH_PORTABLE=directWrites,directReads,histogramIndex in
 *                  blast's environment (its client process inherits it): the portable path, public
 *                  Node APIs only; blast-p1 over it is what those fast paths buy
 *   naive-ws       naive-client.ts, closed loop with the ws client
 *   bare-io        bare-io-client.ts: the same closed loop doing nothing but one read and one write
 *                  per message through the paths blast uses, no WebSocket work: the floor, what
 *                  Node's own I/O costs per message here. bare-io/naive-ws is the least any client
 *                  on Node can reach against the closed-loop target; blast-p1 over bare-io is what
 *                  blast's own work adds
 *
 * Headline figure: a steady-state window, the same for every client. Once echoes flow, 1 s later the
 * client's CPU (utime and stime from /proc/PID/stat, summed over the process and its children: for
 * blast the coordinator and its worker) and the bytes its sockets received (`ss -ti`, bytes_received
 * of every connection to the server's port) are read, and again 3 s later. Echoed messages = Δbytes
 * / 66 (a 64 B message in a server frame has a 2-byte header), so no client counts for itself. This
 * leaves out process start-up, the ramp and the close. Also recorded: whole-run CPU (last /proc
 * reading, sampled every 100 ms) over the messages the client itself reports (tcpkali: its received
 * byte count / 66).
 *
 * blast's flood message is given explicitly as 64 bytes (`{"ts":{{now_us}},"pad":"xx…"}`, sized for
 * the digits the clock has now) so that every frame is 66 bytes and the byte count is exact.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { BlastResult } from '../src/metrics/blast-result.js';
import { MessageTemplate } from '../src/message/template.js';
import { interleaved, type Benchmark } from './benchmark.js';
import {
  benchDist, childrenOf, CLIENT_CORE, cpuUs, CpuSampler, fastPathsNote, goEcho, median, parseJsonOutput, portableEnv, repoRoot, REPEATS, round,
  SERVER_CORE, sleep, startNode, startProgram, startServer, startWsbench, stop, table, userCpuUs, verdict, waitExit, waitFor, type FastPaths,
  type ServerUnderTest, type Started,
} from './lib.js';
import type { FastPathName } from '../src/runtime/fast-paths.js';

type ClientKind = 'tcpkali-flood' | 'blast-flood' | 'blast-p16' | 'blast-p1' | 'blast-p1-portable' | 'naive-ws' | 'bare-io';
// blast-p1 and blast-p1-portable stay next to each other whichever way the order runs.
const ALL_KINDS: readonly ClientKind[] = ['tcpkali-flood', 'blast-flood', 'blast-p16', 'blast-p1', 'blast-p1-portable', 'naive-ws', 'bare-io'];
/** The fast paths a blast client process runs, all turned off for blast-p1-portable. */
const BLAST_FAST_PATHS: readonly FastPathName[] = ['directWrites', 'directReads', 'histogramIndex'];
const PORTABLE_BLAST_ENV = portableEnv(BLAST_FAST_PATHS);
const CONNECTIONS = 100;
const MESSAGE_BYTES = 64;
/** A server frame of a 64 B message: 2 bytes of header. */
const FRAME_BYTES = MESSAGE_BYTES + 2;
const RUN_SECONDS = 7;
const SETTLE_MS = 1000;
const WINDOW_MS = 3000;
const FLOOD_TARGET = 1.5;
const CLOSED_LOOP_USER_TARGET = 0.5;
const tcpkaliBinary = join(repoRoot, '..', 'shared', 'peers', 'tcpkali', 'tcpkali');

interface CpuRun {
  repeat: number;
  kind: ClientKind;
  windowMessages: number;
  windowMessagesPerSecond: number;
  /** Client tree CPU (user + system) per echoed message in the window, µs. */
  windowUsPerMessage: number;
  windowUserUsPerMessage: number;
  windowSystemUsPerMessage: number;
  windowCpuPercent: number;
  wholeRunMessages: number;
  wholeRunUsPerMessage: number;
  /** blast: the fast paths its client processes ran (its result's runtime). */
  clientFastPaths?: FastPaths;
}

/** A 64-byte flood message for blast: the clock's digits now, padded. */
function floodMessage(): string {
  const head = '{"ts":{{now_us}},"pad":"';
  const rendered = new MessageTemplate(`${head}"}`, '--message').render({ seq: 1, conn: 0, worker: 0 }).length;
  return `${head}${'x'.repeat(MESSAGE_BYTES - rendered)}"}`;
}

/** Does the tcpkali binary run here? undefined if so, else why not. */
function tcpkaliSkipped(): string | undefined {
  try {
    execFileSync(tcpkaliBinary, ['--version'], { stdio: ['ignore', 'ignore', 'ignore'], timeout: 5000 });
    return undefined;
  } catch (error) {
    return `tcpkali column skipped: ${tcpkaliBinary} --version failed (${(error as Error).message.split('\n')[0]})`;
  }
}

function startClient(kind: ClientKind, server: ServerUnderTest): Started {
  const blast = (extra: readonly string[], env?: Readonly<Record<string, string>>) =>
    startWsbench(
      ['blast', server.url, '-c', String(CONNECTIONS), '-d', `${RUN_SECONDS}s`, '--workers', '1', '--size', String(MESSAGE_BYTES), ...extra, '--json', '--no-save'],
      env ? { core: CLIENT_CORE, env } : { core: CLIENT_CORE },
    );
  switch (kind) {
    case 'tcpkali-flood':
      return startProgram(tcpkaliBinary, ['-w', '1', '--ws', '--nagle', 'off', '-c', String(CONNECTIONS), '-m', 'x'.repeat(MESSAGE_BYTES), '-T', `${RUN_SECONDS}s`, `127.0.0.1:${server.port}/ws`], { core: CLIENT_CORE });
    case 'blast-flood':
      return blast(['--flood', '--message', floodMessage()]);
    case 'blast-p16':
      return blast(['-p', '16']);
    case 'blast-p1':
      return blast(['-p', '1']);
    case 'blast-p1-portable':
      return blast(['-p', '1'], PORTABLE_BLAST_ENV);
    case 'naive-ws':
      return startNode(join(benchDist, 'naive-client.js'), ['echo', server.url, String(CONNECTIONS), String(RUN_SECONDS * 1000), String(MESSAGE_BYTES)], { core: CLIENT_CORE });
    case 'bare-io':
      return startNode(join(benchDist, 'bare-io-client.js'), [server.url, String(CONNECTIONS), String(RUN_SECONDS * 1000), String(MESSAGE_BYTES)], { core: CLIENT_CORE });
  }
}

/** Bytes received by every client socket connected to `port` (ss's bytes_received), summed. */
function bytesReceivedFrom(port: number): number {
  const text = execFileSync('ss', ['-tinH', 'state', 'established', 'dport', `= :${port}`], { encoding: 'utf8' });
  let total = 0;
  for (const match of text.matchAll(/bytes_received:(\d+)/g)) total += Number(match[1]);
  return total;
}

/** CPU of a process and its children, µs: total and user-mode. */
function treeCpu(pid: number): { total: number; user: number } {
  const pids = [pid, ...childrenOf(pid)];
  return {
    total: pids.reduce((sum, p) => sum + (cpuUs(p) ?? 0), 0),
    user: pids.reduce((sum, p) => sum + (userCpuUs(p) ?? 0), 0),
  };
}

/** Messages the client itself counted over the whole run. */
function reportedMessages(kind: ClientKind, client: Started): number {
  if (kind === 'tcpkali-flood') {
    const match = /Total data received:.*\((\d+) bytes\)/.exec(client.stdout() + client.stderr());
    if (!match) throw new Error(`tcpkali printed no received byte count: ${client.stdout().slice(-500)}`);
    return Number(match[1]) / FRAME_BYTES;
  }
  if (kind === 'naive-ws' || kind === 'bare-io') return parseJsonOutput<{ totalMessages: number }>(client).totalMessages;
  return parseJsonOutput<BlastResult>(client).messages.received;
}

export const blastCpuVsTcpkali: Benchmark = {
  name: 'blast-cpu-vs-tcpkali',
  description: 'client CPU per echoed message, 100 connections, 64 B: tcpkali flood, blast --flood, -p 16, -p 1 (fast paths and portable), naive ws client, bare I/O floor',
  async run() {
    const skipped: string[] = [];
    const go = goEcho();
    if (!go.binary) skipped.push(`${go.skipped}; against wsbench serve --workers 1 instead`);
    const tcpkaliWhyNot = tcpkaliSkipped();
    if (tcpkaliWhyNot) skipped.push(tcpkaliWhyNot);
    // BLAST_CPU_CLIENTS=blast-p1,naive-ws runs only those columns (a ratio with a column left out is null);
    // a name it does not know stops the run rather than leave a column out unnoticed.
    const names = process.env.BLAST_CPU_CLIENTS?.split(',').map((name) => name.trim()).filter((name) => name !== '');
    const only = names?.length ? names : undefined;
    const unknownClients = only?.filter((name) => !(ALL_KINDS as readonly string[]).includes(name)) ?? [];
    if (unknownClients.length) throw new Error(`BLAST_CPU_CLIENTS: unknown ${unknownClients.join(', ')}; known: ${ALL_KINDS.join(', ')}`);
    const kinds = ALL_KINDS.filter((kind) => (kind !== 'tcpkali-flood' || !tcpkaliWhyNot) && (!only || only.includes(kind)));
    const runs: CpuRun[] = [];
    const commands = new Set<string>();
    for (const { repeat, kind } of interleaved(kinds, REPEATS)) {
      const server = go.binary
        ? await startServer('go-echo', ['-max', '1000'], { core: SERVER_CORE })
        : await startServer('wsbench', ['--workers', '1', '--max', '1000'], { core: SERVER_CORE });
      commands.add(server.process.command);
      try {
        const client = startClient(kind, server);
        commands.add(client.command);
        const sampler = new CpuSampler(client.pid, 100);
        try {
          await waitFor('the first echoes', 20_000, () => bytesReceivedFrom(server.port) > 0);
          await sleep(SETTLE_MS);
          const cpuA = treeCpu(client.pid);
          const bytesA = bytesReceivedFrom(server.port);
          const timeA = performance.now();
          await sleep(WINDOW_MS);
          const cpuB = treeCpu(client.pid);
          const bytesB = bytesReceivedFrom(server.port);
          const windowMs = performance.now() - timeA;
          const { code } = await waitExit(client, 60_000);
          sampler.stop();
          if (code !== 0) throw new Error(`${client.command} exited ${code}: ${client.stderr().slice(-500)}`);
          const windowMessages = (bytesB - bytesA) / FRAME_BYTES;
          const wholeRunMessages = reportedMessages(kind, client);
          runs.push({
            repeat,
            kind,
            windowMessages: Math.round(windowMessages),
            windowMessagesPerSecond: Math.round((windowMessages * 1000) / windowMs),
            windowUsPerMessage: round((cpuB.total - cpuA.total) / windowMessages, 3),
            windowUserUsPerMessage: round((cpuB.user - cpuA.user) / windowMessages, 3),
            windowSystemUsPerMessage: round((cpuB.total - cpuB.user - (cpuA.total - cpuA.user)) / windowMessages, 3),
            windowCpuPercent: round(((cpuB.total - cpuA.total) / (windowMs * 1000)) * 100),
            wholeRunMessages: Math.round(wholeRunMessages),
            wholeRunUsPerMessage: round(sampler.totalUs() / wholeRunMessages, 3),
            clientFastPaths: kind.startsWith('blast-') ? parseJsonOutput<BlastResult>(client).runtime?.fastPaths : undefined,
          });
        } finally {
          sampler.stop();
          await stop(client, kind === 'tcpkali-flood' ? 'SIGINT' : 'SIGTERM');
        }
      } finally {
        await stop(server.process);
      }
    }
    const of = (kind: ClientKind, key: keyof CpuRun) => median(runs.filter((r) => r.kind === kind).map((r) => r[key] as number));
    const floodRatio = of('blast-flood', 'windowUsPerMessage') / of('tcpkali-flood', 'windowUsPerMessage');
    const closedLoopUserRatio = of('blast-p1', 'windowUserUsPerMessage') / of('naive-ws', 'windowUserUsPerMessage');
    // The floor: what a client doing no WebSocket work at all gets against the same target, and what blast adds to it.
    const floorUserRatio = of('bare-io', 'windowUserUsPerMessage') / of('naive-ws', 'windowUserUsPerMessage');
    const blastOverFloorUser = of('blast-p1', 'windowUserUsPerMessage') / of('bare-io', 'windowUserUsPerMessage');
    // Fast over portable: below 1, the fast paths save that share of the CPU per echoed message.
    const fastOverPortableUser = of('blast-p1', 'windowUserUsPerMessage') / of('blast-p1-portable', 'windowUserUsPerMessage');
    const fastOverPortableTotal = of('blast-p1', 'windowUsPerMessage') / of('blast-p1-portable', 'windowUsPerMessage');
    const clientFastPaths = (kind: ClientKind) => runs.filter((r) => r.kind === kind).map((r) => r.clientFastPaths);
    const fastPathNotes =
      fastPathsNote('blast-p1', clientFastPaths('blast-p1'), BLAST_FAST_PATHS, true) +
      fastPathsNote('blast-p1-portable', clientFastPaths('blast-p1-portable'), BLAST_FAST_PATHS, false);
    const keys: (keyof CpuRun)[] = [
      'windowUsPerMessage', 'windowUserUsPerMessage', 'windowSystemUsPerMessage', 'windowMessagesPerSecond', 'windowCpuPercent', 'wholeRunUsPerMessage',
    ];
    const perClient = Object.fromEntries(kinds.map((kind) => [kind, Object.fromEntries(keys.map((key) => [`${key}Median`, of(kind, key)]))]));
    const floodMet = floodRatio <= FLOOD_TARGET;
    const closedLoopMet = closedLoopUserRatio <= CLOSED_LOOP_USER_TARGET;
    const figures = {
      server: go.binary ? 'go-echo' : 'wsbench serve --workers 1',
      skipped,
      ...perClient,
      ratioBlastFloodToTcpkali: Number.isFinite(floodRatio) ? round(floodRatio, 3) : null,
      floodTarget: `blast --flood <= ${FLOOD_TARGET}x tcpkali flood, CPU (user + system) per echoed message`,
      floodMet: Number.isFinite(floodRatio) ? floodMet : null,
      ratioBlastP1UserToNaiveUser: Number.isFinite(closedLoopUserRatio) ? round(closedLoopUserRatio, 3) : null,
      closedLoopTarget: `blast -p 1 <= ${CLOSED_LOOP_USER_TARGET}x naive ws client, user CPU per echoed message`,
      closedLoopMet: Number.isFinite(closedLoopUserRatio) ? closedLoopMet : null,
      blastP1SystemUsPerMessageMedian: of('blast-p1', 'windowSystemUsPerMessage'),
      ratioBareIoUserToNaiveUser: Number.isFinite(floorUserRatio) ? round(floorUserRatio, 3) : null,
      ratioBlastP1UserToBareIoUser: Number.isFinite(blastOverFloorUser) ? round(blastOverFloorUser, 3) : null,
      portableEnv: PORTABLE_BLAST_ENV,
      ratioBlastP1UserToPortableUser: Number.isFinite(fastOverPortableUser) ? round(fastOverPortableUser, 3) : null,
      ratioBlastP1ToPortable: Number.isFinite(fastOverPortableTotal) ? round(fastOverPortableTotal, 3) : null,
      fastPathsAsMeant: fastPathNotes === '',
    };
    const text =
      table(
        ['client', 'µs/msg', 'user µs/msg', 'sys µs/msg', 'msg/s', 'client CPU %', 'µs/msg whole run'],
        kinds.map((kind) => [
          kind, of(kind, 'windowUsPerMessage'), of(kind, 'windowUserUsPerMessage'), of(kind, 'windowSystemUsPerMessage'), of(kind, 'windowMessagesPerSecond'),
          of(kind, 'windowCpuPercent'), of(kind, 'wholeRunUsPerMessage'),
        ]),
      ) +
      skipped.map((line) => `${line}\n`).join('') +
      (Number.isFinite(floodRatio) ? `blast-flood/tcpkali-flood = ${round(floodRatio, 3)} (target <= ${FLOOD_TARGET}: ${verdict(floodMet)})\n` : 'blast-flood/tcpkali-flood: no tcpkali figure\n') +
      (Number.isFinite(closedLoopUserRatio)
        ? `blast-p1 user/naive-ws user = ${round(closedLoopUserRatio, 3)} (target <= ${CLOSED_LOOP_USER_TARGET}: ${verdict(closedLoopMet)}); ` +
          `blast-p1 system ${of('blast-p1', 'windowSystemUsPerMessage')} µs/msg beside it\n`
        : 'blast-p1/naive-ws: not run\n') +
      (Number.isFinite(floorUserRatio)
        ? `bare-io user/naive-ws user = ${round(floorUserRatio, 3)} (the floor: one read and one write per message, no WebSocket work)\n`
        : '') +
      (Number.isFinite(blastOverFloorUser) ? `blast-p1 user/bare-io user = ${round(blastOverFloorUser, 3)} (what blast's own work adds to the floor)\n` : '') +
      (Number.isFinite(fastOverPortableUser)
        ? `blast-p1/blast-p1-portable (WSBENCH_PORTABLE=${PORTABLE_BLAST_ENV.WSBENCH_PORTABLE}): user µs/msg ${round(fastOverPortableUser, 3)}, ` +
          `user + system µs/msg ${round(fastOverPortableTotal, 3)}\n`
        : 'blast-p1/blast-p1-portable: not run\n') +
      fastPathNotes;
    return { figures, runs, commands: [...commands], table: text };
  },
};
