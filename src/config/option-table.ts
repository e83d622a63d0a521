/**
 * Options declared once. Each command's options are a table of OptionSpec (blast-options.ts,
 * serve-options.ts, find-options.ts; the gate's and --report's in src/cli), and from it come: commander's options with their help (the
 * default appended in one format), the defaults the resolve functions fall back to, the option
 * types (OptionValues, by mapped types over the `as const` table), the checks of the plain values
 * (readNumber, readChoice, readAddress: the validators of validate.ts, so every error is the same one
 * line naming the option, the value and what is allowed), and the README's default column, which
 * test/readme-options.test.ts holds to the table.
 *
 * What depends on several options (conflicts, "only with") stays code in the resolve functions.
 */
import type { Command } from 'commander';
import { durationMs, host, integer, oneOf, rate, sizeBytes, urlPath } from './validate.js';
import { formatDurationMs } from './units.js';

/**
 * What an option's value is, and so how it is read and how its default is written:
 * - count: an integer (50k allowed) from min to max; duration: ms (30s, 500ms; a bare number is
 *   seconds), at least min; size: bytes (64, 4kb, 1mb) from min to max; rate: per second, >= 0;
 * - share: 0.1 or 10% (written as a percentage); percent: 10 or 10% (a number of percent);
 * - enum: one of `values`; address: a host name or IP; path: a URL path;
 * - text, file, json, url, time, list: strings checked by the command's own code;
 * - boolean: a switch (`--no-x` for one that is on by default).
 */
export type OptionKind =
  | 'count' | 'duration' | 'size' | 'rate' | 'share' | 'percent' | 'port' | 'time'
  | 'enum' | 'address' | 'path' | 'text' | 'file' | 'json' | 'url' | 'list' | 'boolean';

/** Kinds whose value may be given as a number through the API (and is a string from the CLI). */
type NumericKind = 'count' | 'duration' | 'size' | 'rate' | 'share' | 'percent' | 'port' | 'time';

export interface OptionSpec {
  /** Commander's flags: `-c, --connections <count>`; the key is the long flag in camelCase. */
  readonly flags: string;
  readonly kind: OptionKind;
  /** The help line, without the default: that is appended from `default` or `defaultText`. */
  readonly help: string;
  /** The default, in the unit the config holds (ms, bytes, a share); none when the option is off or unset by default. */
  readonly default?: number | string;
  /** When the default is a behaviour rather than a value ("closed loop"): shown instead of `default`. */
  readonly defaultText?: string;
  /** count, size: the allowed range; duration: the least. */
  readonly min?: number;
  readonly max?: number;
  /** enum: the allowed values. */
  readonly values?: readonly string[];
  /** May be given more than once; the values are collected in a list. */
  readonly repeatable?: boolean;
  /** The option's name in error messages, when not its flags (`--workers`, not `-w, --workers`). */
  readonly errorName?: string;
  /** The config field its default fills, when not the key (`durationMs` for --duration). */
  readonly config?: string;
  /** Only the command reads it (output, the gate): not part of the config's options. */
  readonly cli?: true;
  /**
   * Every client process gets the resolved config's value as it is (blast): the field of the plan
   * the coordinator sends (ipc/blast-messages.ts) and of the config, both typed from this entry
   * (PlanFields), and copied by planOf. Only for a config field that holds this kind's value
   * unchanged, under `config` or the key.
   */
  readonly plan?: true;
}

type LongFlag<F extends string> = F extends `${string}--${infer Rest}` ? (Rest extends `${infer Name} ${string}` ? Name : Rest) : never;
type CamelCase<S extends string> = S extends `${infer Head}-${infer Tail}` ? `${Head}${Capitalize<CamelCase<Tail>>}` : S;
/** The key commander gives an option: `--max-handshakes` → maxHandshakes; `--no-save` → save. */
export type OptionKey<F extends string> = LongFlag<F> extends `no-${infer Rest}` ? CamelCase<Rest> : CamelCase<LongFlag<F>>;

type ValueOf<S extends OptionSpec> = S extends { kind: 'boolean' } ? boolean : S extends { repeatable: true } ? string[] : S extends { kind: NumericKind } ? string | number : string;

/** The options a table declares, as commander hands them over (and as the API takes them). */
export type OptionValues<T extends readonly OptionSpec[]> = { [S in T[number] as OptionKey<S['flags']>]?: ValueOf<S> };
/** The same without the command's own (cli) options: what the resolve function takes. */
export type ConfigValues<T extends readonly OptionSpec[]> = { [S in T[number] as S extends { cli: true } ? never : OptionKey<S['flags']>]?: ValueOf<S> };
/** Each spec by its key. */
export type SpecsByKey<T extends readonly OptionSpec[]> = { readonly [S in T[number] as OptionKey<S['flags']>]: S };
/** The defaults a table gives, by config field (or key). */
export type OptionDefaults<T extends readonly OptionSpec[]> = {
  readonly [S in T[number] as S extends { default: number | string } ? (S extends { config: infer C extends string } ? C : OptionKey<S['flags']>) : never]: S extends { default: infer D } ? D : never;
};

/** The config field an option fills: `config`, else its key. */
type ConfigField<S extends OptionSpec> = S extends { config: infer C extends string } ? C : OptionKey<S['flags']>;
/**
 * What a resolved config holds for an option: a number in the config's unit (ms, bytes, a share), a
 * switch, one of the choices, or a string; and undefined when it has no default and was not given.
 */
