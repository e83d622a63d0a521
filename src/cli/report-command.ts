/** `wsbench report RESULT.json --format html|md|junit|hgrm [-o FILE]`: a report from a results file. */
import { Command } from 'commander';
import { readResultFile } from '../gate/files.js';
import { loadHtmlAssets } from '../report/html-assets.js';
import { formatMarkdown } from '../report/markdown.js';
import type { ReportInput } from '../report/report-input.js';
import { parseReportFormats, renderReport, renderReportText, reportBase, REPORT_FORMATS } from '../report/report-formats.js';
import { writeTextAtomic } from '../report/results-file.js';
import { appendStepSummary } from './report-options.js';
import type { CliIo } from './io.js';

interface ReportFlags {
  format: string;
  out?: string;
  quiet?: boolean;
}

export function reportCommand(io: CliIo, setExit: (code: number) => void): Command {
  return new Command('report')
    .description('turn a blast result (or a merged one) into an HTML page, a Markdown summary, JUnit XML or HdrHistogram .hgrm text')
    .argument('<result>', 'result file (JSON from blast, merge or --json)')
    .requiredOption('-f, --format <format>', `one of ${REPORT_FORMATS.join(', ')}`)
    .option('-o, --out <file>', 'write here (atomically) instead of stdout; for hgrm, the base of one FILE.<histogram>.hgrm per histogram')
    .option('-q, --quiet', 'no "written to" line on stderr')
    .addHelpText(
      'after',
      `
Formats:
  html   one self-contained page: latency percentile distribution (HdrHistogram's plot), the
         per-second timeline, outcomes, thresholds, comparison; charts inlined, no network request
  md     GitHub-flavoured Markdown summary; also appended to $GITHUB_STEP_SUMMARY when that is set
  junit  JUnit XML: one testcase for the run's verdict, one per threshold, one per gated regression
  hgrm   HdrHistogram percentile distribution (values in ms), one per histogram with samples:
         connect, rtt (the run), rtt-ramp; on stdout as sections under '#' headings

Examples:
  $ wsbench report results/blast-20250101-120000Z-4242.json --format html -o report.html
  $ wsbench report run.json --format junit -o junit.xml
  $ wsbench report run.json --format hgrm -o run     # run.connect.hgrm, run.rtt.hgrm

Exit codes: 0 written; 2 bad input (unreadable file, not a result, unknown format).`,
    )
    .action((file: string, flags: ReportFlags) => {
      const [format] = parseReportFormats('--format', flags.format, { single: true });
      const result = readResultFile('report', file) as ReportInput;
      if (flags.out === undefined) {
        io.stdout.write(renderReportText(format!, result, loadHtmlAssets));
      } else {
        const files = format === 'hgrm'
          ? renderReport(format, result, loadHtmlAssets).map((f) => ({ path: reportBase(flags.out!) + f.suffix, text: f.text }))
          : [{ path: flags.out, text: renderReportText(format!, result, loadHtmlAssets) }];
        for (const f of files) writeTextAtomic(f.path, f.text);
        if (!flags.quiet) io.stderr.write(`wsbench report: ${files.length ? `written to ${files.map((f) => f.path).join(', ')}` : 'no histogram has samples; nothing written'}\n`);
      }
      if (format === 'md') appendStepSummary(io, result, formatMarkdown(result));
      setExit(0);
    });
}
