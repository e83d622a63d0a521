/**
 * A blast result read from a file is data to check, not to trust: merge, compare, report and
 * --baseline apply this one schema before they use a file, and a file that breaks it is refused
 * with one line naming the field (files.ts makes that an exit 2 naming the file).
 *
 * What it checks: the schemaVersion is one this wsbench writes or wrote; every count is a whole
 * number >= 0, and the counts agree (attempted = accepted + rejected + failed, each total the sum
 * of its breakdown, dropped <= accepted); times are dates; the histograms decode; the latency
 * summaries, the timeline and the gate's thresholds and comparison have the types they are read as.
 */
import { SCHEMA_VERSION, type BlastResult } from '../metrics/blast-result.js';
import { decodeHistogram } from '../metrics/histogram.js';

/** The first thing wrong with `value` as a blast result ("field: why"), or undefined when it is one. */
export function resultProblem(value: unknown): string | undefined {
  try {
    checkResult(value);
    return undefined;
  } catch (error) {
    if (error instanceof SchemaError) return error.message;
    throw error;
  }
}

class SchemaError extends Error {}

function fail(field: string, why: string, value: unknown): never {
  throw new SchemaError(`${field}: ${why}, got ${describe(value)}`);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(field, 'expected an object', value);
  return value as Record<string, unknown>;
}

function count(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) fail(field, 'expected a whole number >= 0', value);
  return value;
}

function amount(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(field, 'expected a number >= 0', value);
  return value;
}

function optionalCount(value: unknown, field: string): void {
  if (value !== undefined) count(value, field);
}

function date(value: unknown, field: string): void {
  if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) fail(field, 'expected a date (ISO 8601)', value);
}

/** A breakdown (by status, reason, close code) whose counts add up to `total`. */
function breakdown(value: unknown, field: string, total: number): void {
  const table = object(value, field);
  let sum = 0;
  for (const [key, entry] of Object.entries(table)) sum += count(entry, `${field}.${key}`);
  if (sum !== total) fail(field, `expected counts adding up to the total, ${total}`, table);
}

function histogram(value: unknown, field: string): void {
  if (typeof value !== 'string') fail(field, 'expected an encoded histogram (compressed base64)', value);
  try {
    decodeHistogram(value);
  } catch {
    fail(field, 'expected an encoded histogram that decodes', value);
  }
}

const SUMMARY_FIELDS = ['p50_us', 'p90_us', 'p99_us', 'max_us', 'mean_us', 'count'] as const;

function latencySummary(value: unknown, field: string): void {
  const summary = object(value, field);
  for (const key of SUMMARY_FIELDS) amount(summary[key], `${field}.${key}`);
}

