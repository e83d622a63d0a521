/**
 * A small "network" of Linux network namespaces for tests and benchmarks that need several hosts:
 * one server namespace and K client namespaces, each with one address in 198.18.0.0/15 (RFC 2544's
 * benchmarking range; it exists only inside these namespaces), joined by a bridge that lives in a
 * namespace of its own, so that the root namespace gets no new interface, route or address.
 *
 *   wsb-mh-<pid>-<tag>-br:  br0, and one veth end per node (v0 for the server, v1..vK for clients)
 *   wsb-mh-<pid>-<tag>-srv: eth0 198.18.0.1/15, lo
 *   wsb-mh-<pid>-<tag>-c1:  eth0 198.18.0.11/15, lo        (c2: .12, c3: .13, …)
 *
 * Every namespace has its own ephemeral port range, conntrack table and sysctls, as a host has:
 * K clients have K × ~28k (source address, port) pairs toward one server address and port.
 *
 * Names carry the creating process's PID: sweepLeftovers() (called by createNetwork) deletes
 * namespaces with the prefix whose creator is no longer running (a crashed earlier run), ending the
 * processes still inside them first, by PID (every process in them was started by such a run).
 * destroy() does the same for its own namespaces, is synchronous (usable in an 'exit' handler) and is
 * safe to call twice. Deleting a namespace deletes its veth ends, and with them their peers.
 *
 * Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2: netnsSupport() says whether this
 * machine allows it, and why not.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { exitWithOutput } from './exited.js';

/** Every namespace made here starts with this. */
export const NETNS_PREFIX = 'wsb-mh-';
/** The server's address; client i (1-based) has 198.18.0.(10 + i). */
export const SERVER_ADDRESS = '198.18.0.1';
const PREFIX_LENGTH = 15;
const MAX_CLIENTS = 200;

export interface NetnsNode {
  /** The namespace's name, for `ip netns exec`. */
  readonly name: string;
  /** Its one address on the bridge (eth0). */
  readonly address: string;
}

export interface NetnsNetwork {
  /** Unique per network: `<pid>-<random>`. */
  readonly id: string;
  /** The namespace that holds the bridge (no address, no processes). */
  readonly bridge: string;
  readonly server: NetnsNode;
  readonly clients: readonly NetnsNode[];
  /** Every namespace made, bridge included. */
  readonly namespaces: readonly string[];
  /** End the processes inside, by PID, and delete every namespace. Synchronous; safe to call twice. */
  destroy(): void;
}

// --- ip ------------------------------------------------------------------------------------------

function ip(args: readonly string[], timeoutMs = 10_000): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
}

/** What a failed execFileSync said: its stderr's first line, or its error. */
function why(error: unknown): string {
  const stderr = (error as { stderr?: string | Buffer }).stderr;
  const text = (typeof stderr === 'string' ? stderr : stderr?.toString('utf8') ?? '').trim();
  return text.split('\n')[0] || (error as Error).message;
}

/** The namespaces `ip netns list` shows whose names start with `prefix`. */
export function listNamespaces(prefix = NETNS_PREFIX): string[] {
  let text: string;
  try {
    text = ip(['netns', 'list']);
  } catch {
    return [];
  }
  // Lines are "name" or "name (id: 3)".
  return text
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name.startsWith(prefix));
}

