/**
 * serve's options, once: flags, kind, default, range and help (option-table.ts). `wsbench serve`
 * adds them to commander in this order, ServeOptions is derived from them, serveDefaults are theirs,
 * and resolveServeConfig reads the plain values through them. The README's serve table is held to
 * this one by test/readme-options.test.ts.
 */
import { byKey, defaultsOf, type OptionSpec } from './option-table.js';

export const SERVE_OPTIONS = [
  { flags: '--host <address>', kind: 'address', default: '127.0.0.1', help: 'address to listen on' },
  { flags: '-p, --port <port>', kind: 'port', default: 8000, min: 0, max: 65535, errorName: '--port', help: 'TCP port, 0 for any free one' },
  { flags: '--path <path>', kind: 'path', default: '/ws', help: 'WebSocket endpoint; other paths get 404' },
  { flags: '-m, --max <count>', kind: 'count', default: 10_000, min: 1, max: 10_000_000, errorName: '--max', help: 'cap on open WebSocket connections, e.g. 10k' },
  { flags: '-w, --workers <count>', kind: 'count', min: 1, max: 256, errorName: '--workers', defaultText: 'all cores, more if --max needs them', help: 'worker processes' },
  { flags: '--overflow <mode>', kind: 'enum', values: ['reject', 'queue'], default: 'reject', help: 'beyond the cap: reject (503 at once) or queue (wait for a slot)' },
  { flags: '--queue-timeout <duration>', kind: 'duration', default: 5000, min: 1, config: 'queueTimeoutMs', help: 'queue mode: longest wait for a slot before 503' },
  { flags: '--max-payload <size>', kind: 'size', default: 1024 * 1024, min: 1, max: 1024 ** 3, config: 'maxPayloadBytes', help: 'largest message; larger closes with 1009' },
  { flags: '--handshake-timeout <duration>', kind: 'duration', default: 5000, min: 10, config: 'handshakeTimeoutMs', help: 'close TCP connections that do not upgrade in time' },
  { flags: '--heartbeat <duration>', kind: 'duration', default: 30_000, min: 100, config: 'heartbeatMs', help: 'ping interval that finds dead peers, 0 to disable' },
  { flags: '--drain-timeout <duration>', kind: 'duration', default: 5000, min: 0, config: 'drainTimeoutMs', help: 'on SIGINT/SIGTERM, time given to close connections' },
  { flags: '--mode <mode>', kind: 'enum', values: ['echo', 'reply', 'broadcast'], default: 'echo', help: "echo (each message back), reply (JSON answer with the request's id) or broadcast (to the rest of its room)" },
  { flags: '--rooms <count>', kind: 'count', default: 1, min: 1, max: 100_000, help: 'broadcast: rooms; a connection joins by ?room=<r> on its URL, a {"room":r} message, or else round robin' },
  { flags: '--subscriber-buffer <size>', kind: 'size', default: 1024 * 1024, min: 1024, max: 1024 ** 3, config: 'subscriberBufferBytes', help: 'broadcast: a subscriber with more unsent is closed with 1008' },
  { flags: '--compress', kind: 'boolean', help: 'accept permessage-deflate (RFC 7692) when a client offers it; echoes are compressed' },
  { flags: '--compress-server-no-context-takeover', kind: 'boolean', help: 'with --compress: reset our compression context after every message (less memory per connection)' },
  { flags: '--compress-client-no-context-takeover', kind: 'boolean', help: 'with --compress: ask every client to reset its context after every message' },
  { flags: '--tls-cert <file>', kind: 'file', help: 'serve wss://: PEM certificate (chain); with --tls-key' },
  { flags: '--tls-key <file>', kind: 'file', help: 'serve wss://: PEM private key; with --tls-cert' },
  { flags: '-q, --quiet', kind: 'boolean', cli: true, help: 'no status lines on stderr' },
  { flags: '--json', kind: 'boolean', cli: true, help: 'print the totals as JSON on stdout (implies --quiet)' },
] as const satisfies readonly OptionSpec[];

/** Each of serve's options by key (SERVE.max). */
export const SERVE = byKey(SERVE_OPTIONS);

/** The defaults, by config field: host, port, max, queueTimeoutMs, maxPayloadBytes, … */
export const serveDefaults = defaultsOf(SERVE_OPTIONS);