type Resolved<S extends OptionSpec> = S extends { kind: 'boolean' }
  ? boolean
  : (S extends { kind: NumericKind } ? number : S extends { kind: 'enum'; values: readonly (infer V)[] } ? V : string) | (S extends { default: number | string } ? never : undefined);
/** The config fields of the entries marked `plan`, typed from them: what every client process is sent as is. */
export type PlanFields<T extends readonly OptionSpec[]> = { readonly [S in T[number] as S extends { plan: true } ? ConfigField<S> : never]: Resolved<S> };

/** The config fields of the entries marked `plan`, in the table's order. */
export function planFieldsOf<T extends readonly OptionSpec[]>(table: T): readonly (keyof PlanFields<T> & string)[] {
  return table.filter((spec) => spec.plan).map((spec) => (spec.config ?? optionKey(spec)) as keyof PlanFields<T> & string);
}

/** The plan's fields of a resolved config: each `plan` entry's field, copied as is. */
export function planOf<T extends readonly OptionSpec[]>(table: T, config: PlanFields<T>): PlanFields<T> {
  return Object.fromEntries(planFieldsOf(table).map((field) => [field, config[field]])) as PlanFields<T>;
}

/** The long flag in camelCase, as commander names the value (`--no-save` → save). */
export function optionKey(spec: OptionSpec): string {
  const long = /--([a-z0-9-]+)/i.exec(spec.flags)![1]!;
  return long.replace(/^no-/, '').replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The flags without the value: `-c, --connections`. */
export function optionNames(spec: OptionSpec): string[] {
  return spec.flags.replace(/\s*[<[].*$/, '').split(/,\s*/);
}

export function byKey<T extends readonly OptionSpec[]>(table: T): SpecsByKey<T> {
  return Object.fromEntries(table.map((spec) => [optionKey(spec), spec])) as SpecsByKey<T>;
}

export function defaultsOf<T extends readonly OptionSpec[]>(table: T): OptionDefaults<T> {
  return Object.fromEntries(table.filter((spec) => spec.default !== undefined).map((spec) => [spec.config ?? optionKey(spec), spec.default])) as OptionDefaults<T>;
}

/** The default as a user would type it (10s, 1mb, 10%), or what happens without the option; '' for none. */
export function formatDefault(spec: OptionSpec): string {
  if (spec.defaultText !== undefined) return spec.defaultText;
  const value = spec.default;
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  switch (spec.kind) {
    case 'duration':
      return formatDurationMs(value);
    case 'size':
      return formatSize(value);
    case 'share':
      return `${value * 100}%`;
    case 'percent':
      return `${value}%`;
    default:
      return String(value);
  }
}

function formatSize(bytes: number): string {
  for (const [unit, scale] of [['gb', 1024 ** 3], ['mb', 1024 ** 2], ['kb', 1024]] as const) {
    if (bytes >= scale && bytes % scale === 0) return `${bytes / scale}${unit}`;
  }
  return String(bytes);
}

/** The help line: the text, then the default (a value: "(default 10s)"; a behaviour: "(default: closed loop)"). */
export function optionHelp(spec: OptionSpec): string {
  if (spec.defaultText !== undefined) return `${spec.help} (default: ${spec.defaultText})`;
  return spec.default === undefined ? spec.help : `${spec.help} (default ${formatDefault(spec)})`;
}

const collect = (value: string, all: string[] = []) => [...all, value];

/** The table's options on `command`, in its order. Commander keeps no defaults: an option not given stays undefined. */
export function addOptions(command: Command, table: readonly OptionSpec[]): Command {
  for (const spec of table) {
    if (spec.repeatable) command.option(spec.flags, optionHelp(spec), collect);
    else command.option(spec.flags, optionHelp(spec));
  }
  return command;
}

function errorName(spec: OptionSpec): string {
  return spec.errorName ?? optionNames(spec).join(', ');
}

type Raw = string | number | undefined;

/** A count, duration, size or rate: checked by validate.ts; the default when not given. */
export function readNumber(spec: OptionSpec, value: Raw, fallback = spec.default as number | undefined): number {
  if (fallback === undefined && value === undefined) throw new Error(`${spec.flags}: no default`);
  const name = errorName(spec);
  switch (spec.kind) {
    case 'count':
    case 'port':
      return integer(name, value, fallback!, spec.min ?? 0, spec.max);
    case 'duration':
      return durationMs(name, value, fallback!, spec.min ?? 0);
    case 'size':
      return sizeBytes(name, value, fallback!, spec.min ?? 0, spec.max!);
    case 'rate':
      return rate(name, value, fallback!);
    default:
      throw new Error(`${spec.flags}: not a number kind (${spec.kind})`);
  }
}

/** As readNumber, and undefined when not given (an option without a default). */
export function readOptionalNumber(spec: OptionSpec, value: Raw): number | undefined {
  return value === undefined ? undefined : readNumber(spec, value, 0);
}

export function readChoice<T extends string>(spec: OptionSpec & { values: readonly T[] }, value: string | undefined): T {
  return oneOf<T>(errorName(spec), value, spec.default as T, spec.values);
}

export function readAddress(spec: OptionSpec, value: string | undefined): string {
  return host(errorName(spec), value, spec.default as string);
}

export function readPath(spec: OptionSpec, value: string | undefined): string {
  return urlPath(errorName(spec), value, spec.default as string);
}
