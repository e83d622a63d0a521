/**
 * The blast configuration: every option once, with its type, default and meaning. The CLI and the
 * API both go through resolveBlastConfig.
 */
import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { ConfigError } from './errors.js';
import { shardLoad, type Shard } from './shard.js';
import { parsePercent } from './units.js';
import type { DeflateOffer } from '../protocol/permessage-deflate.js';
import { MessageTemplate } from '../message/template.js';
import { compileIdExtractor } from '../message/reply-id.js';
import { readScenarioFile, type Scenario, type ScenarioConnect } from '../scenario/parse.js';
import type { DataSet } from '../data/data-file.js';
import { resolveData } from '../data/data-config.js';
import { markDataPlaceholders } from '../data/placeholders.js';
import { resolveProtocol, type GraphqlSettings, type SocketIoSettings } from './protocol-config.js';
import { BLAST, BLAST_OPTIONS, blastDefaults } from './blast-options.js';
import { readAddress, readChoice, readNumber, readOptionalNumber, type ConfigValues, type PlanFields } from './option-table.js';

/**
 * What the connections do once open:
 * - echo: send, and time the server's echo of each message (the default);
 * - reply: send requests, and pair each reply with its request by id (--reply-id);
 * - subscribe: send --subscribe once, then listen; --publishers of them publish at --rate, and
 *   every message received is timed from the {{now_us}} its publisher put in it (delivery);
 * - fire: send at --rate, or as fast as the socket drains, and wait for nothing (--fire-and-forget);
 *   --flood is fire with each echo timed from the {{now_us}} it carries;
 * - scenario: each connection follows the steps of --scenario.
 */
export type BlastPattern = 'echo' | 'reply' | 'subscribe' | 'fire' | 'scenario';

/** blast's plain options as every client process gets them: the `plan` entries of BLAST_OPTIONS, typed from the table. */
export type BlastPlanFields = PlanFields<typeof BLAST_OPTIONS>;

/**
 * The resolved configuration. The fields written here are those whose value needs more than its
 * option's own (payload, pattern, headers, shares, …); the plain ones that every client process
 * is sent as they are (rate, messages, --reconnect-*, --lifetime, …) come from the `plan` entries
 * of blast-options.ts, typed from the table (BlastPlanFields).
 */
export interface BlastConfig extends BlastPlanFields {
  /** Target ws:// URL; undefined starts wsbench's own server on a free loopback port. */
  readonly url: string | undefined;
  /** Concurrent connections to open and hold. Default 100. */
  readonly connections: number;
  /** The run: how long to send at full concurrency after every connection has been attempted. Default 10s. */
  readonly durationMs: number;
  /** New connections per second over all workers; 0 means as fast as --max-handshakes allows. Default 0. */
  readonly connectRate: number;
  /** Handshakes in flight at once over all workers. Default 1000. */
  readonly maxHandshakes: number;
  /** The payload sent in every message. Default 64 bytes of text. */
  readonly payload: Buffer;
  /**
   * The default payload (no --payload, 8 bytes or more) begins with the connection's number, 8 hex
   * digits, stamped at each send: an echo is then told from another connection's copy of the same
   * message (a broadcast server's), which would otherwise be byte for byte the same.
   */
  readonly stampConnection: boolean;
  /** Client processes; undefined sizes it from the fd limit and cores. */
  readonly workers: number | undefined;
  /** Source addresses to spread connections over; undefined picks loopback ones by itself. */
  readonly sourceAddresses: readonly string[] | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly subprotocol: string | undefined;
  /** wss://: accept a certificate that does not verify (self-signed, wrong name). */
  readonly insecure: boolean;
  /** --shard i/N: connections, connect rate and handshakes above are this shard's share (shard.ts). */
  readonly shard: Shard | undefined;
  /** Keep header values in the result's config; by default they are "<redacted>". */
  readonly recordHeaders: boolean;
  /** What the connections do: see BlastPattern. */
  readonly pattern: BlastPattern;
  /** --publishers: of the connections, this many publish (at --rate); the others only listen. */
  readonly publishers: number;
  /** --expect-fanout: deliveries expected per published message; undefined is every other connection. */
  readonly expectFanout: number | undefined;
  /**
   * --scenario: the steps every connection runs (scenario/parse.ts). Its connect section is already
   * in `headers` and `subprotocol`.
   */
  readonly scenario: Scenario | undefined;
  /** --start-at: the ramp begins at this instant (ms since the epoch), every shard's alike. */
  readonly startAt: number | undefined;
  /** --barrier: shard 1 serves it; every shard starts its ramp, and then its run, when all have arrived (blast/barrier.ts). */
  readonly barrier: string | undefined;
  /** --barrier-timeout: the longest a shard waits at one stage of the barrier. Default 5m. */
  readonly barrierTimeoutMs: number;
  /** --metrics-port: Prometheus text at /metrics while the run goes; undefined serves none. */
  readonly metricsPort: number | undefined;
  /** --metrics-host: the address /metrics listens on. Default 0.0.0.0 (a scraper reaches it from elsewhere). */
  readonly metricsHost: string;
  /** --reconnect-jitter: full (true, the default) or none. */
  readonly reconnectJitter: boolean;
  /**
   * --data: each connection's row for {{data.FIELD}} (data/data-file.ts), checked against every
   * placeholder; undefined without it. Connection N (the run's number, {{conn}}) takes row N mod rows.
   */
  readonly data: DataSet | undefined;
  /** --data-unique: refused before the run unless the file has a row for every connection of the run. */
  readonly dataUnique: boolean;
  /** --protocol socketio: namespace, path, event, auth. */
  readonly socketio: SocketIoSettings | undefined;
  /** --protocol graphql-ws: connection_init payload, query, variables. */
  readonly graphql: GraphqlSettings | undefined;
  /**
   * --compress: offer permessage-deflate (RFC 7692) with these parameters; where the server accepts
   * it every message is compressed and every compressed message inflated. undefined: not offered.
   */
  readonly compression: DeflateOffer | undefined;
}

