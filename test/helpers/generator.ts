/** A LoadGenerator in the test process, for engine tests: one process's share, options overridable. */
import { LoadGenerator, type LoadGeneratorOptions } from '../../src/blast/load-generator.js';
import { buildRequestHead } from '../../src/blast/ws-connection.js';

export function generatorFor(url: string, options: Partial<LoadGeneratorOptions>): LoadGenerator {
  const target = new URL(url);
  return new LoadGenerator({
    index: 0,
    host: target.hostname,
    port: Number(target.port),
    requestHead: buildRequestHead(target, {}),
    subprotocols: [],
    connections: 2,
    connectRate: 0,
    maxHandshakes: 100,
    connectTimeoutMs: 5000,
    rate: undefined,
    messages: undefined,
    pipeline: 1,
    payload: Buffer.from('ping'),
    stampConnection: false,
    binary: false,
    source: undefined,
    rampTraffic: false,
    pattern: 'echo',
    message: undefined,
    replyId: undefined,
    subscribe: undefined,
    publishers: 0,
    flood: false,
    scenario: undefined,
    firstConnection: 0,
    lifetimeMs: undefined,
    lifetimeJitter: 0.1,
    reconnect: false,
    reconnectMinMs: 100,
    reconnectMaxMs: 10_000,
    reconnectJitter: true,
    protocol: 'ws',
    socketio: undefined,
    graphql: undefined,
    ...options,
  });
}
