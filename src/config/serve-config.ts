/**
 * The serve configuration: every option once, with its type, default and meaning. The CLI and the
 * API both go through resolveServeConfig, so they agree on defaults and on what is refused.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { DeflateServerPolicy } from '../protocol/permessage-deflate.js';
import { ConfigError } from './errors.js';
import { durationMs, host, integer, oneOf, sizeBytes, urlPath } from './validate.js';

export type Overflow = 'reject' | 'queue';
/** What serve does with a message: echo it, answer it by id (JSON), or send it to its room. */
export type ServeMode = 'echo' | 'reply' | 'broadcast';
export const SERVE_MODES: readonly ServeMode[] = ['echo', 'reply', 'broadcast'];

export interface ServeConfig {
  /** Address to listen on. Default 127.0.0.1. */
  readonly host: string;
  /** TCP port; 0 picks a free one. Default 8000. */
  readonly port: number;
  /** The WebSocket endpoint; upgrades elsewhere get 404. Default /ws. */
  readonly path: string;
  /** Hard, global cap on open WebSocket connections. Default 10000. */
  readonly max: number;
  /** Worker processes behind the port; undefined sizes it from cores and the fd limit. */
  readonly workers: number | undefined;
  /** What an upgrade beyond the cap gets: 503 at once, or a FIFO wait for a slot. Default reject. */
  readonly overflow: Overflow;
  /** Queue mode: how long an upgrade waits for a slot before its 503. Default 5s. */
  readonly queueTimeoutMs: number;
  /** Largest message accepted; a larger one closes its connection with 1009. Default 1 MiB. */
  readonly maxPayloadBytes: number;
  /** A TCP connection that has not finished its upgrade by then is closed. Default 5s. */
  readonly handshakeTimeoutMs: number;
  /** Ping interval; a peer that misses a pong for one interval is terminated. 0 disables. Default 30s. */
  readonly heartbeatMs: number;
  /** On SIGINT/SIGTERM: how long closing connections may take before they are cut. Default 5s. */
  readonly drainTimeoutMs: number;
  /** echo: each message back to its sender; reply: a JSON answer with the request's id; broadcast: to every other member of its room. Default echo. */
  readonly mode: ServeMode;
  /** Broadcast: rooms 0..rooms-1; a connection is in one at a time. 1 unless mode is broadcast. Default 1. */
  readonly rooms: number;
  /** Broadcast: unsent bytes a subscriber may have queued before it is closed with 1008. Default 1 MiB. */
  readonly subscriberBufferBytes: number;
  /**
   * permessage-deflate (RFC 7692): accepted when a client offers it (undefined: declined, as
   * without --compress). The takeover choices are imposed on every connection that negotiates it.
   */
  readonly compression: DeflateServerPolicy | undefined;
  /** wss://: the certificate chain and private key (PEM text, read from --tls-cert and --tls-key). */
  readonly tls: { readonly cert: string; readonly key: string } | undefined;
}

export interface ServeOptions {
  host?: string;
  port?: string | number;
  path?: string;
  max?: string | number;
  workers?: string | number;
  overflow?: string;
  queueTimeout?: string | number;
  maxPayload?: string | number;
  handshakeTimeout?: string | number;
  heartbeat?: string | number;
  drainTimeout?: string | number;
  mode?: string;
  rooms?: string | number;
  subscriberBuffer?: string | number;
  /** permessage-deflate: accept it, and what to impose on the contexts. */
  compress?: boolean;
  compressServerNoContextTakeover?: boolean;
  compressClientNoContextTakeover?: boolean;
  /** PEM files; both or neither. */
  tlsCert?: string;
  tlsKey?: string;
}

export const serveDefaults = {
  host: '127.0.0.1',
  port: 8000,
  path: '/ws',
  max: 10_000,
  overflow: 'reject',
  queueTimeoutMs: 5000,
  maxPayloadBytes: 1024 * 1024,
  handshakeTimeoutMs: 5000,
  heartbeatMs: 30_000,
  drainTimeoutMs: 5000,
  mode: 'echo',
  rooms: 1,
  subscriberBufferBytes: 1024 * 1024,
} as const;

