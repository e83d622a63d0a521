/**
 * Shared helpers for the benchmarks: start processes pinned to a core and always end them (by PID,
 * with their descendants), read RSS and CPU from /proc, poll a server, take medians, and write
 * results files atomically. Benchmarks run real processes on loopback only.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync, mkdirSync } from 'node:fs';
import { get } from 'node:http';
import { createServer, connect } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastPathName, RuntimeReport } from '../src/runtime/fast-paths.js';
import { exitWithOutput } from '../test/helpers/exited.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const wsbenchBin = join(repoRoot, 'bin', 'wsbench.js');
export const benchDist = dirname(fileURLToPath(import.meta.url));
export const SERVER_CORE = 0;
export const CLIENT_CORE = 1;
export const REPEATS = 3;

const CLOCK_TICKS_PER_SECOND = readClockTicks();

// --- processes ---------------------------------------------------------------------------------

export interface Started {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The command line, as recorded in results. */
  readonly command: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** performance.now() when it was spawned. */
  readonly startedAt: number;
  stdout(): string;
  stderr(): string;
}

/** Every process a benchmark started and has not seen exit; cleaned up on error and on exit. */
const live = new Set<Started>();

export interface StartOptions {
  /** Pin to this core with `taskset -c` (taskset execs, so the PID is the node process). */
  readonly core?: number;
  /** Extra environment (e.g. NODE_OPTIONS, which forked children inherit). */
  readonly env?: Readonly<Record<string, string>>;
  /** startWsbench / startServer('wsbench'): another build's bin/wsbench.js (a baseline column). */
  readonly wsbenchBin?: string;
}

/** Start `node script args…`, optionally pinned to one core. */
export function startNode(script: string, args: readonly string[], options: StartOptions = {}): Started {
  return startProgram(process.execPath, [script, ...args], options);
}

