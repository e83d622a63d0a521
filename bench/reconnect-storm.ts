/**
 * reconnect-storm: what a server crash does to 10,000 clients that reconnect, with and without jitter.
 *
 * `wsbench blast -c 10000 --rate 1 -d 30s --reconnect --reconnect-jitter full|none` against
 * `wsbench serve --max 20000` on one port. Once serve counts all 10,000 open (the end of blast's
 * ramp) and 3 s more, the bench SIGKILLs serve's whole tree (primary and workers, by PID) and starts
 * a new serve on the same port 2 s after the kill.
 *
 * Why SIGKILL and not SIGTERM: SIGTERM makes serve drain (close 1001 to every client over up to
 * --drain-timeout), which spreads the drops over the drain and is a deploy, not a crash. A crash is
 * the kernel closing every socket at the same instant: every client sees its connection drop within
 * a millisecond, the worst case for a reconnect storm and the one jitter exists for.
 *
 * Measured per run, both variants side by side (interleaved: full, none, none, full):
 * - blast's storm: dropped, back, allBackMs (first drop to the last one back), its time back p50/p99,
 *   reconnect attempts per reconnect, failed attempts by reason (ECONNREFUSED while serve was down);
 * - connect p99 during the run (histograms.connectRun_us: every handshake of the run is a reconnect);
 * - the new serve's accept queue: the listening socket's Recv-Q (`ss -ltnH 'sport = :PORT'`) every
 *   ~50 ms from the restart until every connection is back, its peak; the kernel's ListenOverflows
 *   and ListenDrops (/proc/net/netstat) over that time (SYNs or ACKs dropped because the queue was
 *   full: those clients retransmit a second later). Under the storm's CPU load ss gets to run every
 *   100-200 ms rather than 50: the median interval is reported;
 * - the new serve's /healthz every ~250 ms: 503s, when it counted 10,000 open again (kill to back,
 *   the server's view of allBackMs), and its peak accept rate over one poll (how steep the storm is);
 *   when its socket was listening (serve takes ~1.6 s to start on an idle machine, more in a storm),
 *   and from then to every connection back, which leaves serve's start-up out of the comparison.
 *
 * The verdict "jitter flattens the storm" is connect p99 in the run lower with full jitter than
 * without (medians): a herd shows as handshakes queueing at the server.
 *
 * Both variants run with blast's default --max-handshakes (1000): blast's reconnect attempts go
 * through the same handshake window as its ramp, so at most that many are in flight at once, however
 * many clients are due. WSBENCH_STORM_MAX_HANDSHAKES (e.g. 10000) raises it, so that more of the
 * clients due at one instant reach the server at once, as independent clients would.
 *
 * WSBENCH_STORM_REPEATS (default 2) and WSBENCH_STORM_DURATION (default 30s) change the size.
 * Unpinned (serve and blast need both cores); every process ends by itself and is ended by PID.
 */
import { execFile } from 'node:child_process';
import type { ServeStats } from '../src/metrics/serve-stats.js';
import { readFileSync } from 'node:fs';
import type { BlastResult } from '../src/metrics/blast-result.js';
import { decodeHistogram, summarize } from '../src/metrics/histogram.js';
import { interleaved, type Benchmark } from './benchmark.js';
import {
  freePort, getJson, median, parseJsonOutput, round, sleep, startWsbench, stop, stopTree, table, verdict, waitExit, waitFor, type Started,
} from './lib.js';

const CONNECTIONS = 10_000;
const SERVE_MAX = 20_000;
const DURATION = process.env.WSBENCH_STORM_DURATION ?? '30s';
const REPEATS = Number(process.env.WSBENCH_STORM_REPEATS ?? 2);
const MAX_HANDSHAKES = process.env.WSBENCH_STORM_MAX_HANDSHAKES;
/** After serve counts every connection open (blast's ramp is over), before the kill. */
const KILL_AFTER_RAMP_MS = 3000;
/** From the kill to the new serve's spawn. */
const DOWN_MS = 2000;
const RECV_Q_INTERVAL_MS = 50;
const HEALTH_INTERVAL_MS = 250;
/** The longest the bench watches the storm after the restart. */
const WATCH_MS = 25_000;
const JITTERS = ['full', 'none'] as const;
type Jitter = (typeof JITTERS)[number];

