/** `wsbench blast`: options → config → blast() with progress → summary, JSON and results file. */
import { Command } from 'commander';
import { blast, type BlastProgress, type BlastStart } from '../blast/coordinator.js';
import { resolveBlastConfig, type BlastConfig } from '../config/blast-config.js';
import { BLAST_OPTIONS } from '../config/blast-options.js';
import { addOptions, type OptionValues } from '../config/option-table.js';
import { redactHeaderArgs } from '../config/redact-headers.js';
import { formatDurationMs } from '../config/units.js';
import { countSteps } from '../scenario/parse.js';
import { describeSources, formatBlastHeader, formatBlastSummary } from '../report/blast-text.js';
import { checkWritable, defaultResultsPath, writeJsonAtomic } from '../report/results-file.js';
import { applyGate, resolveGate } from '../gate/gate-plan.js';
import { runVerdict } from '../gate/verdict.js';
import { addGateOptions, formatGated, GATE_HELP, GATE_OPTIONS, reportVerdict } from './gate-options.js';
import { onceInterrupted, type CliIo } from './io.js';
import { addReportOption, appendStepSummary, REPORT_OPTIONS, resolveReportFormats, writeReports } from './report-options.js';
import { createProgress } from './progress.js';
import { findDefaultServe, type FoundServe } from './find-serve.js';
import { ConfigError } from '../config/errors.js';
import { formatCount } from '../report/format.js';

/** Everything `wsbench blast` takes, in --help's order: its own options, then the gate's and --report. */
export const BLAST_COMMAND_OPTIONS = [...BLAST_OPTIONS, ...GATE_OPTIONS, ...REPORT_OPTIONS] as const;

type BlastFlags = OptionValues<typeof BLAST_COMMAND_OPTIONS>;

export function blastCommand(io: CliIo, setExit: (code: number) => void): Command {
  const command = new Command('blast')
    .description('open N concurrent WebSocket clients, send messages, and report outcomes and latency')
    .argument('[url]', 'ws:// or wss:// URL of the server; without one, the wsbench serve at ws://127.0.0.1:8000/ws if one runs there, else a server of its own')
    .addHelpText(
      'after',
      `
Examples:
  $ wsbench blast                                   # demo: its own server, 100 connections, 10s
  $ wsbench blast -c 50000                          # with wsbench serve running at its default address: blasts it
  $ wsbench blast ws://127.0.0.1:8000/ws -c 50k -d 30s
  $ wsbench blast ws://127.0.0.1:8000/ws -c 1000 --rate 10 -d 1m   # paced, coordinated omission corrected
  $ wsbench blast ws://127.0.0.1:8000/ws -c 10k --rate 0 --json > run.json   # idle connections only
  $ wsbench blast ws://127.0.0.1:8000/ws --threshold 'rtt:p(99)<50ms' --threshold 'failed:count==0'
  $ wsbench blast ws://127.0.0.1:8000/ws --message '{"id":{{seq}},"method":"ping"}' --reply-id id -p 8
  $ wsbench blast ws://127.0.0.1:8000/ws -c 10k --publishers 1 --rate 10   # against serve --mode broadcast
  $ wsbench blast ws://127.0.0.1:8000/ws -c 100 --flood -d 10s   # socket full, echoes timed from the payload
  $ wsbench blast ws://127.0.0.1:8000/ws -c 100 --scenario examples/jsonrpc.yaml   # against serve --mode reply
  $ wsbench blast 'ws://127.0.0.1:8000/ws?token={{data.token}}' -c 1000 --data users.csv   # one row per connection
  $ wsbench blast ws://127.0.0.1:3000 --protocol socketio --event ping --message '[{"n":{{seq}}}]' -c 1000   # emits with acks
  $ wsbench blast ws://127.0.0.1:4000/graphql --protocol graphql-ws --graphql-query sub.graphql -c 500
  $ wsbench blast ws://127.0.0.1:8000/ws --report html,junit   # results/blast-<time>.html and .junit.xml too
  $ wsbench blast ws://127.0.0.1:8000/ws -c 10k -d 60s --rate 1 --lifetime 10s   # churn: ~1,000 connects/s, concurrency held
  $ wsbench blast ws://127.0.0.1:8000/ws -c 10k -d 60s --rate 1 --reconnect   # restart the server meanwhile: the storm, measured
  $ wsbench blast ws://10.0.0.5:8000/ws -c 100k --shard 2/4 --barrier http://10.0.0.7:7070 --metrics-port 9464   # one of 4 shards
${GATE_HELP}

Reports (--report): html (one self-contained page with charts), md (Markdown summary), junit (JUnit
XML: run verdict, thresholds, regressions), hgrm (HdrHistogram percentile distribution per histogram,
in ms); written next to the results file. With $GITHUB_STEP_SUMMARY set, the Markdown summary is
appended there.

Exit codes: 0 ok; 1 nothing measured (no connection accepted, or messages sent and none echoed),
the server went away before --duration, or a client process was lost; 2 invalid usage or config;
99 a threshold crossed or a regression past --max-regression; 130 interrupted.`,
    );
  return addReportOption(addGateOptions(addOptions(command, BLAST_OPTIONS)))
    .action(async (url: string | undefined, flags: BlastFlags) => {
      if (url !== undefined && flags.ownServer) throw new ConfigError('--own-server', url, 'it cannot be combined with a URL: it is for runs without one');
      let config = resolveBlastConfig({ ...flags, url });
      // No URL: the wsbench serve at its default address, when one runs there (find-serve.ts).
      const found = url === undefined && !flags.ownServer ? await findDefaultServe() : undefined;
      if (found) config = { ...config, url: found.url };
      const gate = resolveGate(flags);
      const reports = resolveReportFormats(flags.report);
      // Where the result and its reports go is settled before the run: a path that cannot be
      // written fails now. (With --no-save, reports still go where the results file would have been.)
      const path = flags.out ?? defaultResultsPath('blast');
      if (flags.save !== false || reports.length > 0) checkWritable(path, flags.out ? '-o, --out' : 'results folder');
      const quiet = Boolean(flags.quiet || flags.json);
      const abort = new AbortController();
      const interrupted = onceInterrupted(() =>
        io.stderr.write('wsbench blast: closing connections; the results follow within seconds (signal again to quit without them)\n'),
      );
      void interrupted.signal.then(() => abort.abort());
      const progress = quiet ? undefined : createProgress(io, config.connections, config.durationMs);
      try {
        const measured = await blast(config, {
          signal: abort.signal,
          command: redactHeaderArgs(io.argv.slice(2), config.recordHeaders),
          onStart: quiet ? undefined : (start: BlastStart) => io.stderr.write(header(start, found)),
          // Where /metrics is, and waits at the barrier, are worth a line on stderr even with --quiet or --json.
          onNotice: (line: string) => io.stderr.write(`wsbench blast: ${line}\n`),
          onProgress: progress ? (p: BlastProgress) => progress.update(p) : undefined,
        });
        const result = applyGate(found ? { ...measured, target: { ...measured.target, found: true } } : measured, gate);
        progress?.stop();
        io.stdout.write(flags.json ? JSON.stringify(result, null, 2) + '\n' : formatGated(result, formatBlastSummary(result)));
        if (flags.save !== false) {
          writeJsonAtomic(path, result);
          if (!quiet) io.stderr.write(`wsbench blast: results written to ${path}\n`);
        }
        const written = writeReports(result, path, reports);
        if (written.length && !quiet) io.stderr.write(`wsbench blast: reports written to ${written.join(', ')}\n`);
        appendStepSummary(io, result);
        setExit(reportVerdict(io, runVerdict(result, result.thresholds, result.comparison)));
      } finally {
        progress?.stop();
        interrupted.dispose();
      }
    });
}

