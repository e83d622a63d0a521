/**
 * The matrix's fixed sample (test/helpers/matrix.ts): sampled combinations of blast's documented
 * options, each run with the real binary against `wsbench serve` in the matching mode and checked
 * against the README. `npm run matrix -- --runs 500` runs more; a failing case names its replay.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServeCli, stop, type CliRun } from './helpers/cli.js';
import { describeCase, runCase, sampleCase, type MatrixTarget } from './helpers/matrix.js';
import { startSocketIoEcho, type SocketIoEcho } from './helpers/socketio-echo.js';

/** The sample npm test runs: a fixed seed, so it is the same cases every time (about a minute). */
const SEED = 20261205;
const CASES = 28;

describe('the option matrix: sampled combinations behave as the README says', () => {
  const servers: Array<CliRun & { url: string }> = [];
  const urls = {} as Record<MatrixTarget, string>;
  let socketIo: SocketIoEcho | undefined;
  before(async () => {
    for (const mode of ['echo', 'reply', 'broadcast'] as const) {
      const server = await startServeCli(['--max', '2000', '--mode', mode, '--compress']);
      servers.push(server);
      urls[mode] = server.url;
    }
    socketIo = await startSocketIoEcho();
    urls.socketio = socketIo.url;
  });
  after(async () => {
    for (const server of servers) await stop(server);
    await socketIo?.close();
  });

  for (let index = 0; index < CASES; index++) {
    const matrixCase = sampleCase(SEED, index);
    it(describeCase(matrixCase), async () => {
      const outcome = await runCase(matrixCase, urls);
      assert.deepEqual(outcome.problems, [], `${describeCase(matrixCase)}\nreplay: npm run matrix -- --seed ${SEED} --case ${index}`);
    });
  }
});
