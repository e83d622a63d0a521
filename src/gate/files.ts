/**
 * Files the gate reads: blast results (for compare, merge and --baseline) and threshold lists
 * (--thresholds). Anything unreadable or not what it should be is a ConfigError naming the option
 * and the file: exit 2, before any connection opens.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ConfigError } from '../config/errors.js';
import type { BlastResult } from '../metrics/blast-result.js';
import { resultProblem } from './result-schema.js';
import { parseThreshold, type Threshold } from './thresholds.js';

function readText(option: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(option, path, `expected a readable file (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
}

function readJson(option: string, path: string): unknown {
  const text = readText(option, path);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ConfigError(option, path, `expected JSON (${(error as Error).message})`);
  }
}

/**
 * The yaml package, loaded at the first YAML file: loading it takes about 55 ms, and every wsbench
 * process imports this module (blast's client processes too), while few runs read a YAML file.
 */
let yaml: typeof import('yaml') | undefined;
const requireHere = createRequire(import.meta.url);

/** A .yaml or .yml file as YAML (a team's gate or scenario kept in the repository), anything else as JSON. */
export function readJsonOrYaml(option: string, path: string): unknown {
  if (!/\.ya?ml$/i.test(path)) return readJson(option, path);
  const text = readText(option, path);
  yaml ??= requireHere('yaml') as typeof import('yaml');
  try {
    return yaml.parse(text) as unknown;
  } catch (error) {
    throw new ConfigError(option, path, `expected YAML (${(error as Error).message.split('\n')[0]})`);
  }
}

/**
 * A wsbench blast result, checked against its schema (result-schema.ts) before anything uses it:
 * wrong types, negative or inconsistent counts, an unknown schemaVersion or an undecodable
 * histogram are refused with the field named (exit 2).
 */
export function readResultFile(option: string, path: string): BlastResult {
  const value = readJson(option, path);
  const problem = resultProblem(value);
  if (problem) throw new ConfigError(option, path, `expected a wsbench blast result (JSON written by blast --out or --json): ${problem}`);
  return value as BlastResult;
}

/**
 * A thresholds file: JSON or YAML (by its .yaml/.yml name), either `{"thresholds": ["rtt:p(99)<50ms", ...]}`
 * (YAML: a `thresholds:` list) or a plain list of expressions. Each entry is parsed here, so errors
 * name the file and the entry.
 */
export function readThresholdsFile(path: string, option = '--thresholds'): Threshold[] {
  const value = readJsonOrYaml(option, path);
  const list = Array.isArray(value) ? value : (value as { thresholds?: unknown } | null)?.thresholds;
  if (!Array.isArray(list) || list.some((entry) => typeof entry !== 'string')) {
    throw new ConfigError(option, path, 'expected {"thresholds": ["rtt:p(99)<50ms", ...]} (JSON, or YAML with a thresholds: list) or a list of threshold strings');
  }
  return (list as string[]).map((expression, index) => parseThreshold(expression, `${option} ${path} [${index}]`));
}
