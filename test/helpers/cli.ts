/** Run the real wsbench binary, as a user would. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { exitWithOutput } from './exited.js';

export const BIN = fileURLToPath(new URL('../../../bin/wsbench.js', import.meta.url));

export interface CliRun {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  /** Resolves with the exit code (or the signal's name) when the process ends. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first stderr match of `pattern`. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): CliRun {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run: CliRun = {
    child,
    stdout: '',
    stderr: '',
    exited: exitWithOutput(child),
    waitForStderr(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = run.stderr.match(pattern);
          if (!match) return false;
          clearTimeout(timer);
          child.stderr!.off('data', check);
          resolve(match);
          return true;
        };
        const timer = setTimeout(() => {
          child.stderr!.off('data', check);
          reject(new Error(`no ${pattern} on stderr within ${timeoutMs} ms; stderr so far:\n${run.stderr}`));
        }, timeoutMs);
        if (!check()) child.stderr!.on('data', check);
      });
    },
  };
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (run.stdout += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (run.stderr += text));
  return run;
}

/** Run to completion. */
export async function runCliToEnd(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}) {
  const run = runCli(args, options);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  const { code, signal } = await run.exited;
  clearTimeout(timer);
  return { code, signal, stdout: run.stdout, stderr: run.stderr };
}

/** Start `wsbench serve` on a free port and wait for its URL. */
export async function startServeCli(args: string[]): Promise<CliRun & { url: string }> {
  const run = runCli(['serve', '--port', '0', ...args]);
  const match = await run.waitForStderr(/listening on (wss?:\/\/\S+)/);
  return Object.assign(run, { url: match[1]! });
}

/** Stop a process we started and wait for it. */
export async function stop(run: CliRun, signal: NodeJS.Signals = 'SIGTERM') {
  if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill(signal);
  return run.exited;
}

/** A port that was free a moment ago (for runs that print no URL, such as --json). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Wait until an HTTP endpoint answers 200. */
export async function waitForHttp(url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

/** The PIDs of a `wsbench blast` run's client processes, once one runs (polled from /proc). */
export async function clientProcesses(run: CliRun, timeoutMs = 15_000): Promise<number[]> {
  const pid = run.child.pid!;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let children: number[] = [];
    try {
      children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      // the coordinator has not started, or has ended
    }
    const clients = children.filter((child) => {
      try {
        return readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('blast/worker-main');
      } catch {
        return false;
      }
    });
    if (clients.length > 0) return clients;
    if (Date.now() > deadline || run.child.exitCode !== null) throw new Error(`no client process of ${pid} within ${timeoutMs} ms; stderr so far:\n${run.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Wait until a `wsbench serve` at `wsUrl` counts `open` connections open (its /healthz). */
export async function waitForOpen(wsUrl: string, open: number, timeoutMs = 20_000): Promise<void> {
  const url = new URL(wsUrl);
  const healthz = `http://${url.host}/healthz`;
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  while (Date.now() < deadline) {
    try {
      last = ((await (await fetch(healthz)).json()) as { open: number }).open;
      if (last >= open) return;
    } catch {
      // not answering yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${healthz}: ${last} open, not ${open}, within ${timeoutMs} ms`);
}
