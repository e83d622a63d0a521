/**
 * data-file: what `blast --data` costs with a 1,000,000-row CSV (48.7 MB: user, a 30-character token,
 * room). In a fresh process (node --expose-gc, so that memory is read after a full collection):
 * the time to read and check the whole file, the coordinator's heap and RSS after it (the text and
 * 4 bytes of offset a row, not the rows parsed), and what one client process of 20,000 connections
 * is sent (its rows, two fields) against what sending every row to every process would be (the JSON
 * over IPC, and the heap the parsed rows take).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Benchmark } from './benchmark.js';
import { benchDist, median, REPEATS, round, table } from './lib.js';

const ROWS = 1_000_000;
const SHARE = 20_000;

interface DataRun {
  readonly repeat: number;
  readonly fileBytes: number;
  readonly loadMs: number;
  readonly heapAfterLoadMB: number;
  readonly rssAfterLoadMB: number;
  readonly shareMs: number;
  readonly shareIpcKB: number;
  readonly wholeIpcMB: number;
  readonly wholeParsedHeapMB: number;
}

/** The measuring script, run in its own process. */
const PROBE = (dataFile: string, csv: string) => `
import { statSync } from 'node:fs';
import { DataSet } from ${JSON.stringify(dataFile)};
const mb = (bytes) => Math.round(bytes / 1e5) / 10;
gc();
const rss0 = process.memoryUsage().rss;
const heap0 = process.memoryUsage().heapUsed;
let t = performance.now();
const data = new DataSet(${JSON.stringify(csv)}, { fields: ['token', 'user'], headerFields: new Set(['token']) });
const loadMs = performance.now() - t;
gc();
const loaded = process.memoryUsage();
t = performance.now();
const share = data.rowsFor(${ROWS / 2}, ${SHARE});
const shareMs = performance.now() - t;
const shareIpcKB = Math.round(Buffer.byteLength(JSON.stringify(share)) / 1024);
const whole = data.rowsFor(0, ${ROWS});
const wholeIpcMB = mb(Buffer.byteLength(JSON.stringify(whole)));
gc();
const wholeParsedHeapMB = mb(process.memoryUsage().heapUsed - loaded.heapUsed);
console.log(JSON.stringify({ fileBytes: statSync(${JSON.stringify(csv)}).size, loadMs: Math.round(loadMs), heapAfterLoadMB: mb(loaded.heapUsed - heap0), rssAfterLoadMB: mb(loaded.rss - rss0), shareMs: Math.round(shareMs), shareIpcKB, wholeIpcMB, wholeParsedHeapMB, held: whole.rows.length }));
`;

export const dataFile: Benchmark = {
  name: 'data-file',
  description: `blast --data with ${ROWS.toLocaleString('en-US')} rows: read and check, coordinator memory, one process's ${SHARE.toLocaleString('en-US')} rows against every row`,
  async run() {
    const scratch = mkdtempSync(join(tmpdir(), 'wsbench-bench-data-'));
    try {
      const csv = join(scratch, 'users.csv');
      const lines = ['user,token,room'];
      for (let i = 0; i < ROWS; i++) lines.push(`user${i},${'t'.repeat(24)}${i},room${i % 100}`);
      writeFileSync(csv, lines.join('\n') + '\n');
      const probe = join(scratch, 'probe.mjs');
      writeFileSync(probe, PROBE(pathToFileURL(join(benchDist, '../src/data/data-file.js')).href, csv));
      const command = `node --expose-gc ${probe}`;
      const runs: DataRun[] = [];
      for (let repeat = 0; repeat < REPEATS; repeat++) {
        const output = execFileSync(process.execPath, ['--expose-gc', probe], { encoding: 'utf8', maxBuffer: 1024 * 1024 });
        runs.push({ repeat, ...(JSON.parse(output) as Omit<DataRun, 'repeat'>) });
      }
      const figure = (key: keyof DataRun) => round(median(runs.map((run) => run[key] as number)));
      const figures = {
        rows: ROWS,
        fileBytes: runs[0]!.fileBytes,
        loadMs: figure('loadMs'),
        coordinatorHeapMB: figure('heapAfterLoadMB'),
        coordinatorRssMB: figure('rssAfterLoadMB'),
        processShareRows: SHARE,
        processShareMs: figure('shareMs'),
        processShareIpcKB: figure('shareIpcKB'),
        everyRowIpcMB: figure('wholeIpcMB'),
        everyRowParsedHeapMB: figure('wholeParsedHeapMB'),
      };
      return {
        figures,
        runs,
        commands: [command],
        table: table(
          ['figure', 'median'],
          Object.entries(figures).map(([key, value]) => [key, value]),
        ),
      };
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  },
};