/** serve's /healthz, as far as this bench reads it. */
type Health = Pick<ServeStats, 'open' | 'accepted' | 'closed' | 'rejected' | 'handshakeTimeouts' | 'max'>;

interface StormRun {
  repeat: number;
  jitter: Jitter;
  blastExitCode: number | null;
  endReason: string;
  /** Spawn of blast → serve counts every connection open. */
  rampMs: number;
  /** Seconds into blast's run when serve was killed. */
  killedAtRunS: number;
  /** Kill → the new serve's socket listening (first ss line). */
  listeningAfterKillMs: number;
  /** serve's handshakes per second in the ramp (10,000 / rampMs; blast's start-up included). */
  rampAcceptsPerSecond: number;
  /** The new serve listening → every connection back, and the rate that makes. */
  serverBackAfterListeningMs: number;
  recoveryAcceptsPerSecond: number;
  // blast's view
  stormDropped: number;
  stormBack: number;
  stormAllBackMs: number | null;
  stormP50Ms: number;
  stormP99Ms: number;
  stormMaxMs: number;
  reconnectsDropped: number;
  reconnected: number;
  reconnectAttempts: number;
  attemptsPerReconnect: number;
  pending: number;
  connectRunCount: number;
  connectRunP50Ms: number;
  connectRunP99Ms: number;
  connectRunP999Ms: number;
  connectRunMaxMs: number;
  /** The ramp's handshakes (before the kill), for comparison. */
  connectRampP99Ms: number;
  failed: number;
  failedByReason: Record<string, number>;
  rejected: number;
  rejectedByStatus: Record<string, number>;
  generatorBottleneck: boolean;
  generatorCpuPercent: number[];
  generatorLoopDelayP99Ms: number[];
  // the new serve's view
  recvQPeak: number;
  recvQSamples: number;
  recvQMedianIntervalMs: number;
  /** Samples with a non-empty accept queue, and the time spanned from the first to the last of them. */
  recvQNonEmptySamples: number;
  recvQNonEmptySpanMs: number;
  listenBacklog: number;
  listenOverflows: number;
  listenDrops: number;
  serve503s: number;
  serveRejected: Record<string, number>;
  serveHandshakeTimeouts: number;
  /** Kill → the new serve counts every connection open; NaN if it never did within the watch. */
  serverAllBackMs: number;
  /** The most connections the new serve accepted between two polls, per second. */
  peakAcceptsPerSecond: number;
  /** Kill → (ms, open) at every poll of the new serve, and (ms, Recv-Q) at every ss sample. */
  serveOpenCurve: [number, number][];
  recvQCurve: [number, number][];
  commands: string[];
}

function startServe(port: number): Started {
  return startWsbench(['serve', '--host', '127.0.0.1', '--port', String(port), '--max', String(SERVE_MAX), '--quiet']);
}

async function health(port: number): Promise<Health> {
  return getJson<Health>(`http://127.0.0.1:${port}/healthz`, 2000);
}

/** The listening socket's accept queue: Recv-Q (connections waiting for accept()) and Send-Q (the backlog). */
function listenQueue(port: number): Promise<{ recvQ: number; backlog: number } | null> {
  return new Promise((resolve) => {
    execFile('ss', ['-ltnH', `sport = :${port}`], { timeout: 2000 }, (error, stdout) => {
      if (error) return resolve(null);
      const lines = stdout.trim().split('\n').filter((line) => line.startsWith('LISTEN'));
      if (lines.length === 0) return resolve(null);
      let recvQ = 0;
      let backlog = 0;
      for (const line of lines) {
        const fields = line.trim().split(/\s+/);
        recvQ += Number(fields[1]);
        backlog = Math.max(backlog, Number(fields[2]));
      }
      resolve({ recvQ, backlog });
    });
  });
}

