/**
 * Upgrade headers often carry credentials (Authorization, cookies, API keys), and so does a URL's
 * user:password. Results files are shared and committed, so header values are replaced by
 * "<redacted>" (names kept), and a URL's credentials by "<redacted>@", unless the run asked to record
 * them (--record-headers).
 */
import { showDataPlaceholders } from '../data/placeholders.js';

export const REDACTED = '<redacted>';

export function redactHeaders(config: Record<string, unknown>): Record<string, unknown> {
  if (config.recordHeaders === true) return config;
  const headers = config.headers;
  const redacted = typeof config.url === 'string' ? { ...config, url: redactUrl(config.url) } : { ...config };
  if (headers === null || typeof headers !== 'object') return redacted;
  return { ...redacted, headers: Object.fromEntries(Object.keys(headers).map((name) => [name, REDACTED])) };
}

/** A URL with its user and password, if any, replaced by "<redacted>" (anything that is no URL: as it is). */
export function redactUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text;
  }
  if (url.username === '' && url.password === '') return text;
  url.username = '';
  url.password = '';
  return showDataPlaceholders(url.href).replace('//', `//${REDACTED}@`);
}

/** Options whose whole value may carry a token, as a header does: recorded as <redacted>. */
const SECRET_OPTIONS = ['--socketio-auth', '--graphql-init'];

/**
 * The command line as recorded in results: `-H 'name: value'` becomes `-H 'name: <redacted>'`, a
 * URL's user:password and the payloads of SECRET_OPTIONS `<redacted>`.
 */
export function redactHeaderArgs(args: readonly string[], recordHeaders: boolean): string[] {
  if (recordHeaders) return [...args];
  const redactLine = (line: string) => (line.includes(':') ? `${line.slice(0, line.indexOf(':'))}: ${REDACTED}` : REDACTED);
  return args.map((arg, index) => {
    const previous = args[index - 1];
    if (previous === '-H' || previous === '--header') return redactLine(arg);
    if (SECRET_OPTIONS.includes(previous!)) return REDACTED;
    const secret = SECRET_OPTIONS.find((option) => arg.startsWith(`${option}=`));
    if (secret) return `${secret}=${REDACTED}`;
    if (arg.startsWith('--header=')) return `--header=${redactLine(arg.slice('--header='.length))}`;
    if (arg.startsWith('-H') && arg.length > 2) return `-H${redactLine(arg.slice(2))}`;
    return /^wss?:\/\//i.test(arg) ? redactUrl(arg) : arg;
  });
}