export function resolveServeConfig(options: ServeOptions = {}): ServeConfig {
  const heartbeatMs = options.heartbeat === undefined || options.heartbeat === 0 || options.heartbeat === '0'
    ? (options.heartbeat === undefined ? serveDefaults.heartbeatMs : 0)
    : durationMs('--heartbeat', options.heartbeat, serveDefaults.heartbeatMs, 100);
  return Object.freeze({
    host: host('--host', options.host, serveDefaults.host),
    port: integer('--port', options.port, serveDefaults.port, 0, 65535),
    path: urlPath('--path', options.path, serveDefaults.path),
    max: integer('--max', options.max, serveDefaults.max, 1, 10_000_000),
    workers: options.workers === undefined ? undefined : integer('--workers', options.workers, 1, 1, 256),
    overflow: oneOf<Overflow>('--overflow', options.overflow, serveDefaults.overflow, ['reject', 'queue']),
    queueTimeoutMs: durationMs('--queue-timeout', options.queueTimeout, serveDefaults.queueTimeoutMs, 1),
    maxPayloadBytes: sizeBytes('--max-payload', options.maxPayload, serveDefaults.maxPayloadBytes, 1, 1024 ** 3),
    handshakeTimeoutMs: durationMs('--handshake-timeout', options.handshakeTimeout, serveDefaults.handshakeTimeoutMs, 10),
    heartbeatMs,
    drainTimeoutMs: durationMs('--drain-timeout', options.drainTimeout, serveDefaults.drainTimeoutMs, 0),
    ...modeOptions(options),
    compression: compressionPolicy(options),
    tls: tlsFiles(options.tlsCert, options.tlsKey),
  });
}

/** Rooms and the subscriber bound mean something only to broadcast: asking for them elsewhere is a mistake. */
function modeOptions(options: ServeOptions): Pick<ServeConfig, 'mode' | 'rooms' | 'subscriberBufferBytes'> {
  const mode = oneOf<ServeMode>('--mode', options.mode, serveDefaults.mode, SERVE_MODES);
  const rooms = integer('--rooms', options.rooms, serveDefaults.rooms, 1, 100_000);
  const subscriberBufferBytes = sizeBytes('--subscriber-buffer', options.subscriberBuffer, serveDefaults.subscriberBufferBytes, 1024, 1024 ** 3);
  if (mode !== 'broadcast') {
    if (rooms !== 1) throw new ConfigError('--rooms', options.rooms, `expected 1 with --mode ${mode}; rooms need --mode broadcast`);
    if (options.subscriberBuffer !== undefined) {
      throw new ConfigError('--subscriber-buffer', options.subscriberBuffer, `expected only with --mode broadcast (the mode is ${mode})`);
    }
  }
  return { mode, rooms, subscriberBufferBytes };
}

/** The takeover choices mean something only with --compress. */
function compressionPolicy(options: ServeOptions): ServeConfig['compression'] {
  const serverNoContextTakeover = options.compressServerNoContextTakeover === true;
  const clientNoContextTakeover = options.compressClientNoContextTakeover === true;
  if (!options.compress) {
    if (serverNoContextTakeover) throw new ConfigError('--compress-server-no-context-takeover', true, 'expected only with --compress');
    if (clientNoContextTakeover) throw new ConfigError('--compress-client-no-context-takeover', true, 'expected only with --compress');
    return undefined;
  }
  return Object.freeze({ serverNoContextTakeover, clientNoContextTakeover });
}

/** Both PEM files read and checked as a pair now, so a bad one is refused before anything starts. */
function tlsFiles(certFile: string | undefined, keyFile: string | undefined): ServeConfig['tls'] {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined) throw new ConfigError('--tls-key', keyFile, 'expected --tls-cert with it');
  if (keyFile === undefined) throw new ConfigError('--tls-cert', certFile, 'expected --tls-key with it');
  const read = (option: string, file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError(option, file, `expected a readable PEM file (${(error as NodeJS.ErrnoException).code})`);
    }
  };
  const tls = { cert: read('--tls-cert', certFile), key: read('--tls-key', keyFile) };
  // createSecureContext takes empty or half-read files without a word (and then every handshake
  // fails): the certificate and the key are parsed, and matched, first.
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(tls.cert);
  } catch (error) {
    throw new ConfigError('--tls-cert', certFile, `expected a PEM certificate (${(error as Error).message})`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(tls.key);
  } catch (error) {
    throw new ConfigError('--tls-key', keyFile, `expected a PEM private key (${(error as Error).message})`);
  }
  if (!certificate.checkPrivateKey(key)) throw new ConfigError('--tls-key', keyFile, `expected the private key of the --tls-cert certificate (${certFile})`);
  try {
    createSecureContext(tls);
  } catch (error) {
    throw new ConfigError('--tls-cert', certFile, `expected a PEM certificate that matches --tls-key (${(error as Error).message})`);
  }
  return tls;
}
