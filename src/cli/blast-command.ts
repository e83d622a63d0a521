/** `wsbench blast`: options → config → blast() with progress → summary, JSON and results file. */
import { Command } from 'commander';
import { blast, type BlastProgress, type BlastStart } from '../blast/coordinator.js';
import { blastDefaults, resolveBlastConfig, type BlastConfig, type BlastOptions } from '../config/blast-config.js';
import { redactHeaderArgs } from '../config/redact-headers.js';
import { formatDurationMs } from '../config/units.js';
import { countSteps } from '../scenario/parse.js';
import { describeSources, formatBlastHeader, formatBlastSummary } from '../report/blast-text.js';
import { checkWritable, defaultResultsPath, writeJsonAtomic } from '../report/results-file.js';
import { applyGate, resolveGate } from '../gate/gate-plan.js';
import { runVerdict } from '../gate/verdict.js';
import { addGateOptions, formatGated, GATE_HELP, reportVerdict, type GateFlags } from './gate-options.js';
import { onceInterrupted, type CliIo } from './io.js';
import { addReportOption, appendStepSummary, resolveReportFormats, writeReports } from './report-options.js';
import { createProgress } from './progress.js';
import { findDefaultServe, type FoundServe } from './find-serve.js';
import { ConfigError } from '../config/errors.js';
import { formatBytes, formatCount } from '../report/format.js';

interface BlastFlags extends Omit<BlastOptions, 'url'>, GateFlags {
  quiet?: boolean;
  json?: boolean;
  out?: string;
  save?: boolean;
  report?: string;
  ownServer?: boolean;
}

