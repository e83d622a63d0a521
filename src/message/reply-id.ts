/**
 * --reply-id: where a message's id is, so each reply is paired with its request. Two forms:
 *
 *   a JSON field path    id, result.id, params.0.id   (dots between object keys and array indexes)
 *   a regular expression /"id":(\d+)/                 (between slashes, with exactly one group)
 *
 * The same extractor reads the id from each request as it is built and from each message received,
 * so requests and replies agree by construction. An id is compared as text: JSON values by their
 * JSON text (1 and "1" differ), a regex by its group.
 */
import { ConfigError } from '../config/errors.js';

export type IdExtractor = (message: Buffer) => string | undefined;

const OPTION = '--reply-id';

export function compileIdExtractor(spec: string, option = OPTION): IdExtractor {
  const pattern = slashRegex(spec, option);
  if (pattern) {
    const groups = new RegExp(`${pattern.source}|`).exec('')!.length - 1;
    if (groups !== 1) throw new ConfigError(option, spec, `expected a regular expression with exactly one capturing group (it has ${groups})`);
    return (message) => {
      const match = pattern.exec(message.toString());
      return match?.[1] ?? undefined;
    };
  }
  if (!JSON_PATH.test(spec)) {
    throw new ConfigError(option, spec, 'expected a JSON field path such as id or result.id, or a regular expression between slashes such as /"id":(\\d+)/');
  }
  const path = spec.split('.');
  return (message) => {
    const value = jsonAt(message, path);
    return value === undefined || value === null || typeof value === 'object' ? undefined : JSON.stringify(value);
  };
}

/** A JSON field path: keys and array indexes between dots (id, result.id, params.0.id). */
export const JSON_PATH = /^[^.\s]+(\.[^.\s]+)*$/;

/**
 * `/source/flags` as a RegExp; undefined when `spec` is not between slashes. An invalid expression
 * is a ConfigError naming `option`.
 */
export function slashRegex(spec: string, option: string): RegExp | undefined {
  const end = spec.lastIndexOf('/');
  if (spec.length < 2 || !spec.startsWith('/') || end <= 0) return undefined;
  try {
    return new RegExp(spec.slice(1, end), spec.slice(end + 1));
  } catch (error) {
    throw new ConfigError(option, spec, `expected a valid regular expression (${(error as Error).message})`);
  }
}

/** The value at `path` (split at its dots) in a message that is JSON; undefined when it is not there. */
export function jsonAt(message: Buffer, path: readonly string[]): unknown {
  let value: unknown;
  try {
    value = JSON.parse(message.toString());
  } catch {
    return undefined;
  }
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}