/** PIDs of the processes inside a namespace (`ip netns pids`). */
export function pidsIn(namespace: string): number[] {
  try {
    return ip(['netns', 'pids', namespace])
      .split('\n')
      .map((line) => Number(line.trim()))
      .filter((pid) => Number.isInteger(pid) && pid > 0);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * SIGKILL every process inside the namespace, by PID, and wait (up to 5 s) until none is left:
 * a namespace outlives its name while a process is in it.
 */
function emptyNamespace(namespace: string): void {
  const deadline = Date.now() + 5000;
  for (;;) {
    const pids = pidsIn(namespace).filter((pid) => pid !== process.pid);
    if (pids.length === 0 || Date.now() > deadline) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    sleepSync(50);
  }
}

function deleteNamespace(namespace: string): void {
  emptyNamespace(namespace);
  try {
    ip(['netns', 'del', namespace]);
  } catch (error) {
    // Already deleted is what we wanted; anything else is worth saying.
    if (listNamespaces(namespace).includes(namespace)) throw new Error(`ip netns del ${namespace}: ${why(error)}`);
  }
}

/** The PID in a name made here (`wsb-mh-<pid>-…`), or undefined. */
function creatorOf(namespace: string, prefix: string): number | undefined {
  const match = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\d+)-`).exec(namespace);
  return match ? Number(match[1]) : undefined;
}

/**
 * Delete the namespaces with `prefix` left by runs that are no longer going (their creator's PID
 * is not running, or is this process); namespaces of another live run are left alone. Returns the
 * names deleted.
 */
export function sweepLeftovers(prefix = NETNS_PREFIX): string[] {
  const swept: string[] = [];
  for (const namespace of listNamespaces(prefix)) {
    const creator = creatorOf(namespace, prefix);
    if (creator !== undefined && creator !== process.pid && alive(creator)) continue;
    deleteNamespace(namespace);
    swept.push(namespace);
  }
  return swept;
}

/** Namespaces with `prefix` that no live run accounts for (what sweepLeftovers would delete). */
export function leftoverNamespaces(prefix = NETNS_PREFIX): string[] {
  return listNamespaces(prefix).filter((namespace) => {
    const creator = creatorOf(namespace, prefix);
    return creator === undefined || creator === process.pid || !alive(creator);
  });
}

// --- support -------------------------------------------------------------------------------------

let support: { ok: true } | { ok: false; reason: string } | undefined;

/**
 * Whether namespaces, a bridge and a veth pair can be made here: tried once with a namespace of
 * its own, deleted at once. `reason` says what refused (not Linux, no iproute2, not permitted).
 */
export function netnsSupport(): { ok: true } | { ok: false; reason: string } {
  if (support) return support;
  if (process.platform !== 'linux') return (support = { ok: false, reason: `network namespaces are Linux's; this is ${process.platform}` });
  try {
    ip(['-V']);
  } catch (error) {
    return (support = { ok: false, reason: `iproute2's ip is not available (${(error as NodeJS.ErrnoException).code ?? why(error)})` });
  }
  const probe = `${NETNS_PREFIX}${process.pid}-${randomBytes(2).toString('hex')}-probe`;
  try {
    ip(['netns', 'add', probe]);
  } catch (error) {
    return (support = { ok: false, reason: `ip netns add is refused here: ${why(error)}` });
  }
  try {
    ip(['-n', probe, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', probe, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1']);
    ip(['-n', probe, 'link', 'set', 'v0', 'master', 'br0']);
    support = { ok: true };
  } catch (error) {
    support = { ok: false, reason: `a bridge or veth pair cannot be made in a network namespace here: ${why(error)}` };
  } finally {
    try {
      deleteNamespace(probe);
    } catch {
      // Reported by the next sweep.
    }
  }
  return support;
}

// --- the network ---------------------------------------------------------------------------------

/**
 * One server namespace and `clientCount` client namespaces on a bridge in a namespace of its own.
 * Sweeps leftovers of crashed earlier runs first. On any failure, deletes what it made and throws.
 */
export function createNetwork(clientCount: number, prefix = NETNS_PREFIX): NetnsNetwork {
  if (!Number.isInteger(clientCount) || clientCount < 1 || clientCount > MAX_CLIENTS) throw new RangeError(`clientCount must be 1 to ${MAX_CLIENTS}`);
  sweepLeftovers(prefix);
  const id = `${process.pid}-${randomBytes(2).toString('hex')}`;
  const bridge = `${prefix}${id}-br`;
  const server: NetnsNode = { name: `${prefix}${id}-srv`, address: SERVER_ADDRESS };
  const clients: NetnsNode[] = Array.from({ length: clientCount }, (_, i) => ({ name: `${prefix}${id}-c${i + 1}`, address: `198.18.0.${11 + i}` }));
  const made: string[] = [];
  const network: NetnsNetwork = {
    id,
    bridge,
    server,
    clients,
    namespaces: made,
    destroy() {
      const problems: string[] = [];
      // Nodes first (their processes end, their veth ends go, and with them the bridge's), then the bridge.
      for (const namespace of [...made].reverse()) {
        try {
          deleteNamespace(namespace);
        } catch (error) {
          problems.push((error as Error).message);
        }
      }
      if (problems.length) throw new Error(problems.join('; '));
    },
  };
  const add = (namespace: string) => {
    ip(['netns', 'add', namespace]);
    made.push(namespace);
    ip(['-n', namespace, 'link', 'set', 'lo', 'up']);
  };
  try {
    add(bridge);
    ip(['-n', bridge, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', bridge, 'link', 'set', 'br0', 'up']);
    // Bridged frames need not pass the bridge namespace's iptables (and conntrack) where br_netfilter is loaded.
    try {
      execFileSync('ip', ['netns', 'exec', bridge, 'sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=0'], { stdio: 'ignore', timeout: 5000 });
    } catch {
      // No br_netfilter here: nothing to turn off.
    }
    [server, ...clients].forEach((node, index) => {
      add(node.name);
      const port = `v${index}`;
      // Made in the bridge's namespace with its peer moved straight into the node's: the root namespace never sees either end.
      ip(['-n', bridge, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.name]);
      ip(['-n', bridge, 'link', 'set', port, 'master', 'br0']);
      ip(['-n', bridge, 'link', 'set', port, 'up']);
      ip(['-n', node.name, 'addr', 'add', `${node.address}/${PREFIX_LENGTH}`, 'dev', 'eth0']);
      ip(['-n', node.name, 'link', 'set', 'eth0', 'up']);
    });
  } catch (error) {
    const message = `creating network namespaces ${prefix}${id}-*: ${why(error)}`;
    try {
      network.destroy();
    } catch {
      // The sweep of the next run gets what is left.
    }
    throw new Error(message);
  }
  return network;
}

// --- processes inside a namespace ----------------------------------------------------------------

export interface NsProcess {
  readonly namespace: string;
  readonly child: ChildProcess;
  /** `ip netns exec` execs the command: this is the command's own PID (timeout's, with maxSeconds). */
  readonly pid: number;
  /** The command line, for messages and results. */
  readonly command: string;
  /** performance.now() at spawn. */
  readonly startedAt: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  /** The last 256 KiB of stderr. */
  stderr(): string;
  /** Resolves with the first stderr match; rejects after timeoutMs or when the process exits first. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit; past timeoutMs, SIGKILLs it and its descendants and rejects. */
  waitExit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; wallMs: number }>;
  /** `signal` by PID, then SIGKILL to it and its descendants after graceMs. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/**
 * `ip netns exec NAMESPACE argv…`, with stdout and stderr kept. `maxSeconds`: run it under coreutils'
 * `timeout` (TERM at maxSeconds, KILL 5 s later, to its whole process group), so that it ends by
 * itself even if whoever started it is killed before it can stop it; the PID is then timeout's, which
 * passes TERM and INT on to the command.
 */
export function spawnIn(namespace: string, argv: readonly string[], options: { env?: NodeJS.ProcessEnv; maxSeconds?: number } = {}): NsProcess {
  const bounded = options.maxSeconds === undefined ? argv : ['timeout', '--kill-after=5s', `${Math.ceil(options.maxSeconds)}s`, ...argv];
  const child = spawn('ip', ['netns', 'exec', namespace, ...bounded], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err = (err + chunk).slice(-256 * 1024)));
  let done = false;
  child.once('exit', () => (done = true));
  child.once('error', () => (done = true));
  const exited = exitWithOutput(child);
  const startedAt = performance.now();
  const command = `ip netns exec ${namespace} ${bounded.join(' ')}`;
  const killTree = () => {
    for (const pid of [child.pid!, ...descendants(child.pid!)]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  };
  return {
    namespace,
    child,
    pid: child.pid!,
    command,
    startedAt,
    exited,
    stdout: () => out,
    stderr: () => err,
    waitForStderr(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = err.match(pattern);
          if (!match) return false;
          finish();
          resolve(match);
          return true;
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`${command}: no ${pattern} on stderr within ${timeoutMs} ms; stderr: ${err.slice(-2000)}`));
        }, timeoutMs);
        const onExit = () => {
          // The last output may arrive with the exit.
          setImmediate(() => {
            if (check()) return;
            finish();
            reject(new Error(`${command} exited (${child.exitCode ?? child.signalCode}) before ${pattern} on stderr; stderr: ${err.slice(-2000)}`));
          });
        };
        const finish = () => {
          clearTimeout(timer);
          child.stderr!.off('data', check);
          child.off('exit', onExit);
        };
        if (check()) return;
        child.stderr!.on('data', check);
        child.once('exit', onExit);
      });
    },
    async waitExit(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([exited, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)))]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        killTree();
        throw new Error(`${command} did not exit within ${timeoutMs} ms; killed. stderr: ${err.slice(-2000)}`);
      }
      return { ...outcome, wallMs: performance.now() - startedAt };
    },
    async stop(signal = 'SIGTERM', graceMs = 8000) {
      if (done) return;
      const tree = descendants(child.pid!);
      try {
        process.kill(child.pid!, signal);
      } catch {
        // Gone already.
      }
      let timer: NodeJS.Timeout | undefined;
      const late = await Promise.race([exited.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs)))]);
      clearTimeout(timer);
      if (late) killTree();
      // Children that outlived their parent (they should not), by the PIDs seen before.
      for (const pid of tree) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
      await exited;
    },
  };
}