export function blastCommand(io: CliIo, setExit: (code: number) => void): Command {
  const command = new Command('blast')
    .description('open N concurrent WebSocket clients, send messages, and report outcomes and latency')
    .argument('[url]', 'ws:// or wss:// URL of the server; without one, the wsbench serve at ws://127.0.0.1:8000/ws if one runs there, else a server of its own')
    .option('-c, --connections <count>', `concurrent connections, e.g. 50k (default ${blastDefaults.connections})`)
    .option('-d, --duration <duration>', `the run: send for this long once every connection is attempted, e.g. 30s (default ${formatDurationMs(blastDefaults.durationMs)})`)
    .option('--ramp-traffic', 'send from the moment each connection opens, during the ramp too (default: traffic starts with the run)')
    .option('--messages <count>', 'messages per connection; the run ends when all are echoed (or at --duration)')
    .option('--connect-rate <rate>', 'new connections per second over all processes (default: no pacing)')
    .option('--max-handshakes <count>', `handshakes in flight at once (default ${blastDefaults.maxHandshakes})`)
    .option('--connect-timeout <duration>', `a connection without its 101 by then fails (default ${formatDurationMs(blastDefaults.connectTimeoutMs)})`)
    .option('--rate <rate>', 'messages per second per connection, paced open loop; 0 holds idle (default: closed loop)')
    .option('-p, --pipeline <count>', 'closed loop: messages in flight per connection, like autocannon -p (default 1)')
    .option('-s, --size <size>', `message payload size, e.g. 64 or 4kb (default ${blastDefaults.sizeBytes})`)
    .option('--payload <file>', 'send this file as every message instead of a generated payload')
    .option('--binary', 'send binary frames (default text)')
    .option('--message <text|@file>', 'send this message template instead of a payload; placeholders {{seq}} {{conn}} {{worker}} {{now_us}} {{uuid}} {{random:N}} {{data.FIELD}} (--data)')
    .option('--reply-id <path>', "request/response: pair each reply with its request by this id (a JSON field such as id or result.id, or /regex/ with one group); needs --message")
    .option('--subscribe <text|@file>', 'send this once on each connection after the upgrade, then listen: every message received is a delivery')
    .option('--publishers <count>', 'of the connections, this many publish --message at --rate (default 1/s) and the rest listen; delivery latency from its {{now_us}}')
    .option('--expect-fanout <count>', 'deliveries expected per published message (default: every other connection)')
    .option('--fire-and-forget', 'send at --rate (or as fast as each socket drains) and wait for nothing: counts and bytes both ways, no latency')
    .option('--flood', 'keep every socket full, and time each echo from the {{now_us}} it carries (tcpkali-style latency markers)')
    .option('--scenario <file>', 'each connection runs the steps of this YAML or JSON file: send, expect (match, timeout), sleep, loop; see examples/')
    .option('--data <file>', 'per-connection data: a .csv (header row) or .jsonl file; connection N takes row N (going round when rows are fewer), its fields as {{data.FIELD}} in the URL, -H values, --message, --subscribe and scenario steps')
    .option('--data-unique', 'with --data: refuse to start unless the file has a row for every connection of the run (all shards together)')
    .option('--protocol <name>', 'ws, socketio or graphql-ws: what runs on the WebSocket: plain messages (ws, the default), Socket.IO v4 (WebSocket transport only) or graphql-transport-ws')
    .option('--namespace <nsp>', 'socketio: the namespace to connect to (default: the URL\'s path, else /)')
    .option('--socketio-path <path>', 'socketio: the Engine.IO path, the client\'s `path` option (default /socket.io/)')
    .option('--event <name>', 'socketio: the event each emit names (default message); --message gives its arguments (a JSON array, or one JSON value)')
    .option('--socketio-auth <json>', 'socketio: the namespace connect\'s auth payload, a JSON object template')
    .option('--graphql-query <file>', 'graphql-ws: the GraphQL document each subscribe sends')
    .option('--graphql-variables <json>', 'graphql-ws: the operation\'s variables, a JSON object template')
    .option('--graphql-operation <name>', 'graphql-ws: the operationName, for a document with several operations')
    .option('--graphql-init <json>', 'graphql-ws: connection_init\'s payload, a JSON object template')
    .option('--lifetime <duration>', 'churn: during the run, close each connection (1000) after this long and open a new one in its place; concurrency holds while -c/lifetime connect each second')
    .option('--lifetime-jitter <share>', `lifetimes vary uniformly by ± this share, e.g. 0.1 or 10% (default ${blastDefaults.lifetimeJitter * 100}%)`)
    .option('--reconnect', 'open a connection the server drops again, with exponential backoff; counts reconnects and the time back, and summarises a storm')
    .option('--reconnect-min <duration>', `the shortest wait before a reconnect attempt (default ${formatDurationMs(blastDefaults.reconnectMinMs)})`)
    .option('--reconnect-max <duration>', `the longest wait between attempts (default ${formatDurationMs(blastDefaults.reconnectMaxMs)})`)
    .option('--reconnect-jitter <full|none>', 'full: each wait uniform between --reconnect-min and the doubling ceiling (default); none: the ceiling itself, every client alike')
    .option('--own-server', 'without a URL: start a server of its own even when a wsbench serve runs at ws://127.0.0.1:8000/ws')
    .option('-w, --workers <count>', 'client processes (default: from the open-file limit and cores)')
    .option('--source-ip <list>', 'source addresses: a,b,c or a range a.b.c.d-a.b.c.e (default: picked in 127.0.0.0/8 for loopback targets)')
    .option('-H, --header <header>', "extra upgrade header 'name: value' (repeatable)", (value: string, all: string[] = []) => [...all, value])
    .option('--subprotocol <protocol>', 'Sec-WebSocket-Protocol to ask for')
    .option('--max-payload <size>', `largest message taken from the server, inflated or not; larger closes with 1009 (default ${formatBytes(blastDefaults.maxPayloadBytes)})`)
    .option('--compress', 'offer permessage-deflate (RFC 7692); where the server accepts it, every message is compressed and inflated')
    .option('--compress-client-no-context-takeover', 'with --compress: reset our compression context after every message (offered as client_no_context_takeover)')
    .option('--compress-server-no-context-takeover', 'with --compress: ask the server to reset its context after every message (server_no_context_takeover)')
    .option('--compress-window-bits <bits>', 'with --compress: offer LZ77 windows of 2^bits for both sides, 8-15 (server_max_window_bits and client_max_window_bits)')
    .option('--insecure', "wss://: accept a server certificate that does not verify (self-signed, another name)")
    .option('--record-headers', 'keep -H header values in the result (by default they are written as "<redacted>")')
    .option('--shard <i/N>', 'run the i-th of N exact shares of the load (connections, connect rate); wsbench merge adds them up')
    .option('--barrier <url>', 'with --shard: start together. Shard 1 serves this http:// URL (its port, every interface); each shard opens its connections when all N have arrived, and starts its run when all N ramps are done')
    .option('--barrier-timeout <duration>', `the longest a shard waits at the barrier before it fails, exit 1 (default ${formatDurationMs(blastDefaults.barrierTimeoutMs)})`)
    .option('--start-at <time>', 'open the first connection at this time: RFC 3339 (2026-12-05T18:00:00Z) or Unix seconds; shards given one time start their ramps together')
    .option('--metrics-port <port>', 'serve Prometheus text at /metrics on this port while the run goes (labelled with the shard)')
    .option('--metrics-host <address>', `the address /metrics listens on (default ${blastDefaults.metricsHost})`)
    .option('-q, --quiet', 'no progress on stderr')
    .option('--json', 'print the result as one JSON document on stdout (implies --quiet)')
    .option('-o, --out <file>', 'write the JSON result here instead of results/blast-<time>.json')
    .option('--no-save', 'do not write a results file')
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
  return addReportOption(addGateOptions(command))
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
