/** `wsbench find URL --until EXPR`: search for the largest load the server holds. */
import { Command } from 'commander';
import { resolveBlastConfig } from '../config/blast-config.js';
import { ConfigError, ExitCode } from '../config/errors.js';
import { FIND, FIND_OPTIONS } from '../config/find-options.js';
import { addOptions, readNumber, type OptionValues } from '../config/option-table.js';
import { parseCount, parsePercent, formatDurationMs } from '../config/units.js';
import { redactHeaderArgs } from '../config/redact-headers.js';
import { evaluate, type ThresholdOutcome } from '../gate/evaluate.js';
import { parseThresholds } from '../gate/thresholds.js';
import { find, type FindDimension, type FindResult, type FindStep } from '../find/find.js';
import { formatFindHtml } from '../report/find-html.js';
import { formatCount, formatMs } from '../report/format.js';
import { checkWritable, defaultResultsPath, writeJsonAtomic, writeTextAtomic } from '../report/results-file.js';
import { onceInterrupted, type CliIo } from './io.js';

type FindFlags = OptionValues<typeof FIND_OPTIONS>;

export function findCommand(io: CliIo, setExit: (code: number) => void): Command {
  const command = new Command('find')
    .description('search for the largest load a server holds while every --until threshold does: connections (default) or message rate')
    .argument('<url>', 'ws:// or wss:// URL of the server');
  return addOptions(command, FIND_OPTIONS)
    .addHelpText(
      'after',
      `
Each step moves the load (opening only the difference to the connections already open, or closing the
newest), waits until every attempt is answered, holds for --step-duration and is judged on that step's
own figures: the hold's latency and messages, and the step's connection outcomes against the load it
asked for (failed:ratio counts refused and failed attempts of the step). Loads grow by --growth until
a step fails, then bisect to --precision. A step during which a client process was busy (CPU 85% of a
core, or event-loop delay p99 50 ms) is "limited by the generator": the search stops there, since the
limit is blast's, not the server's.

Examples:
  $ wsbench find ws://127.0.0.1:8000/ws --until 'failed:ratio<0.001' --until 'rtt:p(99)<50ms'
  $ wsbench find ws://127.0.0.1:8000/ws -c 500..20k --until 'failed:count==0' --step-duration 5s --report html
  $ wsbench find ws://127.0.0.1:8000/ws -c 1000 --rate 1..1000 --until 'rtt:p(99)<20ms'

Exit codes: 0 a capacity was found (or every step up to the upper bound held); 1 nothing measured,
interrupted before a step, or limited by the generator; 2 invalid usage; 99 even the first step
failed, or a --threshold on the answer was crossed; 130 interrupted.`,
    )
    .action(async (url: string, flags: FindFlags) => {
      const until = parseThresholds(flags.until ?? [], '--until');
      if (until.length === 0) throw new ConfigError('--until', '', "expected at least one threshold, such as --until 'failed:ratio<0.001'");
      const gate = parseThresholds(flags.threshold ?? [], '--threshold');
      for (const t of gate) if (t.metric !== 'capacity') throw new ConfigError('--threshold', t.expression, 'find gates its answer: capacity:count (each step is judged by --until)');
      const rateRange = flags.rate !== undefined && flags.rate.includes('..');
      const dimension: FindDimension = rateRange ? 'rate' : 'connections';
      const connections = dimension === 'connections' ? range('-c, --connections', flags.connections ?? FIND.connections.default, true) : undefined;
      const rates = rateRange ? range('--rate', flags.rate!, false) : undefined;
      const heldConnections = dimension === 'rate' ? single('-c, --connections', flags.connections ?? '100') : connections!.to;
      const rate = rateRange ? rates!.from : Number(flags.rate ?? FIND.rate.default);
      const stepDurationMs = readNumber(FIND.stepDuration, flags.stepDuration);
      const precision = percent('--precision', String(flags.precision ?? `${FIND.precision.default}%`));
      const growth = Number(flags.growth ?? FIND.growth.default);
      if (!(growth > 1 && growth <= 100)) throw new ConfigError('--growth', flags.growth, 'expected a factor over 1, such as 2 or 1.5');
      const config = resolveBlastConfig({
        url,
        connections: heldConnections,
        rate,
        size: flags.size,
        message: flags.message,
        replyId: flags.replyId,
        maxHandshakes: flags.maxHandshakes,
        connectTimeout: flags.connectTimeout,
        header: flags.header,
        subprotocol: flags.subprotocol,
        insecure: flags.insecure,
        workers: flags.workers,
        sourceIp: flags.sourceIp,
        recordHeaders: flags.recordHeaders,
        // Each step's new connections send from the moment they open.
        rampTraffic: true,
      });
      const path = flags.out ?? defaultResultsPath('find');
      const reports = flags.report === undefined ? [] : flags.report.split(',').map((f) => f.trim());
      for (const format of reports) if (format !== 'html') throw new ConfigError('--report', flags.report, 'find writes html (the capacity curve)');
      if (flags.save !== false || reports.length) checkWritable(path, flags.out ? '-o, --out' : 'results folder');
      const quiet = Boolean(flags.quiet || flags.json);
      const search = dimension === 'connections' ? connections! : rates!;
      const unit = dimension === 'connections' ? 'connections' : 'msg/s per connection';
      if (!quiet) {
        io.stderr.write(
          `wsbench find ${url}: ${unit} from ${formatCount(search.from)} to ${formatCount(search.to)} (×${growth}, then bisect to ${precision * 100}%), ` +
            `steps of ${formatDurationMs(stepDurationMs)}, until ${until.map((t) => t.expression).join(' and ')}\n`,
        );
      }
      const abort = new AbortController();
      const interrupted = onceInterrupted();
      void interrupted.signal.then(() => abort.abort());
      try {
        const result = await find(
          config,
          { dimension, from: search.from, to: search.to, growth, precision, integer: dimension === 'connections', connections: heldConnections, rate, until, stepDurationMs },
          {
            signal: abort.signal,
            command: redactHeaderArgs(io.argv.slice(2), Boolean(flags.recordHeaders)),
            onStepStart: quiet ? undefined : (index, load) => io.stderr.write(`  step ${index}: ${formatCount(load)} ${unit} …\n`),
            onStep: quiet ? undefined : (step) => io.stderr.write(`  ${stepLine(step)}\n`),
          },
        );
        const thresholds: ThresholdOutcome[] = gate.length ? evaluate(capacityInput(result), gate) : [];
        const gated = { ...result, thresholds };
        io.stdout.write(flags.json ? JSON.stringify(gated, null, 2) + '\n' : formatFind(gated));
        if (flags.save !== false) {
          writeJsonAtomic(path, gated);
          if (!quiet) io.stderr.write(`wsbench find: results written to ${path}\n`);
        }
        if (reports.includes('html')) {
          const html = path.replace(/\.json$/, '') + '.html';
          writeTextAtomic(html, formatFindHtml(gated));
          if (!quiet) io.stderr.write(`wsbench find: report written to ${html}\n`);
        }
        const { code, reason } = findVerdict(result, thresholds, abort.signal.aborted);
        if (reason) io.stderr.write(`wsbench: ${reason}\n`);
        setExit(code);
      } finally {
        interrupted.dispose();
      }
    });
}

