/**
 * `blast --metrics-port P`: Prometheus text at /metrics while the run goes, from what the
 * coordinator already receives every second (counters, and each process's interval histograms and
 * load). Nothing is added to the client processes' hot paths: a scrape formats what is there.
 */
import { createServer, type Server } from 'node:http';
import { RunError } from '../config/errors.js';
import type { BlastCounters } from '../metrics/blast-counters.js';
import { createHistogram, decodeHistogram } from '../metrics/histogram.js';
import type { IntervalSample } from '../metrics/timeline.js';
import { formatBlastPrometheus, type LiveProcessHealth, type LivePhase } from '../report/blast-prometheus.js';

export class LiveMetrics {
  phase: LivePhase = 'waiting';
  readonly #roundTrips = createHistogram();
  readonly #connects = createHistogram();
  readonly #health = new Map<number, LiveProcessHealth>();
  #counters: () => BlastCounters | undefined = () => undefined;
  #server: Server | undefined;

  constructor(
    readonly shard: string,
    readonly targetConnections: number,
    readonly emptyCounters: () => BlastCounters,
  ) {}

  /** Where the counters come from, once the client processes exist. */
  countersFrom(source: () => BlastCounters): void {
    this.#counters = source;
  }

  /** One process's second: its round trips and handshakes join the totals; its load replaces the last. */
  addInterval(processIndex: number, sample: IntervalSample): void {
    this.#roundTrips.add(decodeHistogram(sample.roundTrips));
    if (sample.connects) this.#connects.add(decodeHistogram(sample.connects));
    if (sample.cpuRatio !== undefined) this.#health.set(processIndex, { index: processIndex, cpuRatio: sample.cpuRatio, loopDelayP99Ms: sample.loopDelayP99Ms ?? 0 });
  }

  processEnded(processIndex: number): void {
    this.#health.delete(processIndex);
  }

  text(): string {
    return formatBlastPrometheus({
      shard: this.shard,
      phase: this.phase,
      targetConnections: this.targetConnections,
      counters: this.#counters() ?? this.emptyCounters(),
      roundTrips: this.#roundTrips,
      connects: this.#connects,
      processes: [...this.#health.values()].sort((a, b) => a.index - b.index),
    });
  }

  /** Serve /metrics on host:port (0: a free port). Resolves with the URL; RunError when the port is taken. */
  async listen(host: string, port: number): Promise<string> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method === 'GET' && path === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(this.text());
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('GET /metrics\n');
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => reject(new RunError('METRICS', `--metrics-port: cannot listen on ${host}:${port} (${error.code ?? error.message})`)));
      server.listen(port, host, () => resolve());
    });
    this.#server = server;
    const address = server.address();
    const bound = typeof address === 'object' && address ? address.port : port;
    return `http://${host.includes(':') ? `[${host}]` : host}:${bound}/metrics`;
  }

  close(): Promise<void> {
    const server = this.#server;
    if (!server) return Promise.resolve();
    server.closeAllConnections?.();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}