function checkResult(value: unknown): asserts value is BlastResult {
  const result = object(value, '(the file)');
  const version = result.schemaVersion;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1 || version > SCHEMA_VERSION) {
    fail('schemaVersion', `expected a schema this wsbench reads (1 to ${SCHEMA_VERSION})`, version);
  }
  date(result.startedAt, 'startedAt');
  date(result.endedAt, 'endedAt');

  const outcomes = object(result.outcomes, 'outcomes');
  const attempted = count(outcomes.attempted, 'outcomes.attempted');
  const accepted = count(outcomes.accepted, 'outcomes.accepted');
  const totals: Record<string, number> = {};
  for (const [name, by] of [['rejected', 'byStatus'], ['failed', 'byReason'], ['dropped', 'byCloseCode']] as const) {
    const part = object(outcomes[name], `outcomes.${name}`);
    totals[name] = count(part.total, `outcomes.${name}.total`);
    breakdown(part[by], `outcomes.${name}.${by}`, totals[name]!);
  }
  if (attempted !== accepted + totals.rejected! + totals.failed!) {
    fail('outcomes.attempted', `expected accepted + rejected + failed = ${accepted + totals.rejected! + totals.failed!}`, attempted);
  }
  if (totals.dropped! > accepted) fail('outcomes.dropped.total', `expected at most accepted (${accepted})`, totals.dropped);

  const messages = object(result.messages, 'messages');
  for (const key of ['sent', 'received', 'mismatched', 'bytesSent', 'bytesReceived'] as const) count(messages[key], `messages.${key}`);
  // sent - received: below 0 in results written before echoes were matched by content (a pushing
  // server's messages counted as received), so any whole number.
  if (typeof messages.unanswered !== 'number' || !Number.isInteger(messages.unanswered)) fail('messages.unanswered', 'expected a whole number', messages.unanswered);
  for (const key of ['receivedDuringRamp', 'receivedDuringDrain', 'delayedSends', 'unmatched', 'duplicates', 'subscribed', 'delivered', 'completed', 'onMatched', 'onSent'] as const) {
    optionalCount(messages[key], `messages.${key}`);
  }
  amount(messages.perSecond, 'messages.perSecond');

  const histograms = object(result.histograms, 'histograms');
  histogram(histograms.connect_us, 'histograms.connect_us');
  histogram(histograms.roundTrip_us, 'histograms.roundTrip_us');
  if (histograms.roundTripRamp_us !== undefined) histogram(histograms.roundTripRamp_us, 'histograms.roundTripRamp_us');

  if (histograms.handshake2_us !== undefined) histogram(histograms.handshake2_us, 'histograms.handshake2_us');
  if (result.protocol !== undefined && result.protocol !== null) {
    const protocol = object(result.protocol, 'protocol');
    if (typeof protocol.name !== 'string') fail('protocol.name', 'expected the protocol\'s name', protocol.name);
    for (const key of ['counts', 'reasons'] as const) {
      for (const [name, entry] of Object.entries(object(protocol[key], `protocol.${key}`))) count(entry, `protocol.${key}.${name}`);
    }
    latencySummary(protocol.handshake, 'protocol.handshake');
  }

  const latency = object(result.latency, 'latency');
  latencySummary(latency.connect, 'latency.connect');
  latencySummary(latency.roundTrip, 'latency.roundTrip');

  if (result.timeline !== undefined) {
    if (!Array.isArray(result.timeline)) fail('timeline', 'expected a list of seconds', result.timeline);
    result.timeline.forEach((entry, index) => {
      const second = object(entry, `timeline[${index}]`);
      amount(second.t_s, `timeline[${index}].t_s`);
      count(second.open, `timeline[${index}].open`);
      amount(second.messagesPerSecond, `timeline[${index}].messagesPerSecond`);
      if (second.rttP99_us !== null) amount(second.rttP99_us, `timeline[${index}].rttP99_us`);
    });
  }
  if (result.clock !== undefined) {
    const clock = object(result.clock, 'clock');
    for (const key of ['runStartedAt', 'runEndedAt'] as const) if (clock[key] !== null) date(clock[key], `clock.${key}`);
  }
  if (result.partial !== undefined) {
    const partial = object(result.partial, 'partial');
    count(partial.expected, 'partial.expected');
    if (!Array.isArray(partial.missing) || partial.missing.some((m) => typeof m !== 'string')) fail('partial.missing', 'expected a list of the shards missing', partial.missing);
  }
  if (result.compression !== undefined && result.compression !== null) {
    const compression = object(result.compression, 'compression');
    if (typeof compression.offered !== 'string') fail('compression.offered', 'expected the Sec-WebSocket-Extensions offer', compression.offered);
    for (const key of ['negotiated', 'notNegotiated', 'bytesBeforeCompression', 'bytesAfterCompression', 'bytesReceivedCompressed', 'bytesReceivedInflated'] as const) {
      count(compression[key], `compression.${key}`);
    }
    const split = (compression.negotiated as number) + (compression.notNegotiated as number);
    if (split > accepted) fail('compression.negotiated', `expected negotiated + notNegotiated at most accepted (${accepted})`, split);
  }
  const config = object(result.config, 'config');
  // --data: the file and its size (absent from older results, null without --data).
  if (config.data !== undefined && config.data !== null) {
    const data = object(config.data, 'config.data');
    if (typeof data.file !== 'string') fail('config.data.file', 'expected the data file as given', data.file);
    count(data.rows, 'config.data.rows');
    if (typeof data.wrapped !== 'boolean') fail('config.data.wrapped', 'expected true or false', data.wrapped);
  }
  const generator = object(result.generator, 'generator');
  if (!Array.isArray(generator.workers)) fail('generator.workers', 'expected a list', generator.workers);

  if (result.thresholds !== undefined) {
    if (!Array.isArray(result.thresholds)) fail('thresholds', 'expected a list of threshold outcomes', result.thresholds);
    result.thresholds.forEach((entry, index) => {
      const outcome = object(entry, `thresholds[${index}]`);
      if (typeof outcome.expression !== 'string') fail(`thresholds[${index}].expression`, 'expected text', outcome.expression);
      if (typeof outcome.ok !== 'boolean') fail(`thresholds[${index}].ok`, 'expected true or false', outcome.ok);
    });
  }
  if (result.comparison !== undefined) {
    const comparison = object(result.comparison, 'comparison');
    if (!Array.isArray(comparison.figures)) fail('comparison.figures', 'expected a list', comparison.figures);
    if (typeof comparison.ok !== 'boolean') fail('comparison.ok', 'expected true or false', comparison.ok);
  }
}