function header(start: BlastStart, found: FoundServe | undefined): string {
  const { plan, config } = start;
  const load = describeLoad(config);
  const length = config.messages !== undefined ? `${config.messages} messages each` : `${formatDurationMs(config.durationMs)} run${config.scenario ? ' at most' : ''}`;
  const what = config.scenario ? `${countSteps(config.scenario.steps)} steps` : config.message !== undefined ? 'templated message' : `${config.payload.length} B payload`;
  const when = config.rate === 0 ? '' : config.rampTraffic ? ', traffic from each open' : ', traffic after the ramp';
  const about = start.ownServer
    ? 'its own server, started for this run'
    : found
      ? `the wsbench serve running there: --mode ${found.mode}, --max ${formatCount(found.max)}, ${formatCount(found.open)} open; --own-server to use a server of its own`
      : undefined;
  return formatBlastHeader(start.url, about, config.connections, plan.workers, describeSources(plan), `${load}${when}, ${length}, ${what}`);
}

function describeLoad(config: BlastConfig): string {
  switch (config.pattern) {
    case 'reply':
      return `request/response by ${config.replyId}, ${config.rate === undefined ? `closed loop${config.pipeline > 1 ? `, ${config.pipeline} in flight` : ''}` : `${config.rate} req/s per connection`}`;
    case 'subscribe':
      return config.publishers > 0 ? `${config.publishers} publishers at ${config.rate || 1} msg/s, the rest listen` : 'subscribe and listen';
    case 'fire':
      return config.flood ? 'flood (socket kept full), echoes timed from the payload' : `fire-and-forget, ${config.rate === undefined ? 'as fast as each socket drains' : `${config.rate} msg/s per connection`}`;
    case 'scenario':
      return `scenario ${config.scenario!.file}`;
    default:
      return config.rate === undefined ? `closed loop${config.pipeline > 1 ? `, ${config.pipeline} in flight` : ''}` : config.rate === 0 ? 'idle (no messages)' : `${config.rate} msg/s per connection`;
  }
}
