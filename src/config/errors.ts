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

const MAX_VALUE_CHARS = 100;

function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value !== 'object' || value === null) return String(value);
  // An object (a scenario's step, say) as its JSON, cut short: the message stays one readable line.
  const text = JSON.stringify(value);
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 1)}…` : text;
}
