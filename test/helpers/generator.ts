/** A LoadGenerator in the test process, for engine tests: one process's share, options overridable. */
import { LoadGenerator, type LoadGeneratorOptions } from '../../src/blast/load-generator.js';
import { buildRequestHead } from '../../src/blast/ws-connection.js';
import { resolveBlastConfig } from '../../src/config/blast-config.js';
import { BLAST_OPTIONS } from '../../src/config/blast-options.js';
import { planOf } from '../../src/config/option-table.js';

export function generatorFor(url: string, options: Partial<LoadGeneratorOptions>): LoadGenerator {
  const target = new URL(url);
  return new LoadGenerator({
    // blast's defaults for the options every process takes as they are (the table's `plan` entries).
    ...planOf(BLAST_OPTIONS, resolveBlastConfig()),
    index: 0,
    host: target.hostname,
    port: Number(target.port),
    requestHead: buildRequestHead(target, {}),
    subprotocols: [],
    connections: 2,
    connectRate: 0,
    maxHandshakes: 100,
    payload: Buffer.from('ping'),
    stampConnection: false,
    source: undefined,
    pattern: 'echo',
    publishers: 0,
    scenario: undefined,
    firstConnection: 0,
    reconnectJitter: true,
    socketio: undefined,
    graphql: undefined,
    ...options,
  });
}
