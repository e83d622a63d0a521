/** `wsbench merge A.json B.json ...`: one exact result from shards or runs of one config, gated like blast. */
import { Command } from 'commander';
import { readResultFile } from '../gate/files.js';
import { applyGate, resolveGate } from '../gate/gate-plan.js';
import { DEFAULT_MIN_OVERLAP, mergeResults, type MergedResult } from '../gate/merge.js';
import { gatedVerdict } from '../gate/verdict.js';
import { ConfigError } from '../config/errors.js';
import { integer } from '../config/validate.js';
import { parsePercent } from '../config/units.js';
import { formatBlastSummary } from '../report/blast-text.js';
import { checkWritable, defaultResultsPath, writeJsonAtomic } from '../report/results-file.js';
import { addGateOptions, formatGated, GATE_HELP, reportVerdict, type GateFlags } from './gate-options.js';
import type { CliIo } from './io.js';
import { addReportOption, appendStepSummary, resolveReportFormats, writeReports } from './report-options.js';

interface MergeFlags extends GateFlags {
  out?: string;
  force?: boolean;
  json?: boolean;
  quiet?: boolean;
  report?: string;
  expect?: string;
  allowPartial?: boolean;
  partialOk?: boolean;
  minOverlap?: string;
}

/** --min-overlap: a percentage, 0 to 100 ("95", "95%"), as a share 0 to 1. */
function parseMinOverlap(text: string | undefined): number {
  if (text === undefined) return DEFAULT_MIN_OVERLAP;
  const value = parsePercent(text);
  if (!(value >= 0 && value <= 100)) throw new ConfigError('--min-overlap', text, 'expected a percentage from 0 to 100, such as 95%');
  return value / 100;
}

export function mergeCommand(io: CliIo, setExit: (code: number) => void): Command {
  const command = new Command('merge')
    .description('merge blast results (shards of one load) into one exact result: counters summed, histograms added')
    .argument('<results...>', 'result files (JSON from blast --out or --json)')
    .option('-o, --out <file>', 'write the merged result here (atomically)')
    .option('--force', 'merge results of other schema versions, targets or configs, shards that did not run together, or an incomplete set (marked partial)')
    .option('--expect <count>', 'the load was made of this many shards (or result files): those missing are named')
    .option('--allow-partial', 'merge what arrived when shards are missing: the result is marked partial, and the exit is 1 unless --partial-ok')
    .option('--partial-ok', 'judge a partial result by its thresholds alone')
    .option('--min-overlap <percent>', `the least share of the merged run during which every shard's run phase was going (default ${DEFAULT_MIN_OVERLAP * 100}%)`)
    .option('--json', 'print the merged result as JSON on stdout')
    .option('-q, --quiet', 'no "written to" line on stderr')
    .addHelpText(
      'after',
      `
Examples:
  $ wsbench blast ws://10.0.0.5:8000/ws -c 100k --shard 1/2 -o a.json   # on one machine
  $ wsbench blast ws://10.0.0.5:8000/ws -c 100k --shard 2/2 -o b.json   # on another
  $ wsbench merge a.json b.json -o all.json --threshold 'failed:count==0' --report html,junit   # all.html, all.junit.xml
${GATE_HELP}

Reports (--report html,md,junit,hgrm) go next to -o (or results/merge-<time>.*); with $GITHUB_STEP_SUMMARY
set, the Markdown summary is appended there.

Shards run together when started with blast --barrier (or --start-at): merge measures how far their run
phases overlapped (merged.overlap) and refuses under --min-overlap.

Exit codes: 0 ok, 1 a partial result (--allow-partial; unless --partial-ok), 2 bad input or results
that cannot be merged, 99 a threshold crossed or a regression.`,
    );
  return addReportOption(addGateOptions(command)).action((files: string[], flags: MergeFlags) => {
    const gate = resolveGate(flags);
    const reports = resolveReportFormats(flags.report);
    if (flags.out !== undefined) checkWritable(flags.out, '-o, --out');
    const sources = files.map((path) => ({ path, result: readResultFile('merge', path) }));
    const expect = flags.expect === undefined ? undefined : integer('--expect', flags.expect, 1, 1, 10_000);
    const minOverlap = parseMinOverlap(flags.minOverlap);
    const result = applyGate<MergedResult>(mergeResults(sources, { force: flags.force, expect, allowPartial: flags.allowPartial, minOverlap }), gate);
    const overlap = result.merged.overlap;
    const heading =
      (result.partial ? `PARTIAL: ${result.partial.missing.join(', ')} missing of ${result.partial.expected}\n` : '') +
      `Merged ${files.length} result${files.length === 1 ? '' : 's'}: ${result.merged.sources
        .map((s) => `${s.file}${s.shard ? ` (shard ${s.shard.index}/${s.shard.count})` : ''}`)
        .join(', ')}\n` +
      (overlap
        ? `Run phases overlapped ${(Math.floor(overlap.share * 1000) / 10).toFixed(1)}%: all running together ${(overlap.togetherMs / 1000).toFixed(2)} s of ${(overlap.spanMs / 1000).toFixed(2)} s\n`
        : '') +
      '\n';
    io.stdout.write(flags.json ? JSON.stringify(result, null, 2) + '\n' : formatGated(result, heading + formatBlastSummary(result)));
    if (flags.out !== undefined) {
      writeJsonAtomic(flags.out, result);
      if (!flags.quiet && !flags.json) io.stderr.write(`wsbench merge: merged result written to ${flags.out}\n`);
    }
    const written = writeReports(result, flags.out ?? defaultResultsPath('merge'), reports);
    if (written.length && !flags.quiet && !flags.json) io.stderr.write(`wsbench merge: reports written to ${written.join(', ')}\n`);
    appendStepSummary(io, result);
    setExit(reportVerdict(io, gatedVerdict(result, result.thresholds, result.comparison, { partialOk: flags.partialOk })));
  });
}
