/** Text for serve: the status line and the totals. Pure functions from stats to strings. */
import { rejectStatus, totalRejected, type RejectReason, type ServeStats } from '../metrics/serve-stats.js';
import { formatBytes, formatCount } from './format.js';

/** One status line; msgs/s is what the workers measured over their last whole second. */
export function formatServeStatus(stats: ServeStats): string {
  return (
    `open ${formatCount(stats.open)}/${formatCount(stats.max)}  accepted ${formatCount(stats.accepted)}  ` +
    `rejected ${formatCount(totalRejected(stats))}${stats.queued > 0 ? `  queued ${formatCount(stats.queued)}` : ''}  ` +
    `msgs/s ${formatCount(stats.messagesPerSecond)}${modeCounts(stats)}`
  );
}

export function formatServeTotals(stats: ServeStats): string {
  const rejected = (Object.keys(stats.rejected) as RejectReason[])
    .filter((reason) => stats.rejected[reason] > 0)
    .map((reason) => `${rejectStatus[reason]} ${reason}: ${formatCount(stats.rejected[reason])}`);
  const lines = [
    `wsbench serve: stopped after ${(stats.uptimeMs / 1000).toFixed(1)}s (max ${formatCount(stats.max)}, ${stats.workers} worker${stats.workers === 1 ? '' : 's'})`,
    `  connections  accepted ${formatCount(stats.accepted)}  closed ${formatCount(stats.closed)}  open ${formatCount(stats.open)}`,
    `  rejected     ${formatCount(totalRejected(stats))}${rejected.length ? `  (${rejected.join(', ')})` : ''}`,
    `  messages     in ${formatCount(stats.messagesIn)}  out ${formatCount(stats.messagesOut)}`,
    `  bytes        in ${formatBytes(stats.bytesIn)}  out ${formatBytes(stats.bytesOut)}`,
  ];
  if (stats.handshakeTimeouts > 0) lines.push(`  handshake timeouts ${formatCount(stats.handshakeTimeouts)}`);
  if (stats.compressionNegotiated > 0) lines.push(`  compression  permessage-deflate on ${formatCount(stats.compressionNegotiated)} of ${formatCount(stats.accepted)} connections`);
  const modes = modeCounts(stats);
  if (modes) lines.push(`  modes      ${modes}`);
  return lines.join('\n') + '\n';
}

/** reply and broadcast figures that are not zero, so an echo server's lines stay as they were. */
function modeCounts(stats: ServeStats): string {
  const counts: [string, number][] = [
    ['bad messages', stats.badMessages],
    ['relayed in', stats.relayedIn],
    ['slow subscribers dropped', stats.slowSubscribersDropped],
    ['relays dropped', stats.relaysDropped],
  ];
  return counts.filter(([, count]) => count > 0).map(([name, count]) => `  ${name} ${formatCount(count)}`).join('');
}