/** TcpExt ListenOverflows and ListenDrops of this network namespace. */
function listenCounters(): { overflows: number; drops: number } {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((line) => line.startsWith('TcpExt:'));
  const names = lines[0]!.split(/\s+/);
  const values = lines[1]!.split(/\s+/).map(Number);
  return { overflows: values[names.indexOf('ListenOverflows')] ?? NaN, drops: values[names.indexOf('ListenDrops')] ?? NaN };
}

const ms = (us: number) => round(us / 1000, 1);

async function stormRun(repeat: number, jitter: Jitter): Promise<StormRun> {
  const port = await freePort();
  const url = `ws://127.0.0.1:${port}/ws`;
  const first = startServe(port);
  let second: Started | undefined;
  let blast: Started | undefined;
  try {
    await waitFor('serve /healthz', 20_000, async () => (await health(port)).max === SERVE_MAX);
    await sleep(1000);
    blast = startWsbench([
      'blast', url, '-c', String(CONNECTIONS), '--rate', '1', '-d', DURATION,
      '--reconnect', '--reconnect-min', '100ms', '--reconnect-max', '10s', '--reconnect-jitter', jitter, '--json', '--no-save',
      ...(MAX_HANDSHAKES ? ['--max-handshakes', MAX_HANDSHAKES] : []),
    ]);
    const load = blast;
    let rampMs = NaN;
    await waitFor(`${CONNECTIONS} open`, 90_000, async () => {
      if ((await health(port)).open >= CONNECTIONS) rampMs = performance.now() - load.startedAt;
      return !Number.isNaN(rampMs);
    }, 100);
    await sleep(KILL_AFTER_RAMP_MS);

    // The crash: SIGKILL to serve's primary and every worker, by PID.
    const killWall = Date.now();
    const killAt = performance.now();
    stopTree(first);
    await first.exited;
    await sleep(Math.max(0, killAt + DOWN_MS - performance.now()));
    const overflowBefore = listenCounters();
    second = startServe(port);
    const since = () => Math.round(performance.now() - killAt);

    // Watch the restart: Recv-Q every ~50 ms, /healthz every ~250 ms, until every connection is back.
    let watching = true;
    let listeningAfterKillMs = NaN;
    let backlog = NaN;
    const recvQCurve: [number, number][] = [];
    const sampler = (async () => {
      while (watching) {
        const startedAt = performance.now();
        const queue = await listenQueue(port);
        if (queue) {
          if (Number.isNaN(listeningAfterKillMs)) listeningAfterKillMs = since();
          backlog = queue.backlog;
          recvQCurve.push([since(), queue.recvQ]);
        }
        await sleep(Math.max(0, RECV_Q_INTERVAL_MS - (performance.now() - startedAt)));
      }
    })();
    const serveOpenCurve: [number, number][] = [];
    let serverAllBackMs = NaN;
    let peakAcceptsPerSecond = 0;
    let previous: { at: number; accepted: number } | undefined;
    let blastExited = false;
    void load.exited.then(() => (blastExited = true));
    while (since() < DOWN_MS + WATCH_MS && !blastExited) {
      const h = await health(port).catch(() => undefined);
      const at = performance.now();
      if (h) {
        serveOpenCurve.push([since(), h.open]);
        if (previous) peakAcceptsPerSecond = Math.max(peakAcceptsPerSecond, ((h.accepted - previous.accepted) * 1000) / (at - previous.at));
        previous = { at, accepted: h.accepted };
        if (h.open >= CONNECTIONS) {
          serverAllBackMs = since();
          break;
        }
      }
      await sleep(Math.max(0, HEALTH_INTERVAL_MS - (performance.now() - at)));
    }
    // A little more, so a queue that is still draining is seen.
    await sleep(500);
    watching = false;
    await sampler;
    const overflowAfter = listenCounters();

    const { code } = await waitExit(load, 180_000);
    const result = parseJsonOutput<BlastResult>(load);
    const after = await health(port);
    const reconnects = result.reconnects;
    const storm = reconnects?.storm;
    const runConnects = summarize(decodeHistogram(result.histograms.connectRun_us!));
    const runStartedAt = result.clock?.runStartedAt ? Date.parse(result.clock.runStartedAt) : Date.parse(result.startedAt) + (result.rampMs ?? 0);
    const nonEmpty = recvQCurve.filter(([, q]) => q > 0);
    const intervals = recvQCurve.slice(1).map(([t], i) => t - recvQCurve[i]![0]);
    return {
      repeat,
      jitter,
      blastExitCode: code,
      endReason: result.endReason,
      rampMs: Math.round(rampMs),
      killedAtRunS: round((killWall - runStartedAt) / 1000, 2),
      listeningAfterKillMs,
      rampAcceptsPerSecond: Math.round((CONNECTIONS * 1000) / rampMs),
      serverBackAfterListeningMs: serverAllBackMs - listeningAfterKillMs,
      recoveryAcceptsPerSecond: Math.round((CONNECTIONS * 1000) / (serverAllBackMs - listeningAfterKillMs)),
      stormDropped: storm?.dropped ?? 0,
      stormBack: storm?.back ?? 0,
      stormAllBackMs: storm?.allBackMs ?? null,
      stormP50Ms: ms(storm?.time.p50_us ?? NaN),
      stormP99Ms: ms(storm?.time.p99_us ?? NaN),
      stormMaxMs: ms(storm?.time.max_us ?? NaN),
      reconnectsDropped: reconnects?.dropped ?? 0,
      reconnected: reconnects?.reconnected ?? 0,
      reconnectAttempts: reconnects?.attempts ?? 0,
      attemptsPerReconnect: reconnects?.attemptsPerReconnect ?? NaN,
      pending: reconnects?.pending ?? NaN,
      connectRunCount: runConnects.count,
      connectRunP50Ms: ms(runConnects.p50_us),
      connectRunP99Ms: ms(runConnects.p99_us),
      connectRunP999Ms: ms(runConnects.p99_9_us),
      connectRunMaxMs: ms(runConnects.max_us),
      connectRampP99Ms: ms(result.latency.connect.p99_us),
      failed: result.outcomes.failed.total,
      failedByReason: result.outcomes.failed.byReason,
      rejected: result.outcomes.rejected.total,
      rejectedByStatus: result.outcomes.rejected.byStatus,
      generatorBottleneck: result.generator.bottleneck,
      generatorCpuPercent: result.generator.workers.map((w) => w.cpuPercent),
      generatorLoopDelayP99Ms: result.generator.workers.map((w) => w.eventLoopDelayP99Ms),
      recvQPeak: Math.max(0, ...recvQCurve.map(([, q]) => q)),
      recvQSamples: recvQCurve.length,
      recvQMedianIntervalMs: median(intervals),
      recvQNonEmptySamples: nonEmpty.length,
      recvQNonEmptySpanMs: nonEmpty.length ? nonEmpty[nonEmpty.length - 1]![0] - nonEmpty[0]![0] : 0,
      listenBacklog: backlog,
      listenOverflows: overflowAfter.overflows - overflowBefore.overflows,
      listenDrops: overflowAfter.drops - overflowBefore.drops,
      serve503s: (after.rejected.full ?? 0) + (after.rejected['worker-full'] ?? 0) + (after.rejected['queue-timeout'] ?? 0) + (after.rejected['shutting-down'] ?? 0),
      serveRejected: Object.fromEntries(Object.entries(after.rejected).filter(([, n]) => n > 0)),
      serveHandshakeTimeouts: after.handshakeTimeouts,
      serverAllBackMs,
      peakAcceptsPerSecond: Math.round(peakAcceptsPerSecond),
      serveOpenCurve,
      recvQCurve,
      commands: [first.command, load.command, `ss -ltnH 'sport = :${port}'`],
    };
  } finally {
    if (blast) await stop(blast, 'SIGINT', 20_000);
    if (second) await stop(second, 'SIGTERM', 15_000);
    stopTree(first);
  }
}

