/** Entry of a blast client process: runs one LoadGenerator and reports over IPC. */
import type { BlastWorkerToCoordinator, CoordinatorToBlastWorker } from '../ipc/blast-messages.js';
import { histogramIndexVerdict } from '../metrics/histogram.js';
import type { FastPathVerdicts } from '../runtime/fast-paths.js';
import { proveHandleIo } from './handle-io.js';
import { LoadGenerator } from './load-generator.js';

const TICK_MS = 1000;

/**
 * WSBENCH_CLIENT_BUSY=MS (a testing aid): the process spins MS of every 100 ms, as a client process
 * starved by other work would stall. The generator's health (its CPU and event-loop delay) then says
 * so, and what depends on it (the summary's warning, wsbench find's "limited by the generator") can
 * be tested for real. Not for use in a measurement.
 */
const busyMs = Math.min(95, Math.max(0, Number(process.env.WSBENCH_CLIENT_BUSY) || 0));
if (busyMs > 0) {
  setInterval(() => {
    const until = performance.now() + busyMs;
    while (performance.now() < until);
  }, 100).unref();
}
/** While it stops: how often it tells the coordinator how many connections are left. */
const CLOSING_TICK_MS = 1000;
let generator: LoadGenerator | undefined;
let ticker: NodeJS.Timeout | undefined;
let stopping = false;
/** wsbench find: the last 'target' this process applied (its ticks say so, so that the coordinator knows they are after it). */
let targetSeq = 0;

const send = (message: BlastWorkerToCoordinator) => {
  if (process.connected) process.send!(message);
};

/** `withInterval`: the every-second tick, which also carries that second for the timeline. */
function tick(withInterval = false): void {
  if (!generator) return;
  const interval = withInterval ? generator.takeInterval() : undefined;
  send({ t: 'tick', counters: generator.counters, rampDone: generator.rampDone, idle: generator.idle, messagesDone: generator.messagesDone, interval, targetSeq });
}

// Ctrl-C reaches the whole process group; the coordinator decides how the run stops.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
process.on('disconnect', () => {
  if (!stopping) process.exit(1);
});

/** The fast paths this process proved before its first connection (runtime/fast-paths.ts). */
let fastPaths: FastPathVerdicts = {};

process.on('message', (message: CoordinatorToBlastWorker) => {
  if (message.t === 'start') void start(message);
  else handle(message);
});

/** The handle I/O's self-test, then the generator: a fast path is on only once it has passed. */
async function start(message: Extract<CoordinatorToBlastWorker, { t: 'start' }>): Promise<void> {
  const proof = await proveHandleIo();
  fastPaths = { ...proof, histogramIndex: histogramIndexVerdict() };
  {
    const { payloadBase64, ...options } = message.options;
    generator = new LoadGenerator({ ...options, payload: Buffer.from(payloadBase64, 'base64') });
    generator.start();
    ticker = setInterval(tick, TICK_MS, true);
    // A change of phase (ramp done, idle, quota done) is worth telling at once, not at the next tick.
    let lastState = '';
    const watch = setInterval(() => {
      if (!generator || stopping) return clearInterval(watch);
      const state = `${generator.rampDone}${generator.idle}${generator.messagesDone}`;
      if (state === lastState) return;
      tick();
      lastState = state;
    }, 20);
    if (early.run) generator.startRun();
    if (early.stop) handle({ t: 'stop' });
  }
}

/** A 'run' or 'stop' that came while the self-test ran: done as soon as the generator exists. */
const early = { run: false, stop: false };

function handle(message: CoordinatorToBlastWorker): void {
  if (message.t === 'target') {
    generator?.setTarget(message.connections, message.rate);
    targetSeq = message.seq;
    tick();
  } else if (message.t === 'run') {
    if (!generator) early.run = true;
    generator?.startRun();
  } else if (message.t === 'stop' && !generator) {
    early.stop = true;
  } else if (message.t === 'stop' && generator && !stopping) {
    stopping = true;
    if (ticker) clearInterval(ticker);
    void finish(generator);
  }
}

/**
 * The end: the measurement goes to the coordinator first, the moment the run ends, and only then do
 * the connections close. Until this process exits it says, every second, how many are left, so that
 * the coordinator gives up on it only when it stops making progress, not after a fixed time.
 */
async function finish(engine: LoadGenerator): Promise<void> {
  const progress = setInterval(() => send({ t: 'closing', open: engine.openOrConnecting }), CLOSING_TICK_MS);
  const measured = await engine.stop();
  const snapshot = { ...measured, fastPaths };
  await new Promise<void>((resolve) => (process.connected ? process.send!({ t: 'final', snapshot } satisfies BlastWorkerToCoordinator, () => resolve()) : resolve()));
  await engine.close();
  clearInterval(progress);
  if (process.connected) process.disconnect();
}
