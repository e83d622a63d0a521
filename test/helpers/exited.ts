import type { ChildProcess } from 'node:child_process';

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/**
 * A child's exit, once what it wrote has been read. 'exit' can come before the last bytes on its
 * stdout and stderr pipes are read (the pipes may still be open then, as Node documents), so
 * output read at 'exit' can miss its end: a test once saw exit code 2 with an empty stderr where
 * the process had printed its one-line error. 'close' comes once the pipes are closed. A
 * process's own children that share the pipes (blast's client processes) hold them open while
 * they live, so 'close' is awaited at most `graceMs` after 'exit'.
 */
export function exitWithOutput(child: ChildProcess, graceMs = 1000): Promise<Exit> {
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      const done = () => {
        clearTimeout(timer);
        resolve({ code, signal });
      };
      const timer = setTimeout(done, graceMs);
      child.once('close', done);
    });
    child.once('error', () => resolve({ code: null, signal: null }));
  });
}