export const reconnectStorm: Benchmark = {
  name: 'reconnect-storm',
  description: `${CONNECTIONS.toLocaleString('en-US')} clients with --reconnect when serve crashes (SIGKILL) and comes back 2 s later: --reconnect-jitter full vs none`,
  async run() {
    const runs: StormRun[] = [];
    for (const { repeat, kind } of interleaved(JITTERS, REPEATS)) {
      if (runs.length) await sleep(3000);
      const run = await stormRun(repeat, kind);
      runs.push(run);
      process.stdout.write(
        `  ${kind} #${repeat + 1}: storm ${run.stormBack}/${run.stormDropped} back in ${round((run.stormAllBackMs ?? NaN) / 1000, 2)} s ` +
          `(p50 ${run.stormP50Ms} ms, p99 ${run.stormP99Ms} ms), ${run.attemptsPerReconnect} attempts each, connect p99 in the run ${run.connectRunP99Ms} ms, ` +
          `Recv-Q peak ${run.recvQPeak}, overflows ${run.listenOverflows}, serve back ${round(run.serverAllBackMs / 1000, 2)} s after the kill\n`,
      );
    }
    const medianOf = (jitter: Jitter) => {
      const of = runs.filter((r) => r.jitter === jitter);
      const m = (pick: (r: StormRun) => number | null) => median(of.map((r) => pick(r) ?? NaN));
      return {
        runs: of.length,
        stormAllBackMs: m((r) => r.stormAllBackMs),
        stormP50Ms: m((r) => r.stormP50Ms),
        stormP99Ms: m((r) => r.stormP99Ms),
        attemptsPerReconnect: m((r) => r.attemptsPerReconnect),
        connectRunP50Ms: m((r) => r.connectRunP50Ms),
        connectRunP99Ms: m((r) => r.connectRunP99Ms),
        connectRunMaxMs: m((r) => r.connectRunMaxMs),
        recvQPeak: m((r) => r.recvQPeak),
        listenOverflows: m((r) => r.listenOverflows),
        peakAcceptsPerSecond: m((r) => r.peakAcceptsPerSecond),
        serverAllBackMs: m((r) => r.serverAllBackMs),
        listeningAfterKillMs: m((r) => r.listeningAfterKillMs),
        serverBackAfterListeningMs: m((r) => r.serverBackAfterListeningMs),
        recoveryAcceptsPerSecond: m((r) => r.recoveryAcceptsPerSecond),
        rampAcceptsPerSecond: m((r) => r.rampAcceptsPerSecond),
        generatorLoopDelayP99Ms: m((r) => Math.max(...r.generatorLoopDelayP99Ms)),
        failedAttempts: m((r) => r.failed),
        rejected503: m((r) => r.rejectedByStatus['503'] ?? 0),
        allBack: of.every((r) => r.stormAllBackMs !== null && r.pending === 0 && r.stormBack === r.stormDropped),
      };
    };
    const medians = { full: medianOf('full'), none: medianOf('none') };
    const full = medians.full;
    const none = medians.none;
    const ratio = (a: number, b: number) => round(a / b, 2);
    // The storm's load on the server shows as handshakes queueing: connect p99 in the run. (The Recv-Q
    // peak is reported beside it, but blast's handshake window keeps reconnects in flight under the
    // backlog, so with either setting the clients' queue forms in blast rather than in the kernel.)
    const flattens = full.connectRunP99Ms < none.connectRunP99Ms;
    const figures = {
      connections: CONNECTIONS,
      serveMax: SERVE_MAX,
      duration: DURATION,
      kill: 'SIGKILL to serve primary and workers (a crash: every socket closed by the kernel at once)',
      killAfterRampMs: KILL_AFTER_RAMP_MS,
      restartAfterMs: DOWN_MS,
      reconnect: { minMs: 100, maxMs: 10_000 },
      maxHandshakes: MAX_HANDSHAKES ? Number(MAX_HANDSHAKES) : 'default (1000)',
      repeats: REPEATS,
      medians,
      ratiosNoneOverFull: {
        stormAllBackMs: ratio(none.stormAllBackMs, full.stormAllBackMs),
        stormP99Ms: ratio(none.stormP99Ms, full.stormP99Ms),
        connectRunP99Ms: ratio(none.connectRunP99Ms, full.connectRunP99Ms),
        recvQPeak: ratio(none.recvQPeak, full.recvQPeak),
        peakAcceptsPerSecond: ratio(none.peakAcceptsPerSecond, full.peakAcceptsPerSecond),
        serverBackAfterListeningMs: ratio(none.serverBackAfterListeningMs, full.serverBackAfterListeningMs),
      },
      jitterFlattensTheStorm: verdict(flattens),
      everyConnectionBack: verdict(runs.every((r) => r.stormAllBackMs !== null && r.pending === 0)),
    };
    const rows = runs.map((r) => [
      `${r.jitter} #${r.repeat + 1}`, r.stormDropped, r.stormBack, round((r.stormAllBackMs ?? NaN) / 1000, 2), r.stormP50Ms, r.stormP99Ms, r.attemptsPerReconnect,
      r.connectRunP50Ms, r.connectRunP99Ms, r.recvQPeak, r.listenOverflows, r.peakAcceptsPerSecond, r.failed, r.rejected, round(r.listeningAfterKillMs / 1000, 2),
      round(r.serverAllBackMs / 1000, 2), round(r.serverBackAfterListeningMs / 1000, 2),
    ] as (string | number)[]);
    for (const jitter of JITTERS) {
      const m = medians[jitter];
      rows.push([
        `${jitter} median`, '', '', round(m.stormAllBackMs / 1000, 2), m.stormP50Ms, m.stormP99Ms, m.attemptsPerReconnect,
        m.connectRunP50Ms, m.connectRunP99Ms, m.recvQPeak, m.listenOverflows, m.peakAcceptsPerSecond, m.failedAttempts, m.rejected503,
        round(m.listeningAfterKillMs / 1000, 2), round(m.serverAllBackMs / 1000, 2), round(m.serverBackAfterListeningMs / 1000, 2),
      ]);
    }
    const text =
      table(
        ['run', 'dropped', 'back', 'all back s', 'storm p50 ms', 'p99 ms', 'attempts/rec', 'connect p50 ms', 'connect p99 ms', 'Recv-Q peak', 'overflows', 'accepts/s peak', 'failed', 'rejected', 'listening s', 'serve back s', 'from listening s'],
        rows,
      ) +
      `none/full: all back ${figures.ratiosNoneOverFull.stormAllBackMs}x, storm p99 ${figures.ratiosNoneOverFull.stormP99Ms}x, connect p99 ${figures.ratiosNoneOverFull.connectRunP99Ms}x, ` +
      `Recv-Q peak ${figures.ratiosNoneOverFull.recvQPeak}x, peak accepts/s ${figures.ratiosNoneOverFull.peakAcceptsPerSecond}x, back from listening ${figures.ratiosNoneOverFull.serverBackAfterListeningMs}x\n` +
      `serve accepts/s: ramp ${full.rampAcceptsPerSecond}/${none.rampAcceptsPerSecond}, recovery from listening ${full.recoveryAcceptsPerSecond}/${none.recoveryAcceptsPerSecond} (full/none medians)\n` +
      `jitter flattens the storm (lower connect p99 in the run): ${figures.jitterFlattensTheStorm}; every connection back: ${figures.everyConnectionBack}\n`;
    return { figures, runs, commands: runs[0]?.commands ?? [], table: text };
  },
};
