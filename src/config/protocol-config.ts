/**
 * --protocol: what runs on top of the WebSocket. `ws` (the default) is plain messages, every
 * pattern of blast; `socketio` is Socket.IO v4 over Engine.IO v4 (WebSocket transport only);
 * `graphql-ws` is the graphql-transport-ws protocol. The two application protocols are checked here,
 * with the traffic options they take, so that a run that cannot mean anything is refused before a
 * socket opens (ConfigError: the option, the value, what is allowed).
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';
import { MessageTemplate } from '../message/template.js';

export type ProtocolName = 'ws' | 'socketio' | 'graphql-ws';
export const PROTOCOLS: readonly ProtocolName[] = ['ws', 'socketio', 'graphql-ws'];

/** Socket.IO: where to connect, and what each emit carries. */
export interface SocketIoSettings {
  /** The Engine.IO path (the client's `path` option). Default /socket.io/. */
  readonly path: string;
  /** The namespace: --namespace, or the URL's path as io("ws://host/chat") takes it. Default /. */
  readonly namespace: string;
  /** The event each emit names. Default "message". */
  readonly event: string;
  /** The emit's arguments after the event name, as JSON text with placeholders (from --message). */
  readonly args: string;
  /** --socketio-auth: the namespace connect's auth payload (a JSON object template), or none. */
  readonly auth: string | undefined;
}

/** graphql-transport-ws: the connection_init payload and the operation each subscribe sends. */
export interface GraphqlSettings {
  /** --graphql-init: connection_init's payload (a JSON object template), or none. */
  readonly init: string | undefined;
  /** --graphql-query FILE: the document. */
  readonly query: string;
  readonly queryFile: string;
  /** --graphql-variables: a JSON object template, or none. */
  readonly variables: string | undefined;
  readonly operationName: string | undefined;
}

export interface ProtocolOptions {
  protocol?: string;
  namespace?: string;
  socketioPath?: string;
  event?: string;
  socketioAuth?: string;
  graphqlInit?: string;
  graphqlQuery?: string;
  graphqlVariables?: string;
  graphqlOperation?: string;
}

export interface ProtocolChoice {
  readonly protocol: ProtocolName;
  readonly socketio: SocketIoSettings | undefined;
  readonly graphql: GraphqlSettings | undefined;
}

/** What the rest of the options said, as far as a protocol cares. */
interface TrafficSeen {
  readonly url: string | undefined;
  readonly pattern: string;
  readonly message: string | undefined;
  readonly payload: Buffer;
  readonly binary: boolean;
  readonly flood: boolean;
  readonly rate: string | number | undefined;
  readonly pipeline: string | number | undefined;
  readonly replyId: string | undefined;
  readonly subscribe: string | undefined;
  /** --payload FILE and -s, as given (undefined when not). */
  readonly payloadFile: string | undefined;
  readonly size: string | number | undefined;
}

const SOCKETIO_ONLY = [['namespace', '--namespace'], ['socketioPath', '--socketio-path'], ['event', '--event'], ['socketioAuth', '--socketio-auth']] as const;
const GRAPHQL_ONLY = [['graphqlInit', '--graphql-init'], ['graphqlQuery', '--graphql-query'], ['graphqlVariables', '--graphql-variables'], ['graphqlOperation', '--graphql-operation']] as const;

export function resolveProtocol(options: ProtocolOptions, seen: TrafficSeen): ProtocolChoice {
  const protocol = (options.protocol ?? 'ws') as ProtocolName;
  if (!PROTOCOLS.includes(protocol)) throw new ConfigError('--protocol', options.protocol, `expected one of ${PROTOCOLS.join(', ')}`);
  for (const [key, flag] of SOCKETIO_ONLY) if (options[key] !== undefined && protocol !== 'socketio') throw new ConfigError(flag, options[key], 'it is for --protocol socketio');
  for (const [key, flag] of GRAPHQL_ONLY) if (options[key] !== undefined && protocol !== 'graphql-ws') throw new ConfigError(flag, options[key], 'it is for --protocol graphql-ws');
  if (protocol === 'ws') return { protocol, socketio: undefined, graphql: undefined };
  if (seen.url === undefined) throw new ConfigError('--protocol', protocol, `expected a URL too: blast's own server speaks plain WebSocket, not ${protocol}`);
  if (seen.binary) throw new ConfigError('--binary', true, `--protocol ${protocol} sends text frames (binary attachments are not supported)`);
  if (seen.flood) throw new ConfigError('--flood', true, `it is for --protocol ws: ${protocol} messages carry no echo to time`);
  if (seen.replyId !== undefined) throw new ConfigError('--reply-id', seen.replyId, `it is for --protocol ws: ${protocol} pairs replies itself`);
  if (seen.pattern === 'scenario') throw new ConfigError('--scenario', true, 'it is for --protocol ws');
  return protocol === 'socketio' ? { protocol, socketio: socketIoSettings(options, seen), graphql: undefined } : { protocol, socketio: undefined, graphql: graphqlSettings(options, seen) };
}