/**
 * What resolveBlastConfig takes: every option of blast-options.ts by its key (the CLI's strings, or
 * numbers through the API), and the target URL.
 */
export type BlastOptions = ConfigValues<typeof BLAST_OPTIONS> & { url?: string };

export { blastDefaults };

export function resolveBlastConfig(options: BlastOptions = {}): BlastConfig {
  const url = options.url === undefined ? undefined : wsUrl(options.url);
  // First: with a scenario, the options below that it decides (payload, size, rate, …) are refused.
  const scenario = options.scenario === undefined ? undefined : resolveScenario(options, options.scenario);
  const binary = Boolean(options.binary);
  const size = readNumber(BLAST.size, options.size);
  const payload = options.payload !== undefined ? readPayload(options.payload, binary) : makePayload(size, binary);
  if (options.pipeline !== undefined && options.rate !== undefined && Number(options.pipeline) !== 1) {
    throw new ConfigError('-p, --pipeline', options.pipeline, 'pipelining is for the closed loop; with --rate every due message is sent anyway');
  }
  const traffic = scenario ? scenario.traffic : resolvePattern(options, size);
  const cliHeaders = parseHeaders(options.header ?? []);
  const headers = Object.freeze(scenario ? withScenarioHeaders(scenario, cliHeaders) : cliHeaders);
  // The subprotocols asked for are the same on every connection: the server's choice is checked
  // against them, so a per-connection value there would fail every upgrade.
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() === 'sec-websocket-protocol' && /\{\{\s*data\./.test(value)) {
      throw new ConfigError('-H, --header', `${name}: ${value}`, 'expected no {{data.FIELD}} in Sec-WebSocket-Protocol: the subprotocols asked for are the same for the whole run (use --subprotocol)');
    }
  }
  const connections = readNumber(BLAST.connections, options.connections);
  const dataUnique = Boolean(options.dataUnique);
  const data = resolveData(options.data, dataUnique, { url, headers, message: traffic.message, subscribe: traffic.subscribe, scenario: scenario?.scenario, others: [['--socketio-auth', options.socketioAuth], ['--graphql-init', options.graphqlInit], ['--graphql-variables', options.graphqlVariables]] }, connections, options.shard !== undefined);
  const protocol = resolveProtocol(options, { url, pattern: traffic.pattern, message: traffic.message, payload, binary, flood: traffic.flood, rate: options.rate, pipeline: options.pipeline, replyId: options.replyId, subscribe: traffic.subscribe, payloadFile: options.payload, size: options.size });
  return Object.freeze(shardLoad(options.shard, {
    ...traffic,
    ...protocol,
    scenario: scenario?.scenario,
    url,
    data,
    dataUnique,
    connections,
    durationMs: readNumber(BLAST.duration, options.duration),
    messages: readOptionalNumber(BLAST.messages, options.messages),
    connectRate: readNumber(BLAST.connectRate, options.connectRate),
    maxHandshakes: readNumber(BLAST.maxHandshakes, options.maxHandshakes),
    connectTimeoutMs: readNumber(BLAST.connectTimeout, options.connectTimeout),
    rate: readOptionalNumber(BLAST.rate, options.rate),
    pipeline: readNumber(BLAST.pipeline, options.pipeline),
    payload,
    stampConnection: options.payload === undefined && payload.length >= STAMP_BYTES,
    binary,
    workers: readOptionalNumber(BLAST.workers, options.workers),
    sourceAddresses: options.sourceIp === undefined ? undefined : parseSourceAddresses(options.sourceIp),
    headers,
    // graphql-ws: the server picks its protocol by the subprotocol asked for.
    subprotocol: subprotocols(options.subprotocol ?? scenario?.connect.subprotocol ?? (protocol.protocol === 'graphql-ws' ? 'graphql-transport-ws' : undefined)),
    insecure: Boolean(options.insecure),
    rampTraffic: Boolean(options.rampTraffic),
    recordHeaders: Boolean(options.recordHeaders),
    startAt: options.startAt === undefined ? undefined : parseStartAt(options.startAt),
    barrier: options.barrier === undefined ? undefined : barrierUrl(options.barrier, options.shard),
    barrierTimeoutMs: readNumber(BLAST.barrierTimeout, options.barrierTimeout),
    metricsPort: readOptionalNumber(BLAST.metricsPort, options.metricsPort),
    metricsHost: readAddress(BLAST.metricsHost, options.metricsHost),
    ...churnAndReconnect(options),
    compression: compressionOffer(options, traffic),
    maxPayloadBytes: readNumber(BLAST.maxPayload, options.maxPayload),
  }));
}

