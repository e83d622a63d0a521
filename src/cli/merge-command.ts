/** `wsbench merge A.json B.json ...`: one exact result from shards or runs of one config, gated like blast. */
import { Command } from 'commander';
import { readResultFile } from '../gate/files.js';
import { applyGate, resolveGate } from '../gate/gate-plan.js';
import { mergeResults, type MergedResult } from '../gate/merge.js';
import { gateVerdict } from '../gate/verdict.js';
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
}

export function mergeCommand(io: CliIo, setExit: (code: number) => void): Command {
  const command = new Command('merge')
    .description('merge blast results (shards of one load) into one exact result: counters summed, histograms added')
    .argument('<results...>', 'result files (JSON from blast --out or --json)')
    .option('-o, --out <file>', 'write the merged result here (atomically)')
    .option('--force', 'merge results of other schema versions, targets or configs, or an incomplete set of shards')
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

Exit codes: 0 ok, 2 bad input or results that cannot be merged, 99 a threshold crossed or a regression.`,
    );
  return addReportOption(addGateOptions(command)).action((files: string[], flags: MergeFlags) => {
    const gate = resolveGate(flags);
    const reports = resolveReportFormats(flags.report);
    if (flags.out !== undefined) checkWritable(flags.out, '-o, --out');
    const sources = files.map((path) => ({ path, result: readResultFile('merge', path) }));
    const result = applyGate<MergedResult>(mergeResults(sources, { force: flags.force }), gate);
    const heading = `Merged ${files.length} result${files.length === 1 ? '' : 's'}: ${result.merged.sources
      .map((s) => `${s.file}${s.shard ? ` (shard ${s.shard.index}/${s.shard.count})` : ''}`)
      .join(', ')}\n\n`;
    io.stdout.write(flags.json ? JSON.stringify(result, null, 2) + '\n' : formatGated(result, heading + formatBlastSummary(result)));
    if (flags.out !== undefined) {
      writeJsonAtomic(flags.out, result);
      if (!flags.quiet && !flags.json) io.stderr.write(`wsbench merge: merged result written to ${flags.out}\n`);
    }
    const written = writeReports(result, flags.out ?? defaultResultsPath('merge'), reports);
    if (written.length && !flags.quiet && !flags.json) io.stderr.write(`wsbench merge: reports written to ${written.join(', ')}\n`);
    appendStepSummary(io, result);
    setExit(reportVerdict(io, gateVerdict(result.thresholds, result.comparison)));
  });
}
