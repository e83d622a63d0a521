/**
 * Entry of the benchmark suite: `npm run bench` runs every benchmark, `npm run bench -- <name>…`
 * the named ones. Each writes results/bench-<name>-<timestamp>.json and prints a short table.
 * Every process a benchmark starts is ended (by PID, with its descendants), also on error or Ctrl-C.
 */
import type { Benchmark } from './benchmark.js';
import { loadavg } from 'node:os';
import { cleanupAll, environment, writeResult } from './lib.js';
import { serveEcho } from './serve-echo.js';
import { serveEchoVsGo } from './serve-echo-vs-go.js';
import { serveMemory } from './serve-memory.js';
import { serveAccept } from './serve-accept.js';
import { blastCpuVsTcpkali } from './blast-cpu-vs-tcpkali.js';
import { blastMemory } from './blast-memory.js';
import { blastOpen50k } from './blast-open-50k.js';
import { serveScale } from './serve-scale.js';
import { rampUnderLoad } from './ramp-under-load.js';
import { fiftyKDefault } from './fifty-k-default.js';
import { broadcastFanout, replyVsEcho } from './patterns.js';
import { multiHost } from './multi-host.js';
import { reconnectStorm } from './reconnect-storm.js';
import { churn } from './churn.js';
import { findCapacity } from './find-capacity.js';
import { compressCost } from './compress-cost.js';
import { dataFile } from './data-file.js';
import { socketioVsArtillery } from './socketio-vs-artillery.js';

/** In run order: the heaviest (50,000 connections; multi-host's 45,000 from 3 network namespaces) last. */
const BENCHMARKS: readonly Benchmark[] = [serveEcho, serveEchoVsGo, serveMemory, serveAccept, rampUnderLoad, blastCpuVsTcpkali, blastMemory, dataFile, replyVsEcho, broadcastFanout, reconnectStorm, churn, findCapacity, socketioVsArtillery, compressCost, blastOpen50k, serveScale, fiftyKDefault, multiHost];

process.on('exit', cleanupAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    cleanupAll();
    process.exit(130);
  });
}

const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !BENCHMARKS.some((b) => b.name === name));
if (unknown.length) {
  process.stderr.write(`unknown benchmark ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}\n`);
  process.exit(2);
}
const selected = requested.length ? BENCHMARKS.filter((b) => requested.includes(b.name)) : BENCHMARKS;

let failures = 0;
for (const benchmark of selected) {
  process.stdout.write(`\n== ${benchmark.name}: ${benchmark.description}\n`);
  const startedAt = new Date();
  const loadBefore = loadAverage();
  try {
    const outcome = await benchmark.run();
    const path = writeResult(benchmark.name, {
      schemaVersion: 1,
      benchmark: benchmark.name,
      description: benchmark.description,
      command: ['npm', 'run', 'bench', '--', benchmark.name].join(' '),
      startedAt: startedAt.toISOString(),
      elapsedMs: Date.now() - startedAt.getTime(),
      environment: environment(),
      // A shared machine: the load average around the run says how much else was competing.
      loadAverage: { before: loadBefore, after: loadAverage() },
      commands: outcome.commands,
      figures: outcome.figures,
      runs: outcome.runs,
    });
    process.stdout.write(outcome.table + `results: ${path}\n`);
  } catch (error) {
    failures++;
    process.stderr.write(`${benchmark.name} failed: ${(error as Error).stack ?? error}\n`);
  } finally {
    cleanupAll();
  }
}
process.exitCode = failures ? 1 : 0;

function loadAverage(): number[] {
  return loadavg().map((value) => Math.round(value * 100) / 100);
}
