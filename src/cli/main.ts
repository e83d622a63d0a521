/**
 * The wsbench program: argv → one subcommand → exit code. This is the only place that prints errors
 * and sets the exit code; everything below throws typed errors or returns data.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { ExitCode } from '../config/errors.js';
import { processIo, type CliIo } from './io.js';
import { blastCommand } from './blast-command.js';
import { compareCommand } from './compare-command.js';
import { findCommand } from './find-command.js';
import { mergeCommand } from './merge-command.js';
import { reportCommand } from './report-command.js';
import { serveCommand } from './serve-command.js';

const packageJson = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

export async function main(io: CliIo = processIo()): Promise<number> {
  let exitCode: number = ExitCode.ok;
  const setExit = (code: number) => {
    exitCode = code;
  };
  const program = new Command('wsbench')
    .description('WebSocket load testing: a capped echo server (serve) and a load generator (blast)')
    .version(packageJson.version, '-V, --version')
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .exitOverride()
    .addHelpText(
      'after',
      `
Exit codes: 0 ok, 1 run failed, 2 invalid usage or config, 99 thresholds crossed, 130 interrupted.
1 includes "nothing was measured" and "the server went away"; 99 includes regressions against
--baseline; see wsbench blast --help.`,
    );
  for (const command of [serveCommand(io, setExit), blastCommand(io, setExit), findCommand(io, setExit), compareCommand(io, setExit), mergeCommand(io, setExit), reportCommand(io, setExit)]) {
    program.addCommand(command.exitOverride().configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    }));
  }
  try {
    await program.parseAsync(io.argv as string[]);
    return exitCode;
  } catch (error) {
    return reportError(io, error);
  }
}

function reportError(io: CliIo, error: unknown): number {
  if (error instanceof CommanderError) {
    // Help and version are "errors" to commander's exitOverride; their text is already printed.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') {
      return ExitCode.ok;
    }
    return ExitCode.usage;
  }
  const typed = error as { exitCode?: number; message?: string; code?: string };
  if (typeof typed.exitCode === 'number') {
    io.stderr.write(`wsbench: ${typed.message}\n`);
    return typed.exitCode;
  }
  io.stderr.write(`wsbench: unexpected error: ${typed.message ?? String(error)}\n`);
  if (io.env.WSBENCH_DEBUG) io.stderr.write(`${(error as Error).stack}\n`);
  return ExitCode.runFailed;
}

const code = await main();
process.exitCode = code;
// Servers and sockets may keep the loop alive after the result is out; the exit code is final.
setImmediate(() => process.exit(code));
