/**
 * The serve configuration: every option once, with its type, default and meaning. The CLI and the
 * API both go through resolveServeConfig, so they agree on defaults and on what is refused.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { DeflateServerPolicy } from '../protocol/permessage-deflate.js';
import { ConfigError } from './errors.js';
import { readAddress, readChoice, readNumber, readOptionalNumber, readPath, type ConfigValues } from './option-table.js';
import { SERVE, SERVE_OPTIONS, serveDefaults } from './serve-options.js';

export type Overflow = 'reject' | 'queue';
/** What serve does with a message: echo it, answer it by id (JSON), or send it to its room. */
export type ServeMode = 'echo' | 'reply' | 'broadcast';
export const SERVE_MODES: readonly ServeMode[] = SERVE.mode.values;

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

/** What resolveServeConfig takes: every option of serve-options.ts by its key (strings from the CLI, or numbers). */
export type ServeOptions = ConfigValues<typeof SERVE_OPTIONS>;

export { serveDefaults };

export function resolveServeConfig(options: ServeOptions = {}): ServeConfig {
  const heartbeatMs = options.heartbeat === undefined || options.heartbeat === 0 || options.heartbeat === '0'
    ? (options.heartbeat === undefined ? serveDefaults.heartbeatMs : 0)
    : readNumber(SERVE.heartbeat, options.heartbeat);
  return Object.freeze({
    host: readAddress(SERVE.host, options.host),
    port: readNumber(SERVE.port, options.port),
    path: readPath(SERVE.path, options.path),
    max: readNumber(SERVE.max, options.max),
    workers: readOptionalNumber(SERVE.workers, options.workers),
    overflow: readChoice(SERVE.overflow, options.overflow),
    queueTimeoutMs: readNumber(SERVE.queueTimeout, options.queueTimeout),
    maxPayloadBytes: readNumber(SERVE.maxPayload, options.maxPayload),
    handshakeTimeoutMs: readNumber(SERVE.handshakeTimeout, options.handshakeTimeout),
    heartbeatMs,
    drainTimeoutMs: readNumber(SERVE.drainTimeout, options.drainTimeout),
    ...modeOptions(options),
    compression: compressionPolicy(options),
    tls: tlsFiles(options.tlsCert, options.tlsKey),
  });
}

/** Rooms and the subscriber bound mean something only to broadcast: asking for them elsewhere is a mistake. */
function modeOptions(options: ServeOptions): Pick<ServeConfig, 'mode' | 'rooms' | 'subscriberBufferBytes'> {
  const mode = readChoice(SERVE.mode, options.mode);
  const rooms = readNumber(SERVE.rooms, options.rooms);
  const subscriberBufferBytes = readNumber(SERVE.subscriberBuffer, options.subscriberBuffer);
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
