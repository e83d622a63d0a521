/**
 * Named exit codes (DESIGN.md). Only the CLI sets the process exit code; everything else throws or
 * returns data.
 */
export const ExitCode = {
  ok: 0,
  runFailed: 1,
  usage: 2,
  thresholdsCrossed: 99,
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Bad input: names the option, the value and what is allowed. The CLI prints it on one line, exit 2. */
export class ConfigError extends Error {
  readonly code = 'ERR_WSBENCH_CONFIG';
  readonly exitCode = ExitCode.usage;
  constructor(option: string, value: unknown, allowed: string) {
    super(`${option}: ${formatValue(value)} is not valid; ${allowed}`);
    this.name = 'ConfigError';
  }
}

/** The job could not be done (port in use, nothing reachable, impossible plan at start). Exit 1. */
export class RunError extends Error {
  readonly exitCode = ExitCode.runFailed;
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'RunError';
  }
}

function formatValue(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
