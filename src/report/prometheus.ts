/** /metrics in the Prometheus text exposition format: a pure function from stats to text. */
import { rejectStatus, type RejectReason, type ServeStats } from '../metrics/serve-stats.js';

export function formatPrometheus(stats: ServeStats): string {
  const lines: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, samples: [string, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  };
  metric('wsbench_connections_open', 'gauge', 'Open WebSocket connections.', [['', stats.open]]);
  metric('wsbench_connections_max', 'gauge', 'The cap on open WebSocket connections.', [['', stats.max]]);
  metric('wsbench_connections_queued', 'gauge', 'Upgrades waiting for a slot (queue mode).', [['', stats.queued]]);
  metric('wsbench_connections_accepted_total', 'counter', 'WebSocket connections accepted.', [['', stats.accepted]]);
  metric('wsbench_connections_closed_total', 'counter', 'WebSocket connections closed.', [['', stats.closed]]);
  metric(
    'wsbench_connections_rejected_total',
    'counter',
    'Upgrade attempts refused, by reason and HTTP status.',
    (Object.keys(stats.rejected) as RejectReason[]).map((reason) => [
      `{reason="${reason}",status="${rejectStatus[reason]}"}`,
      stats.rejected[reason],
    ]),
  );
  metric('wsbench_handshake_timeouts_total', 'counter', 'TCP connections closed for not finishing an upgrade in time.', [
    ['', stats.handshakeTimeouts],
  ]);
  metric('wsbench_messages_total', 'counter', 'WebSocket messages, by direction.', [
    ['{direction="in"}', stats.messagesIn],
    ['{direction="out"}', stats.messagesOut],
  ]);
  metric('wsbench_bytes_total', 'counter', 'WebSocket payload bytes, by direction.', [
    ['{direction="in"}', stats.bytesIn],
    ['{direction="out"}', stats.bytesOut],
  ]);
  metric('wsbench_bad_messages_total', 'counter', 'Reply mode: requests answered with an error; broadcast: messages with a bad room field.', [
    ['', stats.badMessages],
  ]);
  metric('wsbench_slow_subscribers_dropped_total', 'counter', 'Broadcast: subscribers closed (1008) for unsent bytes past --subscriber-buffer.', [
    ['', stats.slowSubscribersDropped],
  ]);
  metric('wsbench_relayed_messages_total', 'counter', 'Broadcast: messages fanned out by a server process other than the publisher\'s, by outcome.', [
    ['{outcome="delivered"}', stats.relayedIn],
    ['{outcome="dropped"}', stats.relaysDropped],
  ]);
  metric('wsbench_compression_negotiated_total', 'counter', '--compress: connections that negotiated permessage-deflate.', [['', stats.compressionNegotiated ?? 0]]);
  metric('wsbench_messages_per_second', 'gauge', 'Messages in over the last whole second.', [['', stats.messagesPerSecond]]);
  metric('wsbench_workers', 'gauge', 'Server worker processes running.', [['', stats.workers]]);
  metric('wsbench_worker_exits_total', 'counter', 'Worker processes that ended without being asked to.', [['', stats.workerExits]]);
  metric('wsbench_uptime_seconds', 'gauge', 'Seconds since the server started.', [['', stats.uptimeMs / 1000]]);
  return lines.join('\n') + '\n';
}