/** Start any program (a reference peer), optionally pinned to one core. */
export function startProgram(program: string, args: readonly string[], options: StartOptions = {}): Started {
  const programArgv = [program, ...args];
  const argv = options.core === undefined ? programArgv : ['taskset', '-c', String(options.core), ...programArgv];
  const env = options.env ? { ...process.env, ...options.env } : process.env;
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err = (err + chunk).slice(-64 * 1024)));
  const started: Started = {
    child,
    pid: child.pid!,
    startedAt: performance.now(),
    command: [...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`), ...argv.map((a) => a.replace(repoRoot, ''))].join(' '),
    exited: exitWithOutput(child),
    stdout: () => out,
    stderr: () => err,
  };
  child.once('exit', () => live.delete(started));
  child.once('error', () => live.delete(started));
  live.add(started);
  return started;
}

export function startWsbench(args: readonly string[], options: StartOptions = {}): Started {
  return startNode(options.wsbenchBin ?? wsbenchBin, args, options);
}

/** Wait for a process to exit; past the timeout, kill its tree and throw. wallMs counts from its spawn. */
export async function waitExit(started: Started, timeoutMs: number): Promise<{ code: number | null; wallMs: number }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  const outcome = await Promise.race([started.exited, timeout]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    stopTree(started);
    throw new Error(`${started.command} did not exit within ${timeoutMs} ms; killed. stderr: ${started.stderr().slice(-500)}`);
  }
  return { code: outcome.code, wallMs: performance.now() - started.startedAt };
}

/** Ask a process to stop (SIGINT/SIGTERM), then SIGKILL its whole tree if it has not exited in time. */
export async function stop(started: Started, signal: NodeJS.Signals = 'SIGTERM', graceMs = 8000): Promise<void> {
  if (!live.has(started)) return;
  const tree = descendants(started.pid);
  try {
    process.kill(started.pid, signal);
  } catch {
    // Already gone.
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    started.exited.then(() => false),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
  ]);
  clearTimeout(timer);
  if (timedOut) stopTree(started);
  // Children that outlived their parent (they should not) are ended too, by the PIDs we saw.
  for (const pid of tree) killPid(pid);
}

/** SIGKILL a process and every descendant found through /proc. */
export function stopTree(started: Started): void {
  const pids = [started.pid, ...descendants(started.pid)];
  for (const pid of pids) killPid(pid);
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Kill everything still running that a benchmark started. Synchronous, so it works in 'exit'. */
export function cleanupAll(): void {
  for (const started of [...live]) stopTree(started);
  live.clear();
}

// --- /proc -------------------------------------------------------------------------------------

interface ProcStat {
  readonly ppid: number;
  /** utime + stime, µs. */
  readonly cpuUs: number;
  /** utime alone, µs: the process's own code, as opposed to the kernel working for it. */
  readonly userUs: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name may hold spaces and parentheses: the fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { ppid: Number(fields[1]), cpuUs: (ticks * 1e6) / CLOCK_TICKS_PER_SECOND, userUs: (Number(fields[11]) * 1e6) / CLOCK_TICKS_PER_SECOND };
}

/** CPU time (user + system) of one process, µs; undefined once it is gone. */
export function cpuUs(pid: number): number | undefined {
  return readStat(pid)?.cpuUs;
}

/** User-mode CPU time of one process, µs; undefined once it is gone. */
export function userCpuUs(pid: number): number | undefined {
  return readStat(pid)?.userUs;
}

/** Resident set size, bytes; undefined once the process is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Direct children of a process, by scanning /proc/*\/stat for their ppid. */
export function childrenOf(pid: number): number[] {
  const result: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (readStat(Number(entry))?.ppid === pid) result.push(Number(entry));
  }
  return result;
}

export function descendants(pid: number): number[] {
  const all: number[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const child of childrenOf(queue.shift()!)) {
      all.push(child);
      queue.push(child);
    }
  }
  return all;
}

/** Sum of RSS over a process and its descendants, bytes. */
export function treeRssBytes(pid: number): number {
  return [pid, ...descendants(pid)].reduce((total, p) => total + (rssBytes(p) ?? 0), 0);
}

/** Wait until a process has this many children (a blast coordinator forking its workers). */
export async function waitForChildren(pid: number, count: number, timeoutMs: number): Promise<number[]> {
  let children: number[] = [];
  await waitFor(`${count} child processes of ${pid}`, timeoutMs, async () => (children = childrenOf(pid)).length >= count);
  return children;
}

/**
 * Follows the CPU time of a process tree every `intervalMs`, remembering each PID's last reading, so
 * the CPU of processes that exit (a blast worker) is still counted up to its last sample.
 */
export class CpuSampler {
  readonly #last = new Map<number, number>();
  readonly #timer: NodeJS.Timeout;
  constructor(readonly rootPid: number, intervalMs = 50) {
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
  }
  sample(): void {
    for (const pid of [this.rootPid, ...descendants(this.rootPid)]) {
      const cpu = cpuUs(pid);
      if (cpu !== undefined) this.#last.set(pid, cpu);
    }
  }
  /** Last-seen CPU µs per PID. */
  get byPid(): ReadonlyMap<number, number> {
    return this.#last;
  }
  totalUs(): number {
    let total = 0;
    for (const value of this.#last.values()) total += value;
    return total;
  }
  stop(): void {
    clearInterval(this.#timer);
  }
}

function readClockTicks(): number {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (value > 0) return value;
  } catch {
    // Fall back to Linux's usual value.
  }
  return 100;
}

// --- network -----------------------------------------------------------------------------------

/** A free TCP port on 127.0.0.1 (bound and released; good enough on a machine we control). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  await waitFor(`127.0.0.1:${port} to accept`, timeoutMs, () =>
    new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    }),
  );
}

export function getJson<T>(url: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const request = get(url, { timeout: timeoutMs, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        try {
          resolve(JSON.parse(body) as T);
        } catch (error) {
          reject(error);
        }
      });
    });
    request.once('timeout', () => request.destroy(new Error(`GET ${url} timed out`)));
    request.once('error', reject);
  });
}

export async function waitFor(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>, intervalMs = 50): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    // A check that throws (a server too busy to answer yet) counts as "not yet".
    if (await Promise.resolve().then(check).catch(() => false)) return;
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// --- servers under test ------------------------------------------------------------------------

export type ServerKind = 'plain-ws' | 'wsbench' | 'go-echo';

export interface ServerUnderTest {
  readonly kind: ServerKind;
  readonly process: Started;
  readonly port: number;
  readonly url: string;
  /** Open WebSocket connections and total accepted, as the server counts them. */
  counts(): Promise<{ open: number; accepted: number; messagesIn: number }>;
}

/**
 * Start a server as its own process, pinned when asked. wsbench: `wsbench serve`; plain-ws: the
 * reference ws echo server in plain-ws-server.ts.
 */
export async function startServer(kind: ServerKind, serveArgs: readonly string[], options: StartOptions = {}): Promise<ServerUnderTest> {
  const port = await freePort();
  const started =
    kind === 'wsbench'
      ? startWsbench(['serve', '--port', String(port), '--host', '127.0.0.1', '--quiet', ...serveArgs], options)
      : kind === 'go-echo'
        ? startProgram(goEcho().binary!, ['-port', String(port), ...serveArgs], options)
        : startNode(join(benchDist, 'plain-ws-server.js'), [String(port), ...serveArgs], options);
  try {
    await Promise.race([
      waitForPort(port, 15_000),
      started.exited.then(({ code }) => {
        throw new Error(`exited with code ${code} before listening`);
      }),
    ]);
  } catch (error) {
    stopTree(started);
    throw new Error(`${started.command}: ${(error as Error).message}; stderr: ${started.stderr().slice(-500)}`);
  }
  const statsPath = kind === 'wsbench' ? '/healthz' : kind === 'go-echo' ? '/stats' : '/count';
  return {
    kind,
    process: started,
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    counts: async () => {
      const counts = await getJson<{ open?: number; active?: number; accepted: number; messagesIn?: number }>(`http://127.0.0.1:${port}${statsPath}`);
      return { open: counts.open ?? counts.active ?? 0, accepted: counts.accepted, messagesIn: counts.messagesIn ?? NaN };
    },
  };
}

