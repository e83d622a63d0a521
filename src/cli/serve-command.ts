/** `wsbench serve`: options → config → serve() → status lines → totals on SIGINT/SIGTERM. */
import { portableLine } from '../runtime/fast-paths.js';
import { Command } from 'commander';
import { ExitCode, RunError } from '../config/errors.js';
import { resolveServeConfig, type ServeConfig } from '../config/serve-config.js';
import { SERVE_OPTIONS } from '../config/serve-options.js';
import { addOptions, type OptionValues } from '../config/option-table.js';
import { formatDurationMs } from '../config/units.js';
import { formatBytes } from '../report/format.js';
import { formatServeStatus, formatServeTotals } from '../report/serve-text.js';
import { keepYoungGenerationSmall } from '../serve/heap-tuning.js';
import { serve } from '../serve/server.js';
import { onceInterrupted, type CliIo } from './io.js';

type ServeFlags = OptionValues<typeof SERVE_OPTIONS>;

export function serveCommand(io: CliIo, setExit: (code: number) => void): Command {
  const command = new Command('serve').description('run a WebSocket echo (or reply, or broadcast) server that holds at most --max connections and refuses the rest with HTTP 503');
  return addOptions(command, SERVE_OPTIONS)
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