/** Run a short command inside a namespace and return its stdout; rejects on a non-zero exit or after timeoutMs. */
export function execIn(namespace: string, argv: readonly string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', namespace, ...argv], { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`ip netns exec ${namespace} ${argv.join(' ')}: ${stderr.trim() || error.message}`));
      else resolve(stdout);
    });
  });
}

let curl: boolean | undefined;

/** GET an http:// URL from inside a namespace (curl when installed, else node's fetch); the body. */
export function httpGetIn(namespace: string, url: string, timeoutMs = 5000): Promise<string> {
  curl ??= (() => {
    try {
      execFileSync('curl', ['--version'], { stdio: 'ignore', timeout: 5000 });
      return true;
    } catch {
      return false;
    }
  })();
  const argv = curl
    ? ['curl', '-sSf', '--max-time', String(Math.ceil(timeoutMs / 1000)), url]
    : [process.execPath, '-e', `fetch(${JSON.stringify(url)},{signal:AbortSignal.timeout(${timeoutMs})}).then(async r=>{if(!r.ok)process.exit(22);process.stdout.write(await r.text())},e=>{console.error(e.message);process.exit(7)})`];
  return execIn(namespace, argv, timeoutMs + 2000);
}

/** Retry httpGetIn until it answers (the bridge's ports up, the server listening); the body. */
export async function waitForHttpIn(namespace: string, url: string, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      return await httpGetIn(namespace, url, Math.min(3000, Math.max(1000, deadline - Date.now())));
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer from ${namespace} within ${timeoutMs} ms: ${last}`);
}

/**
 * The established TCP connections to `port` in a namespace, counted by peer address (the server's
 * view of who connected from where), from `ss`.
 */
export async function establishedPeers(namespace: string, port: number): Promise<Map<string, number>> {
  const text = await execIn(namespace, ['ss', '-Htn', 'state', 'established', `( sport = :${port} )`], 20_000);
  const peers = new Map<string, number>();
  for (const line of text.split('\n')) {
    // "Recv-Q Send-Q Local:Port Peer:Port" (no State column with a state filter).
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4) continue;
    const peer = fields[3]!.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    peers.set(peer, (peers.get(peer) ?? 0) + 1);
  }
  return peers;
}

// --- /proc ---------------------------------------------------------------------------------------

function childrenOf(pid: number): number[] {
  const result: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) result.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return result;
}

/** Every descendant of a process, found through /proc (namespaces of the network kind share PIDs). */
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
