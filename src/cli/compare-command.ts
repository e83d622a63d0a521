/** `wsbench compare BASELINE CURRENT`: key figures side by side; a gated regression exits 99. */
import { Command } from 'commander';
import { compareResults, parseMaxRegression } from '../gate/compare.js';
import { readResultFile } from '../gate/files.js';
import { gatedVerdict } from '../gate/verdict.js';
import { formatComparison } from '../report/gate-text.js';
import { reportVerdict } from './gate-options.js';
import type { CliIo } from './io.js';

export function compareCommand(io: CliIo, setExit: (code: number) => void): Command {
  return new Command('compare')
    .description('compare two blast results; exit 99 when a gated figure regressed past --max-regression')
    .argument('<baseline>', 'the earlier result file (JSON from blast --out, --json or merge)')
    .argument('<current>', 'the result file to judge')
    .option('--max-regression <percent>', 'how much worse a gated figure may be (default 10%)')
    .option('--json', 'print the comparison as JSON')
    .option('--partial-ok', 'judge a partial CURRENT (merge --allow-partial) by the comparison alone')
    .addHelpText(
      'after',
      `
Figures: connect p50/p99, rtt p50/p90/p99/p99.9/max (from the histograms), msg/s, accepted, failed.
Gated: rtt p99, connect p99 (higher is worse), msg/s, accepted (lower is worse), failed (higher is
worse; from 0, any failure regresses). Exit codes: 0 no regression, 1 CURRENT is a partial merge
(unless --partial-ok), 2 bad input, 99 regressed.`,
    )
    .action((baselinePath: string, currentPath: string, flags: { maxRegression?: string; json?: boolean; partialOk?: boolean }) => {
      const maxRegressionPercent = parseMaxRegression(flags.maxRegression);
      const baseline = readResultFile('baseline', baselinePath);
      const current = readResultFile('current', currentPath);
      const comparison = compareResults(baseline, current, { maxRegressionPercent, baselineLabel: baselinePath, currentLabel: currentPath });
      io.stdout.write(flags.json ? JSON.stringify(comparison, null, 2) + '\n' : formatComparison(comparison));
      setExit(reportVerdict(io, gatedVerdict(current, [], comparison, { partialOk: flags.partialOk })));
    });
}
