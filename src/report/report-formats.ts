/**
 * The report formats (`wsbench report --format`, `blast --report`, `merge --report`) and the files
 * each makes from one result. Each format is a pure function from the result to text; the CLI
 * writes the files.
 *
 *   html   one self-contained page (charts inlined, no network)          BASE.html
 *   md     GitHub-flavoured Markdown summary                             BASE.md
 *   junit  JUnit XML: the run's verdict, each threshold, each regression  BASE.junit.xml
 *   hgrm   HdrHistogram percentile distribution, values in ms,           BASE.connect.hgrm, BASE.rtt.hgrm,
 *          one file per histogram with samples                           BASE.rtt-ramp.hgrm
 */
import { ConfigError } from '../config/errors.js';
import { formatHgrm, formatHgrmSections } from './hgrm.js';
import { formatHtml } from './html.js';
import type { HtmlAssets } from './html-assets.js';
import { formatJunit } from './junit.js';
import { formatMarkdown } from './markdown.js';
import type { ReportInput } from './report-input.js';

export const REPORT_FORMATS = ['html', 'md', 'junit', 'hgrm'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

const ALLOWED = `expected ${REPORT_FORMATS.join(', ')}, or several comma-separated (html,junit)`;

/** `html,junit` → ['html', 'junit']; anything else is a ConfigError naming the option (exit 2). */
export function parseReportFormats(option: string, value: string, { single = false } = {}): ReportFormat[] {
  const names = value.split(',').map((name) => name.trim().toLowerCase());
  const formats: ReportFormat[] = [];
  for (const name of names) {
    if (!(REPORT_FORMATS as readonly string[]).includes(name)) throw new ConfigError(option, value, single ? `expected one of ${REPORT_FORMATS.join(', ')}` : ALLOWED);
    if (!formats.includes(name as ReportFormat)) formats.push(name as ReportFormat);
  }
  if (single && formats.length !== 1) throw new ConfigError(option, value, `expected one of ${REPORT_FORMATS.join(', ')}`);
  return formats;
}

export interface ReportFile {
  /** Appended to the base path: `.html`, `.rtt.hgrm`, … */
  readonly suffix: string;
  readonly text: string;
}

/** The files of one format. `assets` is only read for html. */
export function renderReport(format: ReportFormat, result: ReportInput, assets: () => HtmlAssets): ReportFile[] {
  switch (format) {
    case 'html':
      return [{ suffix: '.html', text: formatHtml(result, assets()) }];
    case 'md':
      return [{ suffix: '.md', text: formatMarkdown(result) }];
    case 'junit':
      return [{ suffix: '.junit.xml', text: formatJunit(result) }];
    case 'hgrm':
      return formatHgrm(result).map((file) => ({ suffix: `.${file.histogram.name}.hgrm`, text: file.text }));
  }
}

/** One format as one text, for stdout: hgrm's files as sections under `#` headings. */
export function renderReportText(format: ReportFormat, result: ReportInput, assets: () => HtmlAssets): string {
  return format === 'hgrm' ? formatHgrmSections(result) : renderReport(format, result, assets)[0]!.text;
}

/** The base that suffixes go on: the results file without `.json` (`-o x.hgrm`: `x`). */
export function reportBase(path: string): string {
  return path.replace(/\.(json|hgrm)$/, '');
}