/** The answer as a result the threshold grammar reads: capacity:count. */
function capacityInput(result: FindResult) {
  return { ...result.run, capacity: { count: result.capacity.count ?? 0 } };
}

export function findVerdict(result: FindResult, thresholds: readonly ThresholdOutcome[], interrupted: boolean): { code: number; reason?: string } {
  const capacity = result.capacity;
  if (interrupted) return { code: ExitCode.interrupted };
  if (capacity.stoppedBy === 'run-ended') {
    return {
      code: ExitCode.runFailed,
      reason:
        `the run ended by itself (${capacity.endedBecause}) ${result.steps.length ? `after step ${result.steps.length}` : 'before the first step was judged'}` +
        (result.run.outcomes.accepted === 0 ? ': no connection was accepted' : '') +
        `; no capacity is claimed${capacity.count === null ? '' : ` (the server had held ${formatCount(capacity.count)})`}`,
    };
  }
  if (capacity.stoppedBy === 'generator-limited') {
    return {
      code: ExitCode.runFailed,
      reason: `limited by the generator at ${formatCount(capacity.limitedAt ?? 0)}: a client process was busy, so that step measured blast, not the server` +
        (capacity.count === null ? '' : `; the server held ${formatCount(capacity.count)}, so its capacity is at least that`) +
        '; give blast more cores or client processes (-w), or run it from another machine',
    };
  }
  if (result.steps.length === 0 || result.run.outcomes.accepted === 0) return { code: ExitCode.runFailed, reason: 'nothing was measured: no step ran, or no connection was accepted' };
  if (capacity.stoppedBy === 'first-step-failed') return { code: ExitCode.thresholdsCrossed, reason: `even the first step (${formatCount(result.steps[0]!.load)}) failed: ${failedUntil(result.steps[0]!)}` };
  const crossed = thresholds.filter((t) => !t.ok);
  if (crossed.length) return { code: ExitCode.thresholdsCrossed, reason: `threshold crossed: ${crossed.map((t) => `${t.expression} (observed ${t.observed})`).join(', ')}` };
  return { code: ExitCode.ok };
}

