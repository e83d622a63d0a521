/** `wsbench serve`: options → config → serve() → status lines → totals on SIGINT/SIGTERM. */
import { portableLine } from '../runtime/fast-paths.js';
import { Command } from 'commander';
import { ExitCode, RunError } from '../config/errors.js';
import { resolveServeConfig, serveDefaults, type ServeConfig, type ServeOptions } from '../config/serve-config.js';
import { formatDurationMs } from '../config/units.js';
import { formatBytes } from '../report/format.js';
import { formatServeStatus, formatServeTotals } from '../report/serve-text.js';
import { keepYoungGenerationSmall } from '../serve/heap-tuning.js';
import { serve } from '../serve/server.js';
import { onceInterrupted, type CliIo } from './io.js';

interface ServeFlags extends ServeOptions {
  quiet?: boolean;
  json?: boolean;
}

export function serveCommand(io: CliIo, setExit: (code: number) => void): Command {
  return new Command('serve')
    .description('run a WebSocket echo (or reply, or broadcast) server that holds at most --max connections and refuses the rest with HTTP 503')
    .option('--host <address>', `address to listen on (default ${serveDefaults.host})`)
    .option('-p, --port <port>', `TCP port, 0 for any free one (default ${serveDefaults.port})`)
    .option('--path <path>', `WebSocket endpoint; other paths get 404 (default ${serveDefaults.path})`)
    .option('-m, --max <count>', `cap on open WebSocket connections, e.g. 10k (default ${serveDefaults.max})`)
    .option('-w, --workers <count>', 'worker processes (default: all cores, more if --max needs them)')
    .option('--overflow <mode>', `beyond the cap: reject (503 at once) or queue (wait for a slot) (default ${serveDefaults.overflow})`)
    .option('--queue-timeout <duration>', `queue mode: longest wait for a slot before 503 (default ${formatDurationMs(serveDefaults.queueTimeoutMs)})`)
    .option('--max-payload <size>', `largest message; larger closes with 1009 (default ${formatBytes(serveDefaults.maxPayloadBytes)})`)
    .option('--handshake-timeout <duration>', `close TCP connections that do not upgrade in time (default ${formatDurationMs(serveDefaults.handshakeTimeoutMs)})`)
    .option('--heartbeat <duration>', `ping interval that finds dead peers, 0 to disable (default ${formatDurationMs(serveDefaults.heartbeatMs)})`)
    .option('--drain-timeout <duration>', `on SIGINT/SIGTERM, time given to close connections (default ${formatDurationMs(serveDefaults.drainTimeoutMs)})`)
    .option('--mode <mode>', `echo (each message back), reply (JSON answer with the request's id) or broadcast (to the rest of its room) (default ${serveDefaults.mode})`)
    .option('--rooms <count>', `broadcast: rooms; a connection joins by ?room=<r> on its URL, a {"room":r} message, or else round robin (default ${serveDefaults.rooms})`)
    .option('--subscriber-buffer <size>', `broadcast: a subscriber with more unsent is closed with 1008 (default ${formatBytes(serveDefaults.subscriberBufferBytes)})`)
    .option('--compress', 'accept permessage-deflate (RFC 7692) when a client offers it; echoes are compressed')
    .option('--compress-server-no-context-takeover', 'with --compress: reset our compression context after every message (less memory per connection)')
    .option('--compress-client-no-context-takeover', 'with --compress: ask every client to reset its context after every message')
    .option('--tls-cert <file>', 'serve wss://: PEM certificate (chain); with --tls-key')
    .option('--tls-key <file>', 'serve wss://: PEM private key; with --tls-cert')
    .option('-q, --quiet', 'no status lines on stderr')
    .option('--json', 'print the totals as JSON on stdout (implies --quiet)')
    .addHelpText(
      'after',
      `
Examples:
  $ wsbench serve --max 10000                    # 10k connections, 503 beyond
  $ wsbench serve --max 50k --port 9000          # more than one process can hold: workers are sized for it
  $ wsbench serve --overflow queue --queue-timeout 2s
  $ wsbench serve --mode reply                   # {"id":7,...} is answered {"jsonrpc":"2.0","id":7,"result":...}
  $ wsbench serve --mode broadcast --rooms 10    # a message reaches every other connection in its room
  $ curl localhost:8000/metrics                  # Prometheus text; /healthz gives JSON`,
    )
    .action(async (flags: ServeFlags) => {
      const config = resolveServeConfig(flags);
      keepYoungGenerationSmall();
      const quiet = Boolean(flags.quiet || flags.json);
      const interrupted = onceInterrupted(() =>
        io.stderr.write('wsbench serve: draining; the totals follow (signal again to quit without them)\n'),
      );
      const server = await serve(config).catch((error) => {
        interrupted.dispose();
        throw error;
      });
      server.onWorkerExit = ({ index, code, signal, replacing, running, planned }) =>
        io.stderr.write(
          `wsbench serve: worker ${index} exited (${signal ?? `code ${code}`}); its slots were freed; ` +
            (replacing ? 'starting a replacement\n' : `not replaced (too many exits in a minute): running with ${running} of ${planned} workers\n`),
        );
      const allGone = new Promise<'gone'>((resolve) => (server.onAllWorkersGone = () => resolve('gone')));
      const workers = `${server.plan.workers} worker${server.plan.workers === 1 ? '' : 's'}`;
      if (!quiet) {
        io.stderr.write(
          `wsbench serve: listening on ${server.url}  max ${config.max}  ${workers}  overflow ${config.overflow}${modeText(config)}\n`,
        );
        const portable = portableLine(server.runtime);
        if (portable) io.stderr.write(`wsbench serve: ${portable}\n`);
      }
      const status = quiet ? undefined : startStatus(io, server.stats);
      const signal = await Promise.race([interrupted.signal, allGone]);
      status?.stop();
      if (signal === 'gone') {
        interrupted.dispose();
        await server.close();
        throw new RunError('WORKERS_GONE', 'every server worker process exited; nothing is left to serve connections');
      }
      if (!quiet) io.stderr.write(`wsbench serve: ${signal}, closing connections (up to ${formatDurationMs(config.drainTimeoutMs)})\n`);
      const totals = await server.close();
      io.stdout.write(flags.json ? JSON.stringify({ schemaVersion: 1, ...totals }, null, 2) + '\n' : formatServeTotals(totals));
      setExit(ExitCode.ok);
    });
}

/** The mode, when it is not echo: what a client of this server should expect. */
function modeText(config: ServeConfig): string {
  if (config.mode === 'echo') return '';
  if (config.mode === 'reply') return '  mode reply';
  return `  mode broadcast (${config.rooms} room${config.rooms === 1 ? '' : 's'}, subscriber buffer ${formatBytes(config.subscriberBufferBytes)})`;
}

/** A status line: redrawn each second on a TTY, a plain line every 5 s otherwise (CI logs). */
function startStatus(io: CliIo, stats: () => Promise<import('../metrics/serve-stats.js').ServeStats>) {
  const tty = io.stderrIsTTY;
  const intervalMs = tty ? 1000 : 5000;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void stats().then((current) => {
      busy = false;
      const line = formatServeStatus(current);
      io.stderr.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
    });
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      if (tty) io.stderr.write('\n');
    },
  };
}
