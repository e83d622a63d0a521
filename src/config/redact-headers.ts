/**
 * Upgrade headers often carry credentials (Authorization, cookies, API keys). Results files are
 * shared and committed, so header values are replaced by "<redacted>" (names kept) unless the run
 * asked to record them (--record-headers).
 */
export const REDACTED = '<redacted>';

export function redactHeaders(config: Record<string, unknown>): Record<string, unknown> {
  const headers = config.headers;
  if (config.recordHeaders === true || headers === null || typeof headers !== 'object') return config;
  return { ...config, headers: Object.fromEntries(Object.keys(headers).map((name) => [name, REDACTED])) };
}

/** The command line as recorded in results: `-H 'name: value'` becomes `-H 'name: <redacted>'`. */
export function redactHeaderArgs(args: readonly string[], recordHeaders: boolean): string[] {
  if (recordHeaders) return [...args];
  const redactLine = (line: string) => (line.includes(':') ? `${line.slice(0, line.indexOf(':'))}: ${REDACTED}` : REDACTED);
  return args.map((arg, index) => {
    const previous = args[index - 1];
    if (previous === '-H' || previous === '--header') return redactLine(arg);
    if (arg.startsWith('--header=')) return `--header=${redactLine(arg.slice('--header='.length))}`;
    if (arg.startsWith('-H') && arg.length > 2) return `-H${redactLine(arg.slice(2))}`;
    return arg;
  });
}
