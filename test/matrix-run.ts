/**
 * `npm run matrix -- [--runs N] [--seed S] [--case K]`: the option matrix at any size. Without
 * --seed a seed is drawn and printed; --case K replays one case of a seed. Prints each failing case
 * as a command line with its replay, and exits 1 when any failed.
 */
import { startServeCli, stop, type CliRun } from './helpers/cli.js';
import { describeCase, runCase, sampleCase, type MatrixTarget } from './helpers/matrix.js';
import { startSocketIoEcho, type SocketIoEcho } from './helpers/socketio-echo.js';

function option(name: string): number | undefined {
  const at = process.argv.indexOf(name);
  if (at === -1) return undefined;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value < 0) {
    console.error(`matrix: ${name}: ${JSON.stringify(process.argv[at + 1])} is not valid; expected a whole number`);
    process.exit(2);
  }
  return value;
}

const seed = option('--seed') ?? Math.floor(Math.random() * 2 ** 31);
const only = option('--case');
const runs = option('--runs') ?? 100;
const indexes = only === undefined ? Array.from({ length: runs }, (_, index) => index) : [only];

const servers: Array<CliRun & { url: string }> = [];
const urls = {} as Record<MatrixTarget, string>;
for (const mode of ['echo', 'reply', 'broadcast'] as const) {
  const server = await startServeCli(['--max', '2000', '--mode', mode, '--compress']);
  servers.push(server);
  urls[mode] = server.url;
}
const socketIo: SocketIoEcho = await startSocketIoEcho();
urls.socketio = socketIo.url;
console.log(`matrix: seed ${seed}, ${indexes.length} case(s)`);
const started = performance.now();
let failed = 0;
const exits = new Map<string, number>();
try {
  for (const index of indexes) {
    const matrixCase = sampleCase(seed, index);
    const outcome = await runCase(matrixCase, urls);
    exits.set(String(outcome.code), (exits.get(String(outcome.code)) ?? 0) + 1);
    if (outcome.problems.length === 0) continue;
    failed++;
    console.log(`FAIL ${describeCase(matrixCase)}\n  ${outcome.problems.join('\n  ')}\n  replay: npm run matrix -- --seed ${seed} --case ${index}`);
  }
} finally {
  for (const server of servers) await stop(server);
  await socketIo.close();
}
console.log(`matrix: ${indexes.length - failed} of ${indexes.length} passed in ${((performance.now() - started) / 1000).toFixed(0)} s; exits ${[...exits].map(([code, count]) => `${code}: ${count}`).join(', ')}`);
process.exitCode = failed > 0 ? 1 : 0;