/**
 * --compress and the parameters it offers, which mean nothing without it. Refused with the
 * patterns that fill each socket as it drains (--flood, --fire-and-forget without --rate): they
 * write batches of frames straight into the socket, past the per-message send that compresses.
 */
function compressionOffer(options: BlastOptions, traffic: Pick<BlastConfig, 'pattern' | 'flood'>): DeflateOffer | undefined {
  const flags = [
    ['compressClientNoContextTakeover', '--compress-client-no-context-takeover'],
    ['compressServerNoContextTakeover', '--compress-server-no-context-takeover'],
    ['compressWindowBits', '--compress-window-bits'],
  ] as const;
  if (!options.compress) {
    for (const [key, flag] of flags) if (options[key] !== undefined && options[key] !== false) throw new ConfigError(flag, options[key], 'it is for --compress');
    return undefined;
  }
  if (traffic.pattern === 'fire' && options.rate === undefined) {
    throw new ConfigError('--compress', true, `it cannot be combined with ${traffic.flood ? '--flood' : '--fire-and-forget without --rate'} (a flood writes its frames in batches straight into each socket, uncompressed); give --rate`);
  }
  return Object.freeze({
    clientNoContextTakeover: Boolean(options.compressClientNoContextTakeover),
    serverNoContextTakeover: Boolean(options.compressServerNoContextTakeover),
    windowBits: readOptionalNumber(BLAST.compressWindowBits, options.compressWindowBits),
  });
}

type ChurnOptions = Pick<BlastConfig, 'lifetimeMs' | 'lifetimeJitter' | 'reconnect' | 'reconnectMinMs' | 'reconnectMaxMs' | 'reconnectJitter'>;

