/**
 * The blast plan: how many client processes, how many connections each, and which source
 * (address, port) pairs each may use, worked out before any socket opens.
 *
 * Measured on this machine (DESIGN.md): past ~10k connections per process the kernel's search for a
 * free ephemeral port collapses, and one (source, destination) address pair has ~28k ports at all.
 * So for loopback targets each worker gets its own source addresses in 127.0.0.0/8, picked at random
 * per run (an earlier run's TIME_WAIT pairs then do not collide), and chooses its ports itself.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { platform } from 'node:os';
import { ipv4ToNumber, numberToIpv4, type BlastConfig } from '../config/blast-config.js';
import { ConfigError } from '../config/errors.js';
import { connectionsPerProcess, cores, FD_RESERVE, readFdLimit } from './fd-budget.js';
import { splitExact, splitRate } from './split.js';

/** Source ports a worker picks from itself (below 1024 needs privileges). */
export const SOURCE_PORT_LOW = 1024;
export const SOURCE_PORT_HIGH = 65_535;
const PORTS_PER_ADDRESS = SOURCE_PORT_HIGH - SOURCE_PORT_LOW + 1;
/** Use at most this share of an address's ports, leaving room for pairs found taken. */
const PORT_HEADROOM = 0.8;

export interface SourcePairs {
  readonly addresses: readonly string[];
  readonly portLow: number;
  readonly portHigh: number;
}

export interface WorkerShare {
  readonly connections: number;
  readonly connectRate: number;
  readonly maxHandshakes: number;
  /** undefined: the kernel picks the source address and port. */
  readonly source: SourcePairs | undefined;
}

export interface BlastPlan {
  readonly workers: number;
  readonly shares: readonly WorkerShare[];
  readonly sourceMode: 'auto-loopback' | 'listed' | 'kernel';
  readonly sourceAddresses: readonly string[];
  readonly fdLimit: number;
  readonly perProcessCapacity: number;
  /** The host to connect to (localhost resolved to 127.0.0.1). */
  readonly connectHost: string;
  readonly connectPort: number;
}

export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare === 'localhost' || bare === '::1' || (isIP(bare) === 4 && bare.startsWith('127.'));
}

