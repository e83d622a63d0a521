/**
 * The process state a command touches, in one object (k6's habit), so whole commands can be run in
 * tests and so nothing below the CLI writes to the terminal by itself.
 */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly stderrIsTTY: boolean;
  readonly env: NodeJS.ProcessEnv;
  readonly argv: readonly string[];
}

export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stderrIsTTY: Boolean(process.stderr.isTTY),
    env: process.env,
    argv: process.argv,
  };
}

/**
 * Resolves on the first SIGINT or SIGTERM with its name. The command then winds down and still
 * prints and writes what it measured: a second signal only calls `onRepeat` (to say so), a third
 * ends the process at once (exit 130).
 */
export function onceInterrupted(onRepeat?: () => void): { signal: Promise<NodeJS.Signals>; dispose: () => void } {
  let dispose = () => {};
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    let received = 0;
    const onSignal = (name: NodeJS.Signals) => {
      received++;
      if (received === 1) resolve(name);
      else if (received === 2) onRepeat?.();
      else process.exit(130);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    dispose = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
  });
  return { signal, dispose: () => dispose() };
}
