/**
 * blast's options, once: flags, kind, default, range and help (option-table.ts). `wsbench blast`
 * adds them to commander in this order (then the gate's and --report: cli/gate-options.ts,
 * cli/report-options.ts), BlastOptions is derived from them, blastDefaults are theirs,
 * and resolveBlastConfig reads the plain values through them. The README's blast table is held to
 * this one by test/readme-options.test.ts.
 */
import { DEFAULT_MAX_MESSAGE_BYTES } from '../protocol/frame-codec.js';
import { byKey, defaultsOf, type OptionSpec } from './option-table.js';

export const BLAST_OPTIONS = [
  { flags: '-c, --connections <count>', kind: 'count', default: 100, min: 1, max: 10_000_000, help: 'concurrent connections, e.g. 50k' },
  { flags: '-d, --duration <duration>', kind: 'duration', default: 10_000, min: 0, config: 'durationMs', help: 'the run: send for this long once every connection is attempted, e.g. 30s' },
  { flags: '--ramp-traffic', kind: 'boolean', defaultText: 'traffic starts with the run', plan: true, help: 'send from the moment each connection opens, during the ramp too' },
  { flags: '--messages <count>', kind: 'count', min: 1, plan: true, help: 'messages per connection; the run ends when all are echoed (or at --duration)' },
  { flags: '--connect-rate <rate>', kind: 'rate', default: 0, defaultText: 'no pacing', help: 'new connections per second over all processes' },
  { flags: '--max-handshakes <count>', kind: 'count', default: 1000, min: 1, max: 1_000_000, help: 'handshakes in flight at once' },
  { flags: '--connect-timeout <duration>', kind: 'duration', default: 5000, min: 1, config: 'connectTimeoutMs', plan: true, help: 'a connection without its 101 by then fails' },
  { flags: '--rate <rate>', kind: 'rate', defaultText: 'closed loop', plan: true, help: 'messages per second per connection, paced open loop; 0 holds idle' },
  { flags: '-p, --pipeline <count>', kind: 'count', default: 1, min: 1, max: 4096, plan: true, help: 'closed loop: messages in flight per connection, like autocannon -p' },
  { flags: '-s, --size <size>', kind: 'size', default: 64, min: 0, max: 64 * 1024 * 1024, errorName: '--size', config: 'sizeBytes', help: 'message payload size, e.g. 64 or 4kb' },
  { flags: '--payload <file>', kind: 'file', help: 'send this file as every message instead of a generated payload' },
  { flags: '--binary', kind: 'boolean', defaultText: 'text', plan: true, help: 'send binary frames' },
  { flags: '--message <text|@file>', kind: 'text', plan: true, help: 'send this message template instead of a payload; placeholders {{seq}} {{conn}} {{worker}} {{now_us}} {{uuid}} {{random:N}} {{data.FIELD}} (--data)' },
  { flags: '--reply-id <path>', kind: 'text', plan: true, help: 'request/response: pair each reply with its request by this id (a JSON field such as id or result.id, or /regex/ with one group); needs --message' },
  { flags: '--subscribe <text|@file>', kind: 'text', plan: true, help: 'send this once on each connection after the upgrade, then listen: every message received is a delivery' },
  { flags: '--publishers <count>', kind: 'count', default: 0, min: 0, max: 10_000_000, help: 'of the connections, this many publish --message at --rate (default 1/s) and the rest listen; delivery latency from its {{now_us}}' },
  { flags: '--expect-fanout <count>', kind: 'count', min: 0, max: 10_000_000, defaultText: 'every other connection', help: 'deliveries expected per published message' },
  { flags: '--fire-and-forget', kind: 'boolean', help: 'send at --rate (or as fast as each socket drains) and wait for nothing: counts and bytes both ways, no latency' },
  { flags: '--flood', kind: 'boolean', plan: true, help: 'keep every socket full, and time each echo from the {{now_us}} it carries (tcpkali-style latency markers)' },
  { flags: '--scenario <file>', kind: 'file', help: 'each connection runs the steps of this YAML or JSON file: send, expect (match, timeout), sleep, loop; see examples/' },
  { flags: '--data <file>', kind: 'file', help: 'per-connection data: a .csv (header row) or .jsonl file; connection N takes row N (going round when rows are fewer), its fields as {{data.FIELD}} in the URL, -H values, --message, --subscribe and scenario steps' },
  { flags: '--data-unique', kind: 'boolean', help: 'with --data: refuse to start unless the file has a row for every connection of the run (all shards together)' },
  { flags: '--protocol <name>', kind: 'enum', values: ['ws', 'socketio', 'graphql-ws'], default: 'ws', plan: true, help: 'ws, socketio or graphql-ws: what runs on the WebSocket: plain messages (ws), Socket.IO v4 (WebSocket transport only) or graphql-transport-ws' },
  { flags: '--namespace <nsp>', kind: 'text', defaultText: "the URL's path, else /", help: 'socketio: the namespace to connect to' },
  { flags: '--socketio-path <path>', kind: 'path', default: '/socket.io/', help: "socketio: the Engine.IO path, the client's `path` option" },
  { flags: '--event <name>', kind: 'text', default: 'message', help: 'socketio: the event each emit names; --message gives its arguments (a JSON array, or one JSON value)' },
  { flags: '--socketio-auth <json>', kind: 'json', help: "socketio: the namespace connect's auth payload, a JSON object template" },
  { flags: '--graphql-query <file>', kind: 'file', help: 'graphql-ws: the GraphQL document each subscribe sends' },
  { flags: '--graphql-variables <json>', kind: 'json', help: "graphql-ws: the operation's variables, a JSON object template" },
  { flags: '--graphql-operation <name>', kind: 'text', help: 'graphql-ws: the operationName, for a document with several operations' },
  { flags: '--graphql-init <json>', kind: 'json', help: "graphql-ws: connection_init's payload, a JSON object template" },
  { flags: '--lifetime <duration>', kind: 'duration', min: 100, config: 'lifetimeMs', plan: true, help: 'churn: during the run, close each connection (1000) after this long and open a new one in its place; concurrency holds while -c/lifetime connect each second' },
  { flags: '--lifetime-jitter <share>', kind: 'share', default: 0.1, plan: true, help: 'lifetimes vary uniformly by ± this share, e.g. 0.1 or 10%' },
  { flags: '--reconnect', kind: 'boolean', plan: true, help: 'open a connection the server drops again, with exponential backoff; counts reconnects and the time back, and summarises a storm' },
  { flags: '--reconnect-min <duration>', kind: 'duration', default: 100, min: 1, config: 'reconnectMinMs', plan: true, help: 'the shortest wait before a reconnect attempt' },
  { flags: '--reconnect-max <duration>', kind: 'duration', default: 10_000, min: 1, config: 'reconnectMaxMs', plan: true, help: 'the longest wait between attempts' },
  { flags: '--reconnect-jitter <full|none>', kind: 'enum', values: ['full', 'none'], default: 'full', help: 'full: each wait uniform between --reconnect-min and the doubling ceiling; none: the ceiling itself, every client alike' },
  { flags: '--own-server', kind: 'boolean', cli: true, help: 'without a URL: start a server of its own even when a wsbench serve runs at ws://127.0.0.1:8000/ws' },
  { flags: '-w, --workers <count>', kind: 'count', min: 1, max: 256, errorName: '--workers', defaultText: 'from the open-file limit and cores', help: 'client processes' },
  { flags: '--source-ip <list>', kind: 'list', defaultText: 'picked in 127.0.0.0/8 for loopback targets', help: 'source addresses: a,b,c or a range a.b.c.d-a.b.c.e' },
  { flags: '-H, --header <header>', kind: 'text', repeatable: true, help: "extra upgrade header 'name: value' (repeatable)" },
  { flags: '--subprotocol <protocol>', kind: 'text', help: 'Sec-WebSocket-Protocol to ask for' },
  { flags: '--max-payload <size>', kind: 'size', default: DEFAULT_MAX_MESSAGE_BYTES, min: 1, max: 1024 ** 3, config: 'maxPayloadBytes', plan: true, help: 'largest message taken from the server, inflated or not; larger closes with 1009' },
  { flags: '--compress', kind: 'boolean', help: 'offer permessage-deflate (RFC 7692); where the server accepts it, every message is compressed and inflated' },
  { flags: '--compress-client-no-context-takeover', kind: 'boolean', help: 'with --compress: reset our compression context after every message (offered as client_no_context_takeover)' },
  { flags: '--compress-server-no-context-takeover', kind: 'boolean', help: 'with --compress: ask the server to reset its context after every message (server_no_context_takeover)' },
  { flags: '--compress-window-bits <bits>', kind: 'count', default: 15, min: 8, max: 15, help: 'with --compress: offer LZ77 windows of 2^bits for both sides, 8-15 (server_max_window_bits and client_max_window_bits)' },
  { flags: '--insecure', kind: 'boolean', help: 'wss://: accept a server certificate that does not verify (self-signed, another name)' },
  { flags: '--record-headers', kind: 'boolean', help: 'keep -H header values in the result (by default they are written as "<redacted>")' },
  { flags: '--shard <i/N>', kind: 'text', help: 'run the i-th of N exact shares of the load (connections, connect rate); wsbench merge adds them up' },
  { flags: '--barrier <url>', kind: 'url', help: 'with --shard: start together. Shard 1 serves this http:// URL (its port, every interface); each shard opens its connections when all N have arrived, and starts its run when all N ramps are done' },
  { flags: '--barrier-timeout <duration>', kind: 'duration', default: 5 * 60_000, min: 1000, config: 'barrierTimeoutMs', help: 'the longest a shard waits at the barrier before it fails, exit 1' },
  { flags: '--start-at <time>', kind: 'time', help: 'open the first connection at this time: RFC 3339 (2026-12-05T18:00:00Z) or Unix seconds; shards given one time start their ramps together' },
  { flags: '--metrics-port <port>', kind: 'port', min: 0, max: 65_535, help: 'serve Prometheus text at /metrics on this port while the run goes (labelled with the shard)' },
  { flags: '--metrics-host <address>', kind: 'address', default: '0.0.0.0', help: 'the address /metrics listens on' },
  { flags: '-q, --quiet', kind: 'boolean', cli: true, help: 'no progress on stderr' },
  { flags: '--json', kind: 'boolean', cli: true, help: 'print the result as one JSON document on stdout (implies --quiet)' },
  { flags: '-o, --out <file>', kind: 'file', cli: true, defaultText: 'results/blast-<time>-<pid>.json', help: 'write the JSON result here' },
  { flags: '--no-save', kind: 'boolean', cli: true, help: 'do not write a results file' },
] as const satisfies readonly OptionSpec[];

/** Each of blast's options by key (BLAST.connections). */
export const BLAST = byKey(BLAST_OPTIONS);

/** The defaults, by config field: connections, durationMs, sizeBytes, maxPayloadBytes, … */
export const blastDefaults = defaultsOf(BLAST_OPTIONS);
