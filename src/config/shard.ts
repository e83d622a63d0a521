/**
 * `--shard i/N`: this process runs the i-th of N exact shares of one load, so that N machines (or
 * processes) together run exactly the configured total. Connections, the connect rate and the
 * handshake budget are split with splitExact/splitRate (shares add up to the total); --rate is per
 * connection, so the message rate splits with the connections by itself. The result records the
 * shard and the totals, and `wsbench merge` adds the shards back up.
 */
import { ConfigError } from './errors.js';
import { splitExact, splitRate } from '../limits/split.js';

export interface Shard {
  /** 1-based: `--shard 1/4` is the first of four. */
  readonly index: number;
  readonly count: number;
  readonly totalConnections: number;
  readonly totalConnectRate: number;
  readonly totalMaxHandshakes: number;
  readonly totalPublishers: number;
}

interface Load {
  readonly connections: number;
  readonly connectRate: number;
  readonly maxHandshakes: number;
  /** Publishers are connections too: the shards' add up to the total, the first shards' first. */
  readonly publishers?: number;
}

/** The share of `load` for `--shard text`, or the load itself (and shard undefined) without one. */
export function shardLoad<L extends Load>(text: string | undefined, load: L): L & { shard: Shard | undefined } {
  if (text === undefined) return { ...load, shard: undefined };
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const [index, count] = match ? [Number(match[1]), Number(match[2])] : [Number.NaN, Number.NaN];
  if (!(count >= 1 && count <= 10_000 && index >= 1 && index <= count)) {
    throw new ConfigError('--shard', text, 'expected i/N with 1 <= i <= N <= 10000, such as 1/4');
  }
  if (load.connections < count) {
    throw new ConfigError('--shard', text, `-c ${load.connections} cannot be split into ${count} shards of at least one connection`);
  }
  const shard: Shard = { index, count, totalConnections: load.connections, totalConnectRate: load.connectRate, totalMaxHandshakes: load.maxHandshakes, totalPublishers: load.publishers ?? 0 };
  return {
    ...load,
    connections: splitExact(load.connections, count)[index - 1]!,
    connectRate: splitRate(load.connectRate, count)[index - 1]!,
    maxHandshakes: splitExact(Math.max(load.maxHandshakes, count), count)[index - 1]!,
    publishers: publishersOfShard(load.publishers ?? 0, splitExact(load.connections, count), index),
    shard,
  };
}

/** The run's first `publishers` connections publish: the ones of this shard among them. */
function publishersOfShard(publishers: number, connections: readonly number[], index: number): number {
  const first = connections.slice(0, index - 1).reduce((total, n) => total + n, 0);
  return publishersAmong(publishers, first, connections[index - 1]!);
}

/**
 * Of `count` connections numbered from `first`, those among a load's first `publishers`: a shard's
 * share of the run's, or a client process's share of its shard's.
 */
export function publishersAmong(publishers: number, first: number, count: number): number {
  return Math.max(0, Math.min(publishers - first, count));
}

/** The run-wide number of this shard's first connection, so that {{conn}} is unique across shards. */
export function firstConnectionOf(shard: Shard | undefined): number {
  if (!shard) return 0;
  return splitExact(shard.totalConnections, shard.count).slice(0, shard.index - 1).reduce((total, n) => total + n, 0);
}
