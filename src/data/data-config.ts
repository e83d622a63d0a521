/**
 * --data and --data-unique, checked with everything that may name a field: the URL, the headers
 * (-H and a scenario's connect.headers), --message, --subscribe and the scenario's steps. A
 * {{data.FIELD}} without --data, a field the file lacks, and --data-unique with fewer rows than the
 * run's connections (all shards' together) are refused here, before anything starts.
 */
import { ConfigError } from '../config/errors.js';
import type { ExpectMatch, Scenario, ScenarioStep } from '../scenario/parse.js';
import { DataSet } from './data-file.js';
import { dataFieldsIn } from './placeholders.js';

/** What the result records of --data (never a value). */
export interface DataSummary {
  readonly file: string;
  readonly rows: number;
  /** The run has more connections than the file rows: connection N takes row N mod rows. */
  readonly wrapped: boolean;
  readonly unique: boolean;
}

export interface DataSites {
  readonly url: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly message: string | undefined;
  readonly subscribe: string | undefined;
  readonly scenario: Scenario | undefined;
  /** Other templates, by option: --socketio-auth, --graphql-init, --graphql-variables. */
  readonly others?: ReadonlyArray<readonly [string, string | undefined]>;
}

/**
 * The data set for `file` (undefined without --data), checked against every site that names a
 * field. `totalConnections`: the whole run's, over every shard.
 */
export function resolveData(file: string | undefined, unique: boolean, sites: DataSites, totalConnections: number, sharded: boolean): DataSet | undefined {
  const used = fieldSites(sites);
  if (file === undefined) {
    if (unique) throw new ConfigError('--data-unique', true, 'it is for --data FILE');
    const [option, field] = used[0] ?? [];
    if (option !== undefined) throw new ConfigError(option, `{{data.${field}}}`, 'it needs --data FILE: the rows its fields come from (CSV with a header row, or JSON lines)');
    return undefined;
  }
  const fields = [...new Set(used.map(([, field]) => field))];
  const headerFields = new Set(used.filter(([option]) => option.startsWith('header ')).map(([, field]) => field));
  const data = new DataSet(file, { fields, headerFields });
  if (unique && data.rows < totalConnections) {
    throw new ConfigError('--data-unique', file, `expected a row for each of the run's ${totalConnections} connections${sharded ? ' (all shards together)' : ''}; the file has ${data.rows}`);
  }
  return data;
}

export function summarizeData(data: DataSet, unique: boolean, totalConnections: number): DataSummary {
  return { file: data.file, rows: data.rows, wrapped: data.rows < totalConnections, unique };
}

/** Every (option, field) a placeholder names, in the order the options are listed in. */
function fieldSites(sites: DataSites): [string, string][] {
  const found: [string, string][] = [];
  const add = (option: string, text: string | undefined) => {
    if (text !== undefined) for (const field of dataFieldsIn(text)) found.push([option, field]);
  };
  add('url', sites.url);
  for (const [name, value] of Object.entries(sites.headers)) add(`header ${name}`, value);
  add('--message', sites.message);
  add('--subscribe', sites.subscribe);
  for (const [option, text] of sites.others ?? []) add(option, text);
  if (sites.scenario) {
    scenarioTexts(sites.scenario.steps, `--scenario ${sites.scenario.file} steps`, add);
    (sites.scenario.rules ?? []).forEach((rule, index) => {
      const at = `--scenario ${sites.scenario!.file} on[${index}]`;
      add(`${at}.send`, rule.send ?? undefined);
      if (rule.kind === 'answer') add(`${at}.match`, matchText(rule.match));
    });
  }
  return found;
}

/** The template an expect's or a rule's match renders, if any. */
function matchText(match: ExpectMatch): string | undefined {
  return match.kind === 'contains' || match.kind === 'equals' ? match.text : match.kind === 'json' ? match.equals ?? undefined : undefined;
}

function scenarioTexts(steps: readonly ScenarioStep[], path: string, add: (option: string, text: string | undefined) => void): void {
  steps.forEach((step, index) => {
    const at = `${path}[${index}]`;
    if (step.kind === 'send') add(`${at}.send`, step.text);
    else if (step.kind === 'expect') add(`${at}.expect`, matchText(step.match));
    else if (step.kind === 'loop') scenarioTexts(step.steps, `${at}.loop.steps`, add);
  });
}
