/**
 * --compress in a blast result: what was offered, how many upgrades the server answered with
 * permessage-deflate and how many without, and the bytes on both sides of zlib. null when
 * compression was not offered; absent from results written before it existed.
 */
import type { BlastCounters } from './blast-counters.js';
import type { DeflateOffer } from '../protocol/permessage-deflate.js';
import { offerHeader } from '../protocol/permessage-deflate.js';

export interface CompressionReport {
  /** The Sec-WebSocket-Extensions value blast sent. */
  readonly offered: string;
  /** Upgrades answered with permessage-deflate (every message compressed), and without (plain frames). */
  readonly negotiated: number;
  readonly notNegotiated: number;
  /** Messages blast compressed: their bytes before and after compression. */
  readonly bytesBeforeCompression: number;
  readonly bytesAfterCompression: number;
  /** Compressed messages received: their bytes as they came, and inflated. */
  readonly bytesReceivedCompressed: number;
  readonly bytesReceivedInflated: number;
}

export function compressionOf(counters: BlastCounters, offer: DeflateOffer | undefined | null): CompressionReport | null {
  if (!offer) return null;
  return {
    offered: offerHeader(offer),
    negotiated: counters.compressionNegotiated ?? 0,
    notNegotiated: counters.compressionNotNegotiated ?? 0,
    bytesBeforeCompression: counters.deflateBytesIn ?? 0,
    bytesAfterCompression: counters.deflateBytesOut ?? 0,
    bytesReceivedCompressed: counters.inflateBytesIn ?? 0,
    bytesReceivedInflated: counters.inflateBytesOut ?? 0,
  };
}

/** Shards of one run: counts and bytes add up; the offer is the first shard's (they ran one command). */
export function mergeCompression(parts: readonly (CompressionReport | null | undefined)[]): CompressionReport | null {
  const known = parts.filter((part): part is CompressionReport => Boolean(part));
  if (known.length === 0) return null;
  const sum = (key: Exclude<keyof CompressionReport, 'offered'>) => known.reduce((total, part) => total + part[key], 0);
  return {
    offered: known[0]!.offered,
    negotiated: sum('negotiated'),
    notNegotiated: sum('notNegotiated'),
    bytesBeforeCompression: sum('bytesBeforeCompression'),
    bytesAfterCompression: sum('bytesAfterCompression'),
    bytesReceivedCompressed: sum('bytesReceivedCompressed'),
    bytesReceivedInflated: sum('bytesReceivedInflated'),
  };
}

/** The summary's line: whether it was negotiated, and what it saved. */
export function compressionLine(report: CompressionReport): string {
  const accepted = report.negotiated + report.notNegotiated;
  // Larger is possible: small messages grow, and compressed bytes received are counted as they
  // arrive, inflated ones when inflated (a backlog still inflating at the end counts only on one side).
  const saved = (before: number, after: number) => {
    if (before === 0) return 'nothing';
    const change = Math.round((1 - after / before) * 100);
    return change >= 0 ? `${change}% smaller` : `${-change}% larger`;
  };
  const verdict =
    report.negotiated === 0 ? 'not negotiated' : report.notNegotiated === 0 ? 'negotiated' : `negotiated on ${report.negotiated} of ${accepted} connections`;
  return (
    `  compression: permessage-deflate ${verdict}` +
    (accepted > 0 ? ` (${report.negotiated} with, ${report.notNegotiated} without)` : '') +
    (report.negotiated > 0
      ? `; sent ${saved(report.bytesBeforeCompression, report.bytesAfterCompression)}, received ${saved(report.bytesReceivedInflated, report.bytesReceivedCompressed)}`
      : '')
  );
}