function failedUntil(step: FindStep): string {
  return step.until.filter((t) => !t.ok).map((t) => `${t.expression} (observed ${t.observed === null ? 'nothing' : t.observed})`).join(', ');
}

function stepLine(step: FindStep): string {
  const verdict = step.verdict === 'held' ? 'held' : step.verdict === 'failed' ? `FAILED: ${failedUntil(step)}` : 'LIMITED BY THE GENERATOR';
  return (
    `step ${step.index}: ${formatCount(step.load).padStart(9)}  p50 ${formatMs(step.latency.roundTrip.p50_us).padStart(8)} ms  p99 ${formatMs(step.latency.roundTrip.p99_us).padStart(8)} ms  ` +
    `${formatCount(step.messagesPerSecond).padStart(8)} msg/s  refused ${formatCount(step.connections.refused)}  failed ${formatCount(step.connections.failed)}  ` +
    `generator ${step.generator.busy ? 'BUSY' : 'ok'}  ${verdict}`
  );
}

export function formatFind(result: FindResult & { thresholds: ThresholdOutcome[] }): string {
  const unit = result.search.dimension === 'connections' ? 'connections' : 'msg/s per connection';
  const lines = [`wsbench find ${result.target.url}`, `  until ${result.search.until.join(' and ')}; steps of ${formatDurationMs(result.search.stepDurationMs)}`, ''];
  lines.push(`  ${'step'.padEnd(5)}${'load'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'msg/s'.padStart(10)}${'refused'.padStart(9)}${'failed'.padStart(8)}  generator  verdict`);
  for (const s of result.steps) {
    lines.push(
      `  ${String(s.index).padEnd(5)}${formatCount(s.load).padStart(10)}${formatMs(s.latency.roundTrip.p50_us).padStart(10)}${formatMs(s.latency.roundTrip.p99_us).padStart(10)}` +
        `${formatCount(s.messagesPerSecond).padStart(10)}${formatCount(s.connections.refused).padStart(9)}${formatCount(s.connections.failed).padStart(8)}  ${(s.generator.busy ? 'BUSY' : 'ok').padEnd(9)}  ${s.verdict}`,
    );
  }
  const c = result.capacity;
  lines.push('');
  if (c.stoppedBy === 'run-ended') lines.push(`The run ended by itself (${c.endedBecause}) ${result.steps.length ? `after step ${result.steps.length}` : 'before the first step was judged'}: no capacity found${c.count === null ? '' : ` (it had held ${formatCount(c.count)})`}`);
  else if (c.stoppedBy === 'interrupted') lines.push(`Interrupted${c.count === null ? '' : `: it had held ${formatCount(c.count)}`}; no capacity found`);
  else if (c.stoppedBy === 'generator-limited') lines.push(`Limited by the generator at ${formatCount(c.limitedAt ?? 0)} ${unit}: not the server's capacity${c.count === null ? '' : ` (it held ${formatCount(c.count)})`}`);
  else if (c.count === null) lines.push(`No step held (the first, ${formatCount(result.steps[0]?.load ?? 0)} ${unit}, failed)`);
  else if (c.firstFailed === null) lines.push(`Capacity: at least ${formatCount(c.count)} ${unit}: every step held, up to the upper bound`);
  else lines.push(`Capacity: ${formatCount(c.count)} ${unit} held; ${formatCount(c.firstFailed)} did not (within ${result.search.precision * 100}%, ${result.steps.length} steps)`);
  for (const t of result.thresholds) lines.push(`  ${t.ok ? 'ok  ' : 'FAIL'} ${t.expression} (observed ${t.observed})`);
  return lines.join('\n') + '\n';
}

function single(option: string, text: string): number {
  const value = parseCount(text.trim());
  if (!Number.isInteger(value) || value < 1) throw new ConfigError(option, text, 'expected a count such as 1000 or 5k');
  return value;
}

/** FROM..TO, from < to; whole counts (connections) or rates. */
function range(option: string, text: string, integer: boolean): { from: number; to: number } {
  const parts = text.split('..');
  const [from, to] = parts.length === 2 ? parts.map((p) => parseCount(p.trim())) : [Number.NaN, Number.NaN];
  const ok = parts.length === 2 && Number.isFinite(from) && Number.isFinite(to) && from! > 0 && to! > from! && (!integer || (Number.isInteger(from) && Number.isInteger(to)));
  if (!ok) throw new ConfigError(option, text, `expected a range FROM..TO with 0 < FROM < TO, such as ${integer ? '1k..100k' : '1..1000'}`);
  return { from: from!, to: to! };
}

function percent(option: string, text: string): number {
  const value = parsePercent(text) / 100;
  if (!(value > 0 && value < 1)) throw new ConfigError(option, text, 'expected a percentage between 0 and 100, such as 5%');
  return value;
}
