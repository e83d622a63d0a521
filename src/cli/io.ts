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

/** Resolves on the first SIGINT or SIGTERM with its name; a second one is left to the default (exit). */
export function onceInterrupted(): { signal: Promise<NodeJS.Signals>; dispose: () => void } {
  let dispose = () => {};
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (name: NodeJS.Signals) => {
      dispose();
      // A second Ctrl-C while we drain means "now": restore the default so it ends the process.
      process.once('SIGINT', () => process.exit(130));
      resolve(name);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    dispose = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
  });
  return { signal, dispose: () => dispose() };
}