// --- fast paths --------------------------------------------------------------------------------

/** Which fast paths on internals a wsbench process ran (src/runtime/fast-paths.ts): true when on. */
export type FastPaths = RuntimeReport['fastPaths'];

/**
 * The environment for a "portable" column: WSBENCH_PORTABLE turns the named fast paths off in the
 * process started with it and in the processes it forks (blast's client processes, serve's workers).
 */
export function portableEnv(names: readonly FastPathName[]): Readonly<Record<string, string>> {
  return { WSBENCH_PORTABLE: names.join(',') };
}

/** The fast paths a wsbench server runs, from its /healthz; undefined for the other servers. */
export async function serverFastPaths(server: ServerUnderTest): Promise<FastPaths | undefined> {
  if (server.kind !== 'wsbench') return undefined;
  return (await getJson<{ runtime?: RuntimeReport }>(`http://127.0.0.1:${server.port}/healthz`)).runtime?.fastPaths;
}

/**
 * A line for a table when a column's processes did not run `names` as the column means to (on for
 * a fast column, off for a portable one), e.g. a self-test failed on this Node or the bench itself ran
 * under WSBENCH_PORTABLE: then that column's fast vs portable figure compares nothing. '' when every
 * reported run matched (runs that reported nothing are not counted).
 */
export function fastPathsNote(column: string, reports: readonly (FastPaths | undefined)[], names: readonly FastPathName[], expectOn: boolean): string {
  const wrong = names.filter((name) => reports.some((report) => report?.[name] !== undefined && report[name] !== expectOn));
  if (wrong.length === 0) return '';
  return `note: ${column} ran ${wrong.join(', ')} ${expectOn ? 'on the portable path' : 'on the fast path'} in some runs, so its fast/portable figures do not measure the fast paths\n`;
}

let goEchoBuild: { binary?: string; skipped?: string } | undefined;
/**
 * The reference Go echo server (gorilla/websocket, goroutine per connection, channel semaphore),
 * built once per bench run from ../shared/peers/go-echo with Debian's Go packages, offline. When Go,
 * gorilla or the source is missing, `skipped` says why and benchmarks leave its column out.
 * Flags: -port, -max (its server-side cap; past its open-file limit it stops accepting, no 503).
 */
export function goEcho(): { binary?: string; skipped?: string } {
  if (goEchoBuild) return goEchoBuild;
  const source = join(repoRoot, '..', 'shared', 'peers', 'go-echo');
  const binary = join(tmpdir(), 'wsbench-go-echo');
  try {
    if (!existsSync(join(source, 'main.go'))) throw new Error(`no source at ${source}`);
    execFileSync('go', ['build', '-o', binary, '.'], {
      cwd: source,
      env: { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOCACHE: join(tmpdir(), 'wsbench-go-cache') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    goEchoBuild = { binary };
  } catch (error) {
    const reason = (error as { code?: string }).code === 'ENOENT' ? 'go is not installed (apt-get install golang-go golang-github-gorilla-websocket-dev)' : (error as Error).message.split('\n')[0];
    goEchoBuild = { skipped: `Go reference server not built: ${reason}` };
  }
  return goEchoBuild;
}

// --- figures -----------------------------------------------------------------------------------

export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return NaN;
  const mid = Math.floor(finite.length / 2);
  return finite.length % 2 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2;
}

export function round(value: number, digits = 1): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** A plain text table: header row, then rows, columns padded. */
export function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [header, ...rows].map((row) => row.map((cell) => (typeof cell === 'number' ? formatNumber(cell) : cell)));
  const widths = header.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  return cells.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n') + '\n';
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '-';
  return Math.abs(value) >= 1000 ? Math.round(value).toLocaleString('en-US') : String(round(value, 2));
}

export function verdict(met: boolean): string {
  return met ? 'met' : 'NOT met';
}

// --- results -----------------------------------------------------------------------------------

export function environment(): Record<string, unknown> {
  let commit = 'unknown';
  let dirty = false;
  try {
    commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: repoRoot, encoding: 'utf8' }).trim() !== '';
  } catch {
    // Not a git checkout.
  }
  return {
    commit,
    srcDirty: dirty,
    node: process.version,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
  };
}

/** Write results/bench-<name>-<timestamp>.json via a temp file and rename; returns the path. */
export function writeResult(name: string, record: Record<string, unknown>): string {
  const dir = join(repoRoot, 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const path = join(dir, `bench-${name}-${stamp}.json`);
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(record, null, 2) + '\n');
  renameSync(temp, path);
  return path;
}

/** Parse the JSON a `--json` process printed on stdout. */
export function parseJsonOutput<T>(started: Started): T {
  const text = started.stdout();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`${started.command} printed no JSON; stdout: ${text.slice(0, 300)} stderr: ${started.stderr().slice(-500)}`);
  }
}
