/**
 * The README's option tables and the commands' own options (commander's, the ones `--help` lists)
 * are the same set: an option added to a command and not to its table, or a row left for an option
 * that is gone, fails here. serve and blast have a table each (the other commands list their few
 * options in their sections and in --help).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import type { Command } from 'commander';
import { blastCommand } from '../src/cli/blast-command.js';
import type { CliIo } from '../src/cli/io.js';
import { serveCommand } from '../src/cli/serve-command.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The flags in the first column of the option table that follows `heading`. */
function tableFlags(heading: string): Set<string> {
  const start = readme.indexOf(`\n${heading}\n`);
  assert.notEqual(start, -1, `README has no "${heading}"`);
  const lines = readme.slice(start).split('\n');
  const header = lines.findIndex((line) => line.startsWith('| option |'));
  assert.notEqual(header, -1, `no option table under "${heading}"`);
  const flags = new Set<string>();
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const first = line.split(/(?<!\\)\|/)[1]!;
    for (const [flag] of first.matchAll(/(?<![\w-])--?[a-zA-Z][a-z0-9-]*/g)) flags.add(flag);
  }
  return flags;
}

function commandFlags(command: Command): Set<string> {
  const flags = new Set<string>();
  for (const option of command.options) {
    if (option.long) flags.add(option.long);
    if (option.short) flags.add(option.short);
  }
  return flags;
}

const io: CliIo = { stdout: new PassThrough(), stderr: new PassThrough(), stderrIsTTY: false, env: {}, argv: [] };

describe("README option tables agree with the commands' options", () => {
  for (const [heading, build] of [['## serve', serveCommand], ['## blast', blastCommand]] as const) {
    it(`${heading.slice(3)}: every option is in the table, and the table names no other`, () => {
      const documented = tableFlags(heading);
      const actual = commandFlags(build(io, () => {}));
      assert.deepEqual([...actual].filter((flag) => !documented.has(flag)).sort(), [], `options missing from the README's ${heading.slice(3)} table`);
      assert.deepEqual([...documented].filter((flag) => !actual.has(flag)).sort(), [], `rows in the README's ${heading.slice(3)} table for options the command does not have`);
    });
  }
});