/** --lifetime and --reconnect, and the options that only mean something with them. */
function churnAndReconnect(options: BlastOptions): ChurnOptions {
  const lifetimeMs = readOptionalNumber(BLAST.lifetime, options.lifetime);
  if (lifetimeMs !== undefined && options.messages !== undefined) {
    throw new ConfigError('--lifetime', options.lifetime, 'it cannot be combined with --messages: a replacement would start its quota again, and the run would never be done');
  }
  if (lifetimeMs !== undefined && options.scenario !== undefined) {
    throw new ConfigError('--lifetime', options.lifetime, "it cannot be combined with --scenario: a lifetime ending mid-scenario would count its expect as unanswered; put a close in the scenario's steps instead");
  }
  if (options.lifetimeJitter !== undefined && lifetimeMs === undefined) throw new ConfigError('--lifetime-jitter', options.lifetimeJitter, 'it is for --lifetime');
  const jitterText = String(options.lifetimeJitter ?? blastDefaults.lifetimeJitter).trim();
  const jitter = jitterText.endsWith('%') ? parsePercent(jitterText) / 100 : Number(jitterText);
  if (!(jitter >= 0 && jitter < 1)) throw new ConfigError('--lifetime-jitter', options.lifetimeJitter, 'expected a share from 0 to under 1, such as 0.1 or 10%');
  const reconnect = Boolean(options.reconnect);
  for (const [key, flag] of [['reconnectMin', '--reconnect-min'], ['reconnectMax', '--reconnect-max'], ['reconnectJitter', '--reconnect-jitter']] as const) {
    if (options[key] !== undefined && !reconnect) throw new ConfigError(flag, options[key], 'it is for --reconnect');
  }
  const reconnectMinMs = readNumber(BLAST.reconnectMin, options.reconnectMin);
  const reconnectMaxMs = readNumber(BLAST.reconnectMax, options.reconnectMax);
  if (reconnectMaxMs < reconnectMinMs) throw new ConfigError('--reconnect-max', options.reconnectMax, `expected at least --reconnect-min (${reconnectMinMs} ms)`);
  const reconnectJitter = readChoice(BLAST.reconnectJitter, options.reconnectJitter) === 'full';
  return { lifetimeMs, lifetimeJitter: jitter, reconnect, reconnectMinMs, reconnectMaxMs, reconnectJitter };
}

/** The furthest ahead --start-at may be: further is more likely a slip (ms for s) than a plan. */
const START_AT_HORIZON_MS = 24 * 3600_000;

/**
 * --start-at: an RFC 3339 time with its offset (2026-12-05T18:00:00Z, …+01:00) or Unix seconds
 * (1796493600, decimals allowed). At most a day ahead; a time that has passed starts at once (the
 * run says how late it began).
 */
export function parseStartAt(value: string | number): number {
  const text = String(value).trim();
  let at = Number.NaN;
  if (/^\d{9,11}(\.\d+)?$/.test(text)) at = Number(text) * 1000;
  else if (/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(text)) at = Date.parse(text.replace(' ', 'T'));
  if (!Number.isFinite(at)) throw new ConfigError('--start-at', value, 'expected an RFC 3339 time with its offset (2026-12-05T18:00:00Z) or Unix seconds (1796493600)');
  if (at > Date.now() + START_AT_HORIZON_MS) throw new ConfigError('--start-at', value, 'expected a time at most 24 hours from now');
  return Math.round(at);
}

/** --barrier: an http:// URL, and only with --shard (shard 1 serves it; the others need N). */
function barrierUrl(text: string, shard: string | undefined): string {
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    throw new ConfigError('--barrier', text, 'expected an http:// URL such as http://wsbench-blast-0.wsbench-barrier:7070');
  }
  if (parsed.protocol !== 'http:' || parsed.hostname === '') throw new ConfigError('--barrier', text, 'expected an http:// URL with a host, such as http://wsbench-blast-0.wsbench-barrier:7070');
  if (parsed.port === '0') throw new ConfigError('--barrier', text, 'expected a port from 1 to 65535: shard 1 listens on it');
  if (parsed.pathname !== '/' || parsed.search !== '') throw new ConfigError('--barrier', text, 'expected http://HOST:PORT with no path: shard 1 serves the barrier at its own paths');
  if (shard === undefined) throw new ConfigError('--barrier', text, 'it needs --shard i/N: shard 1 serves the barrier, and it releases the shards when all N have arrived');
  return parsed.href;
}