export function planBlast(config: BlastConfig, url: URL, fdLimit = readFdLimit(), coreCount = cores()): BlastPlan {
  const connections = config.connections;
  const perProcessCapacity = connectionsPerProcess(fdLimit);
  const minimumWorkers = Math.ceil(connections / perProcessCapacity);
  if (config.workers !== undefined && config.workers < minimumWorkers) {
    throw new ConfigError(
      '--workers',
      config.workers,
      `-c ${connections} needs at least ${minimumWorkers} client processes: each may hold ${perProcessCapacity} ` +
        `connections (open-file limit ${fdLimit} less ${FD_RESERVE} kept in reserve)`,
    );
  }
  const workers = Math.min(connections, config.workers ?? Math.max(minimumWorkers, Math.min(coreCount, Math.ceil(connections / 1000))));
  const perWorker = splitExact(connections, workers);
  const rates = splitRate(config.connectRate, workers);
  const handshakes = splitExact(Math.max(config.maxHandshakes, workers), workers);

  const host = url.hostname.replace(/^\[|\]$/g, '');
  const connectHost = host === 'localhost' ? '127.0.0.1' : host;
  const connectPort = Number(url.port || (url.protocol === 'wss:' ? 443 : 80));
  let sourceMode: BlastPlan['sourceMode'];
  let sources: (SourcePairs | undefined)[];
  if (config.sourceAddresses) {
    const family = isIP(connectHost);
    const mismatched = config.sourceAddresses.find((address) => family !== 0 && isIP(address) !== family);
    if (mismatched) {
      throw new ConfigError('--source-ip', mismatched, `expected IPv${family} source addresses for the IPv${family} target ${connectHost}`);
    }
    sourceMode = 'listed';
    sources = spreadListed(config.sourceAddresses, workers);
  } else if (isLoopback(connectHost) && isIP(connectHost) === 4 && platform() === 'linux') {
    // Linux routes all of 127.0.0.0/8 to loopback; elsewhere only 127.0.0.1 answers by default.
    sourceMode = 'auto-loopback';
    sources = autoLoopback(perWorker);
  } else {
    sourceMode = 'kernel';
    sources = perWorker.map(() => undefined);
    const ephemeral = readEphemeralPortCount();
    if (connections > ephemeral) {
      throw new ConfigError(
        '-c, --connections',
        connections,
        `one source address has ${ephemeral} ephemeral ports toward ${connectHost}:${connectPort}; ` +
          `list more with --source-ip (e.g. --source-ip 10.0.0.2-10.0.0.5)`,
      );
    }
  }
  sources.forEach((source, index) => {
    if (!source) return;
    const pairs = source.addresses.length * (source.portHigh - source.portLow + 1);
    if (pairs * PORT_HEADROOM < perWorker[index]!) {
      throw new ConfigError(
        '--source-ip',
        config.sourceAddresses?.join(',') ?? 'auto',
        `client process ${index} has ${pairs} source (address, port) pairs for ${perWorker[index]} connections; ` +
          `list more source addresses (each gives ${PORTS_PER_ADDRESS} ports, of which ${PORT_HEADROOM * 100}% are used)`,
      );
    }
  });
  return {
    workers,
    shares: perWorker.map((count, index) => ({
      connections: count,
      connectRate: rates[index]!,
      maxHandshakes: handshakes[index]!,
      source: sources[index],
    })),
    sourceMode,
    sourceAddresses: sources.flatMap((source) => source?.addresses ?? []).filter((a, i, all) => all.indexOf(a) === i),
    fdLimit,
    perProcessCapacity,
    connectHost,
    connectPort,
  };
}

/** Fresh random loopback source addresses, enough per worker for its share. */
function autoLoopback(perWorker: readonly number[]): SourcePairs[] {
  const usable = Math.floor(PORTS_PER_ADDRESS * PORT_HEADROOM);
  const counts = perWorker.map((count) => Math.max(1, Math.ceil(count / usable)));
  const total = counts.reduce((a, b) => a + b, 0);
  // 127.1.0.0 to 127.254.255.255, never 127.0.0.x where servers usually listen.
  const span = 254 * 65_536 - total;
  let next = ipv4ToNumber('127.1.0.1')! + Math.floor(Math.random() * span);
  return counts.map((count) => ({
    addresses: Array.from({ length: count }, () => numberToIpv4(next++)),
    portLow: SOURCE_PORT_LOW,
    portHigh: SOURCE_PORT_HIGH,
  }));
}

/** Listed addresses: whole addresses per worker when there are enough, else ports split between workers. */
function spreadListed(addresses: readonly string[], workers: number): SourcePairs[] {
  if (addresses.length >= workers) {
    const counts = splitExact(addresses.length, workers);
    let at = 0;
    return counts.map((count) => {
      const slice = addresses.slice(at, at + count);
      at += count;
      return { addresses: slice, portLow: SOURCE_PORT_LOW, portHigh: SOURCE_PORT_HIGH };
    });
  }
  const sharers = splitExact(workers, addresses.length);
  const result: SourcePairs[] = [];
  sharers.forEach((count, addressIndex) => {
    const portShares = splitExact(PORTS_PER_ADDRESS, count);
    let low = SOURCE_PORT_LOW;
    for (const ports of portShares) {
      result.push({ addresses: [addresses[addressIndex]!], portLow: low, portHigh: low + ports - 1 });
      low += ports;
    }
  });
  return result;
}

function readEphemeralPortCount(): number {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && high && high >= low) return high - low + 1;
  } catch {
    // Not Linux.
  }
  return 28_232;
}
