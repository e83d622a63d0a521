/**
 * The README's option tables and the option tables of the code (src/config/*-options.ts, from which
 * commander's options, their help and the defaults come) agree:
 * - the same set of flags: an option added to a command and not to its table, or a row left for an
 *   option that is gone, fails here;
 * - the same defaults: each row's default column is its options' defaults as the table writes them
 *   (formatDefault: 10s, 1mb, 10%, or what happens without the option), joined by "; " in the order
 *   the row names the options (trailing empty ones left out), backticks aside.
 * serve and blast have a table each (the other commands list their few options in their sections and
 * in --help).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import type { Command } from 'commander';
import { BLAST_COMMAND_OPTIONS, blastCommand } from '../src/cli/blast-command.js';
import type { CliIo } from '../src/cli/io.js';
import { serveCommand } from '../src/cli/serve-command.js';
import { SERVE_OPTIONS } from '../src/config/serve-options.js';
import { formatDefault, optionHelp, optionNames, type OptionSpec } from '../src/config/option-table.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

interface Row {
  readonly line: string;
  /** The flags of the first column, in order. */
  readonly flags: string[];
  /** The default column, backticks removed. */
  readonly default: string;
}

/** The rows of the option table that follows `heading`. */
function tableRows(heading: string): Row[] {
  const start = readme.indexOf(`\n${heading}\n`);
  assert.notEqual(start, -1, `README has no "${heading}"`);
  const lines = readme.slice(start).split('\n');
  const header = lines.findIndex((line) => line.startsWith('| option |'));
  assert.notEqual(header, -1, `no option table under "${heading}"`);
  const rows: Row[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const cells = line.split(/(?<!\\)\|/);
    const flags = [...cells[1]!.matchAll(/(?<![\w-])--?[a-zA-Z][a-z0-9-]*/g)].map(([flag]) => flag);
    rows.push({ line, flags, default: cells[2]!.replaceAll('`', '').trim() });
  }
  return rows;
}

function commandFlags(command: Command): Set<string> {
  const flags = new Set<string>();
  for (const option of command.options) {
    if (option.long) flags.add(option.long);
    if (option.short) flags.add(option.short);
  }
  return flags;
}

/** What a row naming these options should say in its default column. */
function expectedDefault(specs: readonly OptionSpec[]): string {
  const parts = specs.map((spec) => formatDefault(spec));
  while (parts.length > 1 && parts.at(-1) === '') parts.pop();
  return parts.join('; ').replaceAll('`', '').trim();
}

const io: CliIo = { stdout: new PassThrough(), stderr: new PassThrough(), stderrIsTTY: false, env: {}, argv: [] };

const commands = [
  ['## serve', serveCommand, SERVE_OPTIONS],
  ['## blast', blastCommand, BLAST_COMMAND_OPTIONS],
] as const;

describe("README option tables agree with the commands' options", () => {
  for (const [heading, build, table] of commands) {
    const name = heading.slice(3);
    it(`${name}: every option is in the table, and the table names no other`, () => {
      const documented = new Set(tableRows(heading).flatMap((row) => row.flags));
      const actual = commandFlags(build(io, () => {}));
      assert.deepEqual([...actual].filter((flag) => !documented.has(flag)).sort(), [], `options missing from the README's ${name} table`);
      assert.deepEqual([...documented].filter((flag) => !actual.has(flag)).sort(), [], `rows in the README's ${name} table for options the command does not have`);
    });

    it(`${name}: each row's default is the option table's`, () => {
      const byFlag = new Map<string, OptionSpec>();
      for (const spec of table as readonly OptionSpec[]) for (const flag of optionNames(spec)) byFlag.set(flag, spec);
      let checked = 0;
      for (const row of tableRows(heading)) {
        if (row.flags.length === 0) continue; // [url]: the argument, not an option
        const specs = [...new Set(row.flags.map((flag) => byFlag.get(flag)))];
        assert.ok(specs.every((spec) => spec !== undefined), `a flag of this row is in no option table: ${row.line}`);
        assert.equal(row.default, expectedDefault(specs as OptionSpec[]), `the README's default for ${row.flags.join(', ')} is not the option table's`);
        checked++;
      }
      assert.ok(checked >= 10, `only ${checked} rows checked`);
    });

    it(`${name}: --help shows each option's default from the table`, () => {
      const help = build(io, () => {}).helpInformation({ error: false });
      const flat = help.replace(/\s+/g, ' ');
      for (const spec of table as readonly OptionSpec[]) {
        const described = optionHelp(spec).replace(/\s+/g, ' ');
        assert.ok(flat.includes(described), `--help does not show ${JSON.stringify(described)}`);
      }
    });
  }
});

describe('option table formats', () => {
  it('writes defaults as they are typed', () => {
    assert.equal(formatDefault({ flags: '--x <d>', kind: 'duration', default: 300_000, help: '' }), '5m');
    assert.equal(formatDefault({ flags: '--x <d>', kind: 'duration', default: 1500, help: '' }), '1500ms');
    assert.equal(formatDefault({ flags: '--x <s>', kind: 'size', default: 256 * 1024 ** 2, help: '' }), '256mb');
    assert.equal(formatDefault({ flags: '--x <s>', kind: 'size', default: 64, help: '' }), '64');
    assert.equal(formatDefault({ flags: '--x <s>', kind: 'share', default: 0.1, help: '' }), '10%');
    assert.equal(formatDefault({ flags: '--x', kind: 'boolean', defaultText: 'text', help: '' }), 'text');
    assert.equal(optionHelp({ flags: '--x <n>', kind: 'count', default: 3, help: 'things' }), 'things (default 3)');
    assert.equal(optionHelp({ flags: '--x <r>', kind: 'rate', default: 0, defaultText: 'no pacing', help: 'per second' }), 'per second (default: no pacing)');
  });
});
