/**
 * The programmatic API: everything the CLI does, callable from code.
 *
 *   import { serve, blast } from 'wsbench';
 *   const server = await serve({ port: 0, max: 1000 });
 *   const result = await blast({ url: server.url, connections: 500, duration: '5s' });
 *   await server.close();
 *   const outcomes = evaluate(result, ['rtt:p(99)<50ms', 'failed:count==0']);   // thresholds
 */
export { serve, type RunningServer } from './serve/server.js';
export { blast, type BlastProgress, type BlastRunOptions, type BlastStart } from './blast/coordinator.js';
export { resolveServeConfig, type ServeConfig, type ServeOptions } from './config/serve-config.js';
export { resolveBlastConfig, type BlastConfig, type BlastOptions } from './config/blast-config.js';
export { ConfigError, RunError, ExitCode } from './config/errors.js';
export { buildBlastResult, type BlastResult } from './metrics/blast-result.js';
export type { ServeStats } from './metrics/serve-stats.js';
export { mergeEncoded, summarize, encodeHistogram, decodeHistogram, createHistogram, recordUs } from './metrics/histogram.js';
export { splitExact } from './limits/split.js';
export { evaluate, type ThresholdOutcome } from './gate/evaluate.js';
export { parseThreshold, type Threshold } from './gate/thresholds.js';
export { runVerdict, type Verdict } from './gate/verdict.js';
export type { TimelineEntry } from './metrics/timeline.js';
export { renderReport, REPORT_FORMATS, type ReportFormat, type ReportFile } from './report/report-formats.js';
export { loadHtmlAssets } from './report/html-assets.js';
export { formatMarkdown } from './report/markdown.js';
export { formatJunit } from './report/junit.js';
export { formatHgrm } from './report/hgrm.js';