type Traffic = Pick<BlastConfig, 'pattern' | 'message' | 'replyId' | 'subscribe' | 'publishers' | 'expectFanout' | 'flood'>;

/** What a scenario's steps decide, and so cannot be given with --scenario. */
const SCENARIO_CONFLICTS: ReadonlyArray<readonly [keyof BlastOptions, string]> = [
  ['message', '--message'],
  ['replyId', '--reply-id'],
  ['subscribe', '--subscribe'],
  ['publishers', '--publishers'],
  ['expectFanout', '--expect-fanout'],
  ['fireAndForget', '--fire-and-forget'],
  ['flood', '--flood'],
  ['pipeline', '-p, --pipeline'],
  ['rate', '--rate'],
  ['messages', '--messages'],
  ['payload', '--payload'],
  ['size', '-s, --size'],
];

/** --scenario: no other traffic option, then the file, read and checked whole. */
function resolveScenario(options: BlastOptions, file: string): { traffic: Traffic; scenario: Scenario; connect: ScenarioConnect } {
  for (const [key, flag] of SCENARIO_CONFLICTS) {
    const value = options[key];
    if (value !== undefined && value !== false) {
      throw new ConfigError(flag, value, "it cannot be combined with --scenario: the scenario's steps say what each connection sends, how many and when");
    }
  }
  const { scenario, connect } = readScenarioFile(file);
  const traffic: Traffic = { pattern: 'scenario', message: undefined, replyId: undefined, subscribe: undefined, publishers: 0, expectFanout: undefined, flood: false };
  return { traffic, scenario, connect };
}

/** The scenario's connect headers under the -H ones: an -H header of the same name (any case) wins. */
function withScenarioHeaders(resolved: { scenario: Scenario; connect: ScenarioConnect }, cliHeaders: Record<string, string>): Record<string, string> {
  const given = new Set(Object.keys(cliHeaders).map((name) => name.toLowerCase()));
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(resolved.connect.headers)) {
    if (!given.has(name.toLowerCase())) addHeader(headers, name, value.trim(), `--scenario ${resolved.scenario.file} connect.headers.${name}`, value, 'expected a header name (letters, digits, -) and a value on one line');
  }
  return { ...headers, ...cliHeaders };
}

