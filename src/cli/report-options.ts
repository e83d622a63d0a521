/**
 * `--report FORMAT[,FORMAT]` for the commands that make a result (blast, merge): the reports are
 * written next to the results file, and the Markdown summary is appended to $GITHUB_STEP_SUMMARY when
 * GitHub Actions sets it.
 */
import { appendFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadHtmlAssets } from '../report/html-assets.js';
import { formatMarkdown } from '../report/markdown.js';
import type { ReportInput } from '../report/report-input.js';
import { parseReportFormats, renderReport, reportBase, REPORT_FORMATS, type ReportFormat } from '../report/report-formats.js';
import { writeTextAtomic } from '../report/results-file.js';
import type { CliIo } from './io.js';
import { addOptions, type OptionSpec } from '../config/option-table.js';

/** --report, declared once for the commands that write a results file (option-table.ts). */
export const REPORT_OPTIONS = [
  { flags: '--report <formats>', kind: 'list', cli: true, help: `also write reports next to the results file: ${REPORT_FORMATS.join(', ')} (comma-separated, e.g. html,junit; see wsbench report --help)` },
] as const satisfies readonly OptionSpec[];

export function addReportOption(command: Command): Command {
  return addOptions(command, REPORT_OPTIONS);
}

/** Validate --report before any work: a bad format is exit 2 before a connection opens. */
export function resolveReportFormats(value: string | undefined): ReportFormat[] {
  return value === undefined ? [] : parseReportFormats('--report', value);
}

/** Write each format's files beside `resultsPath` (its name without .json); returns the paths written. */
export function writeReports(result: ReportInput, resultsPath: string, formats: readonly ReportFormat[]): string[] {
  const base = reportBase(resultsPath);
  const written: string[] = [];
  for (const format of formats) {
    for (const file of renderReport(format, result, loadHtmlAssets)) {
      writeTextAtomic(base + file.suffix, file.text);
      written.push(base + file.suffix);
    }
  }
  return written;
}

/** GitHub Actions: the Markdown summary goes to the job's summary page when $GITHUB_STEP_SUMMARY is set. */
export function appendStepSummary(io: CliIo, result: ReportInput, markdown = formatMarkdown(result)): boolean {
  const path = io.env.GITHUB_STEP_SUMMARY;
  if (!path) return false;
  appendFileSync(path, markdown + '\n');
  return true;
}
