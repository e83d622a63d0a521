/** The typed messages between the blast coordinator and its client processes. */
import type { BlastPattern, BlastPlanFields } from '../config/blast-config.js';
import type { SourcePairs } from '../limits/blast-plan.js';
import type { BlastCounters } from '../metrics/blast-counters.js';
import type { IntervalSample } from '../metrics/timeline.js';
import type { WorkerSnapshot } from '../metrics/worker-snapshot.js';
import type { Scenario } from '../scenario/parse.js';
import type { DataRows } from '../data/data-file.js';
import type { GraphqlSettings, SocketIoSettings } from '../config/protocol-config.js';
import type { DeflateOffer } from '../protocol/permessage-deflate.js';

/**
 * What one client process is to do: its exact share of the run. The options it takes as they are
 * come from the `plan` entries of config/blast-options.ts (BlastPlanFields: --rate, --messages,
 * --pipeline, --reconnect-*, …); the fields here are its share and what the coordinator works out.
 */
export interface LoadGeneratorOptions extends BlastPlanFields {
  readonly index: number;
  readonly host: string;
  readonly port: number;
  readonly requestHead: string;
  /** The subprotocols requestHead asks for: the server's choice must be one of them (none if empty). */
  readonly subprotocols: readonly string[];
  /** --compress: the permessage-deflate offer (requestHead carries it); the answer is checked against it. */
  readonly compression?: DeflateOffer;
  /** wss://: the server name to verify (undefined for an IP address) and whether to verify. */
  readonly tls?: { readonly servername: string | undefined; readonly rejectUnauthorized: boolean };
  readonly connections: number;
  /** New connections per second for this process; 0 means no pacing. */
  readonly connectRate: number;
  readonly maxHandshakes: number;
  readonly payload: Buffer;
  /** The payload's first 8 bytes are each connection's number in hex, stamped at each send (config/blast-config.ts). */
  readonly stampConnection: boolean;
  readonly source: SourcePairs | undefined;
  /** What the connections do (config/blast-config.ts). */
  readonly pattern: BlastPattern;
  /** subscribe: this process's publishers are its first `publishers` connections. */
  readonly publishers: number;
  /** scenario: the steps every connection runs (scenario/parse.ts; plain data). */
  readonly scenario: Scenario | undefined;
  /** The run-wide number of this process's first connection ({{conn}}). */
  readonly firstConnection: number;
  /** --reconnect-jitter full (true, the default) or none. */
  readonly reconnectJitter: boolean;
  /**
   * wsbench find: connections to open at the start, of `connections` (the most any step asks of
   * this process); 'target' messages move it. Undefined: all of them.
   */
  readonly openAtStart?: number;
  /**
   * --data: the rows of this process's connections (connection firstConnection + i takes
   * rows[i % rows.length]); undefined without --data.
   */
  readonly data?: DataRows;
  readonly socketio: SocketIoSettings | undefined;
  readonly graphql: GraphqlSettings | undefined;
}

export type CoordinatorToBlastWorker =
  | { t: 'start'; options: Omit<LoadGeneratorOptions, 'payload'> & { payloadBase64: string } }
  /** Every process has finished its ramp: the run begins. */
  | { t: 'run' }
  /** End the run: stop sending, close connections, send the final snapshot. */
  | { t: 'stop' }
  /** wsbench find: hold this many connections (opening the difference, or closing the newest), at this rate. */
  | { t: 'target'; seq: number; connections: number; rate?: number };

export type BlastWorkerToCoordinator =
  /**
   * Counters, every second and at once on a change of state; `interval` only on the every-second
   * tick: that second's figures for the timeline.
   */
  | { t: 'tick'; counters: BlastCounters; rampDone: boolean; idle: boolean; messagesDone: boolean; interval?: IntervalSample; targetSeq?: number }
  | { t: 'final'; snapshot: WorkerSnapshot }
  /** While the process stops (before and after 'final'): its connections still open or connecting. */
  | { t: 'closing'; open: number };