/** The traffic pattern and its options, checked together: each conflict is named. */
function resolvePattern(options: BlastOptions, size: number): Traffic {
  const chosen = [
    options.replyId !== undefined && '--reply-id',
    (options.subscribe !== undefined || options.publishers !== undefined) && (options.subscribe !== undefined ? '--subscribe' : '--publishers'),
    options.fireAndForget && '--fire-and-forget',
    options.flood && '--flood',
  ].filter((name): name is string => Boolean(name));
  if (chosen.length > 1) throw new ConfigError(chosen[1]!, true, `it cannot be combined with ${chosen[0]}: choose one traffic pattern`);
  if (options.message !== undefined && options.payload !== undefined) throw new ConfigError('--message', options.message, 'it cannot be combined with --payload: choose one');
  const closedLoopOnly = (option: string) => {
    if (options.pipeline !== undefined && Number(options.pipeline) !== 1) throw new ConfigError('-p, --pipeline', options.pipeline, `pipelining is for echo and --reply-id, not ${option}`);
  };
  let message = options.message === undefined ? undefined : readTemplate('--message', options.message);
  if (message !== undefined) new MessageTemplate(message, '--message');
  const flood = Boolean(options.flood);
  if (flood) {
    closedLoopOnly('--flood');
    if (options.rate !== undefined) throw new ConfigError('--rate', options.rate, '--flood sends as fast as each socket drains; use --fire-and-forget for a paced send');
    message ??= timestampedMessage(size);
    if (!new MessageTemplate(message, '--message').carriesTimestamp) throw new ConfigError('--message', message, 'with --flood the message must carry {{now_us}}: each echo is timed from it');
    return { pattern: 'fire', message, replyId: undefined, subscribe: undefined, publishers: 0, expectFanout: undefined, flood };
  }
  if (options.fireAndForget) {
    closedLoopOnly('--fire-and-forget');
    return { pattern: 'fire', message, replyId: undefined, subscribe: undefined, publishers: 0, expectFanout: undefined, flood };
  }
  if (options.replyId !== undefined) {
    const extract = compileIdExtractor(options.replyId);
    if (message === undefined) throw new ConfigError('--reply-id', options.replyId, 'expected --message too: the request to send, with its id (e.g. {"id":{{seq}},"method":"ping"})');
    const template = new MessageTemplate(message, '--message');
    const first = extract(template.render({ seq: 1, conn: 0, worker: 0 }));
    if (first === undefined) throw new ConfigError('--reply-id', options.replyId, `expected it to find an id in the --message request (${JSON.stringify(message)})`);
    if (first === extract(template.render({ seq: 2, conn: 0, worker: 0 })) && (Number(options.pipeline ?? 1) > 1 || options.rate !== undefined)) {
      throw new ConfigError('--message', message, 'with -p or --rate each request needs an id of its own: put {{seq}} or {{uuid}} in it');
    }
    return { pattern: 'reply', message, replyId: options.replyId, subscribe: undefined, publishers: 0, expectFanout: undefined, flood };
  }
  if (options.subscribe !== undefined || options.publishers !== undefined) {
    closedLoopOnly('--subscribe and --publishers');
    const subscribe = options.subscribe === undefined ? undefined : readTemplate('--subscribe', options.subscribe);
    if (subscribe !== undefined) new MessageTemplate(subscribe, '--subscribe');
    const publishers = readNumber(BLAST.publishers, options.publishers);
    if (publishers > 0) message ??= timestampedMessage(size);
    if (publishers > 0 && !new MessageTemplate(message!, '--message').carriesTimestamp) {
      throw new ConfigError('--message', message!, 'with --publishers the message must carry {{now_us}}: each delivery is timed from it');
    }
    const connections = Number(options.connections ?? blastDefaults.connections);
    if (publishers > connections) throw new ConfigError('--publishers', options.publishers, `expected at most -c (${connections}) publishers`);
    const expectFanout = readOptionalNumber(BLAST.expectFanout, options.expectFanout);
    return { pattern: 'subscribe', message, replyId: undefined, subscribe, publishers, expectFanout, flood };
  }
  if (options.expectFanout !== undefined) throw new ConfigError('--expect-fanout', options.expectFanout, 'it is for --subscribe or --publishers');
  return { pattern: 'echo', message, replyId: undefined, subscribe: undefined, publishers: 0, expectFanout: undefined, flood };
}

/** `@file` reads the template from a file; anything else is the template itself. */
function readTemplate(option: string, value: string): string {
  if (!value.startsWith('@')) return value;
  try {
    return readFileSync(value.slice(1), 'utf8');
  } catch (error) {
    throw new ConfigError(option, value, `expected text or @file with a readable file (${(error as NodeJS.ErrnoException).code})`);
  }
}

/**
 * The default message when latency travels in the payload: JSON with the send time, the sender and
 * its sequence number, padded so that it is never longer than --size when that is larger than the
 * message itself: the numbers' digits vary, so the padding leaves room for their longest, and a
 * message is up to a few dozen bytes shorter than --size (never longer: --size is often a server's
 * limit, such as serve's --max-payload).
 */
function timestampedMessage(size: number): string {
  const core = '{"ts":{{now_us}},"conn":{{conn}},"seq":{{seq}},"pad":""}';
  const longest = new MessageTemplate(core, '--message').maxBytes;
  const pad = Math.max(0, size - longest);
  return core.replace('"pad":""', `"pad":"${'x'.repeat(pad)}"`);
}

/**
 * The target URL, normalised. {{data.FIELD}} may stand in its path and query (rendered per
 * connection: blast/load-generator.ts), and stays in the URL returned as it was written.
 */
function wsUrl(text: string): string {
  const { marked, fields, unmark } = markDataPlaceholders(text);
  const parsed = parseWsUrl(marked, text);
  const elsewhere = `${parsed.protocol}//${parsed.username}:${parsed.password}@${parsed.host}${parsed.hash}`;
  if (fields.length > 0 && /__wsbench_data_\d+__/.test(elsewhere)) throw new ConfigError('url', text, '{{data.FIELD}} may stand only in the path and the query');
  return unmark(parsed.href);
}