function socketIoSettings(options: ProtocolOptions, seen: TrafficSeen): SocketIoSettings {
  const url = new URL(seen.url!);
  const path = options.socketioPath ?? '/socket.io/';
  if (!path.startsWith('/') || /[\s?#]/.test(path)) throw new ConfigError('--socketio-path', path, 'expected a path such as /socket.io/ (the server\'s `path` option)');
  // io("ws://host/chat") connects to namespace /chat at path /socket.io/; a URL that already names the
  // Engine.IO path is taken as the endpoint itself, and its namespace is --namespace.
  const urlNamespace = url.pathname === '/' || url.pathname.replace(/\/?$/, '/') === path.replace(/\/?$/, '/') ? '/' : url.pathname;
  const namespace = options.namespace ?? urlNamespace;
  if (/\{\{|%7B%7B/i.test(namespace + path)) {
    throw new ConfigError(options.namespace !== undefined ? '--namespace' : options.socketioPath !== undefined ? '--socketio-path' : 'url', options.namespace ?? options.socketioPath ?? seen.url!, 'expected no placeholder in the namespace or the Engine.IO path (the URL\'s path): per-connection values go in the query or --socketio-auth');
  }
  if (!namespace.startsWith('/') || /[\s,?#]/.test(namespace)) throw new ConfigError('--namespace', namespace, 'expected a namespace such as / or /chat');
  const event = options.event ?? 'message';
  if (event === '' || ['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener'].includes(event)) {
    throw new ConfigError('--event', event, 'expected an event name that is not one Socket.IO reserves (connect, connect_error, disconnect, …)');
  }
  // --message: a JSON array is the emit's arguments, anything else JSON is its one argument; without
  // one, the payload, as a string.
  let args: string;
  if (seen.message === undefined) {
    args = JSON.stringify(seen.payload.toString('utf8'));
    new MessageTemplate(args, '--payload');
  }
  else {
    const value = jsonTemplate('--message', seen.message);
    const trimmed = seen.message.trim();
    args = Array.isArray(value) ? trimmed.slice(1, -1).trim() : trimmed;
  }
  if (seen.pattern === 'reply') throw new ConfigError('--reply-id', true, 'socketio pairs acks by their id itself');
  if (seen.subscribe !== undefined) {
    const value = jsonTemplate('--subscribe', seen.subscribe);
    if (!Array.isArray(value) || typeof value[0] !== 'string') throw new ConfigError('--subscribe', seen.subscribe, 'with --protocol socketio expected a JSON array: the event name and its arguments, such as ["join","room1"]');
  }
  const auth = options.socketioAuth;
  if (auth !== undefined) {
    const value = jsonTemplate('--socketio-auth', auth);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError('--socketio-auth', auth, 'expected a JSON object, such as {"token":"abc"}');
  }
  return { path: path.endsWith('/') ? path : `${path}/`, namespace, event, args, auth };
}

function graphqlSettings(options: ProtocolOptions, seen: TrafficSeen): GraphqlSettings {
  if (seen.pattern !== 'echo') throw new ConfigError('--protocol', 'graphql-ws', 'expected no other traffic pattern (--subscribe, --publishers, --fire-and-forget): each connection subscribes with --graphql-query and counts what comes');
  if (seen.rate !== undefined) throw new ConfigError('--rate', seen.rate, 'with --protocol graphql-ws the server sets the pace; use -p for subscriptions at once per connection');
  if (seen.message !== undefined) throw new ConfigError('--message', seen.message, 'with --protocol graphql-ws the operation comes from --graphql-query');
  if (seen.payloadFile !== undefined) throw new ConfigError('--payload', seen.payloadFile, 'with --protocol graphql-ws the operation comes from --graphql-query');
  if (seen.size !== undefined) throw new ConfigError('-s, --size', seen.size, 'with --protocol graphql-ws the operation comes from --graphql-query (its messages have no payload size to set)');
  const file = options.graphqlQuery;
  if (file === undefined) throw new ConfigError('--graphql-query', file, 'expected a file with the GraphQL document to subscribe with');
  let query: string;
  try {
    query = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError('--graphql-query', file, `expected a readable file (${(error as NodeJS.ErrnoException).code})`);
  }
  if (query.trim() === '') throw new ConfigError('--graphql-query', file, 'expected a GraphQL document, not an empty file');
  // The document goes into each subscribe message as a template: a placeholder in it is checked now,
  // not in the client processes. Per-connection values belong in --graphql-variables.
  if (/\{\{\s*data\./.test(query)) throw new ConfigError('--graphql-query', file, 'expected no {{data.FIELD}} in the document: per-connection values go in --graphql-variables');
  new MessageTemplate(JSON.stringify(query), `--graphql-query ${file}`);
  for (const [value, flag] of [[options.graphqlInit, '--graphql-init'], [options.graphqlVariables, '--graphql-variables']] as const) {
    if (value === undefined) continue;
    const parsed = jsonTemplate(flag, value);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(flag, value, 'expected a JSON object, such as {"token":"abc"}');
  }
  return { init: options.graphqlInit, query, queryFile: file, variables: options.graphqlVariables, operationName: options.graphqlOperation };
}

/** A template whose rendering is JSON (placeholders rendered for connection 0, message 1). */
function jsonTemplate(option: string, text: string): unknown {
  // {{data.FIELD}} renders as nothing without the file's layout: checked as a number here, so that
  // {"id":{{data.id}}} passes as {"id":{{seq}}} does (the file's fields are checked by --data).
  const checked = text.replace(/\{\{\s*data\.[A-Za-z0-9_-]+\s*\}\}/g, '0');
  const rendered = new MessageTemplate(checked, option).render({ seq: 1, conn: 0, worker: 0 }).toString();
  try {
    return JSON.parse(rendered);
  } catch {
    throw new ConfigError(option, text, 'expected JSON (placeholders may stand for values)');
  }
}

/** Socket.IO's Engine.IO endpoint for a URL: its path replaced by --socketio-path, EIO=4 and the WebSocket transport asked for. */
export function socketIoEndpoint(url: URL, settings: SocketIoSettings): URL {
  const endpoint = new URL(url.href);
  endpoint.pathname = settings.path;
  endpoint.searchParams.set('EIO', '4');
  endpoint.searchParams.set('transport', 'websocket');
  return endpoint;
}