function parseWsUrl(text: string, given: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    throw new ConfigError('url', given, 'expected a WebSocket URL such as ws://127.0.0.1:8000/ws');
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
    throw new ConfigError('url', given, 'expected a ws:// or wss:// URL');
  }
  // WHATWG URL reads ws:///ws as the host "ws": a missing host is the user's slip, not a host name.
  if (/^wss?:\/\/(?:[^@/?#]*@)?[/?#]/i.test(text.trim())) throw new ConfigError('url', given, 'expected a host: ws://HOST[:PORT]/path');
  if (parsed.port === '0') throw new ConfigError('url', given, 'expected a port from 1 to 65535 (0 is no port to connect to)');
  return parsed;
}

/**
 * --subprotocol: one protocol name or a comma-separated list, each an HTTP token (RFC 6455 4.1,
 * RFC 7230 3.2.6): a name with a space or a separator would be refused by every server (400).
 */
function subprotocols(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const names = value.split(',').map((name) => name.trim());
  const bad = names.find((name) => !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name));
  if (bad !== undefined) throw new ConfigError('--subprotocol', value, `expected protocol names made of letters, digits and !#$%&'*+-.^_\`|~, separated by commas (${JSON.stringify(bad)} is not one)`);
  return names.join(', ');
}

/** The connection's number at the head of the default payload: 8 hex digits. */
export const STAMP_BYTES = 8;

/** A payload that is valid UTF-8 text and recognisable in a capture. */
function makePayload(size: number, binary: boolean): Buffer {
  const payload = Buffer.alloc(size);
  for (let i = 0; i < size; i++) payload[i] = binary ? (i * 31 + 7) & 0xff : 0x61 + (i % 26);
  return payload;
}

function readPayload(file: string, binary: boolean): Buffer {
  let payload: Buffer;
  try {
    payload = readFileSync(file);
  } catch (error) {
    throw new ConfigError('--payload', file, `expected a readable file (${(error as NodeJS.ErrnoException).code})`);
  }
  // Sent as text, bytes that are not UTF-8 make every server that checks (as RFC 6455 asks) close with 1007.
  if (!binary && !isUtf8(payload)) throw new ConfigError('--payload', file, 'expected UTF-8 text, or --binary to send it as binary frames');
  return payload;
}

/** `127.0.0.2,127.0.0.3` or a range `127.0.0.2-127.0.0.40` (IPv4), or both mixed by commas. */
export function parseSourceAddresses(text: string): string[] {
  const addresses: string[] = [];
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [from, to] = part.split('-');
    if (to === undefined) {
      if (!isIp(from!)) throw new ConfigError('--source-ip', text, 'expected IP addresses separated by commas, or a range a.b.c.d-a.b.c.e');
      addresses.push(from!);
      continue;
    }
    const start = ipv4ToNumber(from!);
    const end = ipv4ToNumber(to);
    if (start === undefined || end === undefined || end < start || end - start > 65_535) {
      throw new ConfigError('--source-ip', text, 'expected a range a.b.c.d-a.b.c.e of at most 65536 IPv4 addresses, low to high');
    }
    for (let n = start; n <= end; n++) addresses.push(numberToIpv4(n));
  }
  if (addresses.length === 0) throw new ConfigError('--source-ip', text, 'expected at least one address');
  return addresses;
}

function isIp(text: string): boolean {
  return isIP(text) !== 0;
}

export function ipv4ToNumber(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = value * 256 + Number(part);
  }
  return value;
}

export function numberToIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

function parseHeaders(lines: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ConfigError('-H, --header', line, "expected 'name: value'");
    addHeader(headers, line.slice(0, colon).trim(), line.slice(colon + 1).trim(), '-H, --header', line, "expected 'name: value'");
  }
  return headers;
}

/** A header whose name is an HTTP token and whose value is one line; else a ConfigError showing `given`. */
function addHeader(headers: Record<string, string>, name: string, value: string, option: string, given: string, allowed: string): void {
  if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/i.test(name) || /[\r\n]/.test(name + value)) throw new ConfigError(option, given, allowed);
  headers[name] = value;
}
