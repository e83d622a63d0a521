/**
 * The matrix: sampled combinations of blast's documented options, each run as a user runs it (the
 * real binary, against `wsbench serve` in the mode the pattern needs), and checked against what the
 * README promises rather than against the code:
 *
 * - the exit code the README's table gives: 2 for what it says is refused, before any connection;
 *   1 for the one sampled shape that measures nothing (a subscribe shard of one connection, alone in
 *   its room); 0 otherwise (every other run that goes ahead measures something against serve in its
 *   mode);
 * - no stack trace and no "unexpected error", and a refusal is one line naming the option;
 * - `attempted = accepted + rejected + failed`; for echo, sent ≥ received;
 * - the output flags do what they say (--json on stdout, --out and --report files, --no-save none);
 * - with --compress (every server here runs serve --compress), every accepted upgrade negotiated it.
 *
 * The refusal rules below are written from the README's option table and its sections, not copied
 * from src/config: where the two disagree, a case fails. Every case has a seed of its own, derived
 * from the run's seed and its number, so a failure replays alone (`npm run matrix -- --seed S --case K`).
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlastResult } from '../../src/metrics/blast-result.js';
import { runCliToEnd } from './cli.js';
import { prng } from './serve-fuzz-cases.js';

export type ServeMode = 'echo' | 'reply' | 'broadcast';
/** What a case runs against: serve in one of its modes, or a socket.io server (test/helpers/socketio-echo.ts). */
export type MatrixTarget = ServeMode | 'socketio';
export type MatrixPattern = 'echo' | 'reply' | 'subscribe' | 'fire' | 'flood' | 'scenario' | 'socketio';

export interface MatrixCase {
  readonly seed: number;
  readonly index: number;
  readonly pattern: MatrixPattern;
  readonly mode: MatrixTarget;
  /** blast's arguments after the URL. */
  readonly args: readonly string[];
  /** What the README says: the exit code, and for 2 the option named in the one line. */
  readonly expectExit: 0 | 1 | 2;
  /** The options the README refuses in this combination (the one line names one of them). */
  readonly refusedBy: readonly string[];
  readonly output: 'json' | 'out' | 'no-save' | 'report';
}

export interface MatrixOutcome {
  readonly case: MatrixCase;
  readonly problems: string[];
  readonly code: number | null;
  readonly ms: number;
}

/** Case `index` of the run seeded `seed`: its own seed, so it replays alone. */
export function caseSeed(seed: number, index: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
}

const scratch = mkdtempSync(join(tmpdir(), 'wsbench-matrix-'));
const payloadText = join(scratch, 'payload.txt');
const payloadBytes = join(scratch, 'payload.bin');
writeFileSync(payloadText, '{"kind":"payload","text":"héllo"}');
writeFileSync(payloadBytes, Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80, 0x41]));
const dataFile = join(scratch, 'users.csv');
writeFileSync(dataFile, 'user,token\n' + Array.from({ length: 7 }, (_, i) => `u${i},"t,${i}"`).join('\n') + '\n');
const scenarioFile = join(scratch, 'rpc.yaml');
writeFileSync(
  scenarioFile,
  [
    'on:',
    '  - match: "\\"method\\":\\"notice\\""',
    'steps:',
    '  - send: \'{"jsonrpc":"2.0","id":{{seq}},"method":"auth"}\'',
    '  - expect: { json: { path: id, equals: "{{seq}}" }, timeout: 2s }',
    '  - loop:',
    '      count: 20',
    '      steps:',
    '        - send: \'{"jsonrpc":"2.0","id":{{seq}},"method":"ping"}\'',
    '        - expect: { json: { path: id, equals: "{{seq}}" }, timeout: 2s }',
    '        - sleep: 10ms',
    '',
  ].join('\n'),
);

function pick<T>(random: () => number, choices: readonly T[]): T {
  return choices[Math.floor(random() * choices.length)]!;
}

/** Sample one case. Some are combinations the README says are refused: they must exit 2. */
export function sampleCase(seed: number, index: number): MatrixCase {
  const random = prng(caseSeed(seed, index));
  const pattern = pick(random, ['echo', 'echo', 'reply', 'subscribe', 'fire', 'flood', 'scenario', 'socketio'] as const);
  const args: string[] = [];
  const refusals: string[] = [];
  const refuse = (option: string) => refusals.push(option);
  const connections = pick(random, [2, 5, 12, 20]);
  args.push('-c', String(connections));

  // Pacing: closed loop, pipelined, or paced (0 holds idle connections).
  const pacing = pick(random, ['closed', 'closed', 'pipeline', 'rate', 'rate0']);
  const pipeline = pacing === 'pipeline' ? pick(random, [2, 8]) : 1;
  const rate = pacing === 'rate' ? pick(random, [5, 40]) : pacing === 'rate0' ? 0 : undefined;
  // A conflict now and then: -p with --rate (README: pipelining is for the closed loop).
  const pipelineWithRate = rate !== undefined && random() < 0.15;
  if (pipeline > 1 || pipelineWithRate) args.push('-p', String(pipelineWithRate ? 4 : pipeline));
  if (rate !== undefined) args.push('--rate', String(rate));
  if (pipelineWithRate) refuse('-p, --pipeline');

  // Payload: the default, a size, a template, a file (text, or bytes that need --binary).
  const payloadKind = pick(random, ['default', 'size', 'message', 'file', 'bytes']);
  const binary = random() < 0.25;
  switch (payloadKind) {
    case 'size':
      args.push('-s', String(pick(random, [0, 1, 200, 5000])));
      break;
    case 'message':
      if (pattern === 'echo' || pattern === 'fire' || pattern === 'socketio') {
        const message = pick(random, ['c{{conn}} s{{seq}}', 'hello', '{"at":{{now_us}}}', 'u={{data.user}} {{seq}}', '["u{{data.user}}",{{seq}}]']);
        args.push('--message', message);
        // socketio: --message is JSON (the emit's arguments), placeholders standing for values.
        if (pattern === 'socketio' && !message.startsWith('{') && !message.startsWith('[')) refuse('--message');
      }
      break;
    case 'file':
      args.push('--payload', payloadText);
      break;
    case 'bytes':
      args.push('--payload', payloadBytes);
      if (!binary) refuse('--payload');
      break;
  }
  if (binary) args.push('--binary');
  // socketio sends text frames only.
  if (binary && pattern === 'socketio') refuse('--binary');

  const mode: MatrixTarget = pattern === 'socketio' ? 'socketio' : pattern === 'reply' || pattern === 'scenario' ? 'reply' : pattern === 'subscribe' ? 'broadcast' : 'echo';
  switch (pattern) {
    case 'reply':
      args.push('--message', '{"jsonrpc":"2.0","id":{{seq}},"method":"ping"}', '--reply-id', 'id');
      // --message with --payload: choose one.
      if (args.includes('--payload')) refuse('--message');
      break;
    case 'subscribe':
      args.push('--subscribe', '{"subscribe":"all"}', '--publishers', '1');
      if (pipeline > 1) refuse('-p, --pipeline');
      break;
    case 'fire':
      args.push('--fire-and-forget');
      if (pipeline > 1) refuse('-p, --pipeline');
      break;
    case 'flood':
      args.push('--flood');
      if (pipeline > 1) refuse('-p, --pipeline');
      if (rate !== undefined) refuse('--rate');
      break;
    case 'scenario':
      args.push('--scenario', scenarioFile);
      // The steps decide what is sent, how often and how many.
      if (pipeline > 1 || rate !== undefined || args.includes('-s') || args.includes('--payload') || args.includes('--message')) refuse('(scenario)');
      break;
    case 'echo':
      if (args.includes('--message') && args.includes('--payload')) refuse('--message');
      break;
    case 'socketio':
      // Each emit asks for an ack, and the ack's round trip is the latency: echo's closed loop.
      args.push('--protocol', 'socketio');
      if (args.includes('--message') && args.includes('--payload')) refuse('--message');
      break;
  }

  // Per-connection data: sometimes a file, whether or not a template uses it. A {{data.FIELD}}
  // without --data is refused, naming where it is.
  const withData = random() < 0.3;
  if (withData) args.push('--data', dataFile);
  if (!withData && args.some((arg) => arg.includes('{{data.'))) refuse('--message');

  // Compression, against servers that accept it (serve --compress): sometimes, with one of its
  // options. The README refuses it with --flood and --fire-and-forget without --rate.
  if (random() < 0.25) {
    args.push('--compress');
    const variant = pick(random, ['plain', 'client-no-takeover', 'server-no-takeover', 'window']);
    if (variant === 'client-no-takeover') args.push('--compress-client-no-context-takeover');
    if (variant === 'server-no-takeover') args.push('--compress-server-no-context-takeover');
    if (variant === 'window') args.push('--compress-window-bits', String(pick(random, [9, 12])));
    if (pattern === 'flood' || (pattern === 'fire' && rate === undefined)) refuse('--compress');
  }

  // Phases: how long, how many, when traffic starts.
  const phase = pick(random, ['short', 'short', 'zero', 'messages', 'ramp-traffic']);
  if (phase === 'zero') args.push('-d', '0');
  else args.push('-d', pick(random, ['300ms', '700ms']));
  if (phase === 'messages' && (pattern === 'echo' || pattern === 'reply' || pattern === 'socketio')) args.push('--messages', String(pick(random, [1, 5, 50])));
  if (phase === 'ramp-traffic') args.push('--ramp-traffic');

  const workers = pick(random, [undefined, undefined, 1, 2]);
  if (workers !== undefined) args.push('--workers', String(workers));
  const shard = pick(random, [undefined, undefined, undefined, '1/2', '2/2']);
  if (shard !== undefined) args.push('--shard', shard);

  const output = pick(random, ['json', 'out', 'out', 'no-save', 'report'] as const);

  // What the README's exit-code table says a run that goes ahead gives: 0 here. (A shard without
  // publishers still receives: serve --mode broadcast sends every connection's --subscribe message
  // to the others in its room, so "nothing received" does not happen against it.)
  // The exception: a shard of a 2-connection subscribe run holds one connection, alone in its room,
  // so it receives nothing, and the README's table gives 1 for a run that measured nothing.
  const alone = pattern === 'subscribe' && shard !== undefined && connections === 2;
  const expectExit = refusals.length > 0 ? 2 : alone ? 1 : 0;
  return { seed, index, pattern, mode, args, expectExit, refusedBy: refusals, output };
}

const STACK_TRACE = /\n\s+at .+:\d+:\d+\)?\n|unexpected error/;

/** Run one case against the servers (URL by mode) and check it. */
export async function runCase(matrixCase: MatrixCase, urls: Readonly<Record<MatrixTarget, string>>): Promise<MatrixOutcome> {
  const problems: string[] = [];
  const dir = mkdtempSync(join(scratch, `case-${matrixCase.index}-`));
  const out = join(dir, 'result.json');
  const args = ['blast', urls[matrixCase.mode], ...matrixCase.args];
  switch (matrixCase.output) {
    case 'json':
      args.push('--json');
      break;
    case 'out':
      args.push('-q', '--out', out);
      break;
    case 'no-save':
      args.push('-q', '--no-save');
      break;
    case 'report':
      args.push('-q', '--out', out, '--report', 'md,junit');
      break;
  }
  const started = performance.now();
  const run = await runCliToEnd(args, { cwd: dir, timeoutMs: 60_000 });
  const ms = performance.now() - started;
  const fail = (text: string) => problems.push(text);

  if (STACK_TRACE.test(run.stderr) || STACK_TRACE.test(run.stdout)) fail(`a stack trace or "unexpected error": ${run.stderr.slice(0, 400)}`);
  if (run.code !== matrixCase.expectExit) fail(`exit ${run.code}, the README says ${matrixCase.expectExit}${matrixCase.refusedBy.length > 0 ? ` (refused by ${matrixCase.refusedBy.join(' or ')})` : ''}; stderr: ${run.stderr.trim().slice(-400)}`);

  if (matrixCase.expectExit === 2) {
    const lines = run.stderr.trim().split('\n');
    if (lines.length !== 1) fail(`a refusal in ${lines.length} lines, not one`);
    else if (!matrixCase.refusedBy.some((option) => option === '(scenario)' ? lines[0]!.includes('--scenario') : lines[0]!.startsWith(`wsbench: ${option}`))) {
      fail(`the refusal names none of ${matrixCase.refusedBy.join(', ')}: ${lines[0]}`);
    }
    if (existsSync(out)) fail('a refused run wrote a result');
    return { case: matrixCase, problems, code: run.code, ms };
  }
  if (run.code === 2 || run.code === null) return { case: matrixCase, problems, code: run.code, ms };

  let result: BlastResult | undefined;
  try {
    if (matrixCase.output === 'json') result = JSON.parse(run.stdout) as BlastResult;
    else if (matrixCase.output !== 'no-save') result = JSON.parse(readFileSync(out, 'utf8')) as BlastResult;
  } catch (error) {
    fail(`no readable result: ${(error as Error).message}`);
  }
  if (matrixCase.output === 'no-save' && readdirSync(dir).length > 0) fail(`--no-save wrote ${readdirSync(dir).join(', ')}`);
  if (matrixCase.output === 'report') {
    for (const suffix of ['.md', '.junit.xml']) if (!existsSync(out.replace(/\.json$/, suffix))) fail(`--report did not write ${suffix}`);
  }
  if (result) {
    const { outcomes, messages } = result;
    if (outcomes.attempted !== outcomes.accepted + outcomes.rejected.total + outcomes.failed.total) fail(`attempted ${outcomes.attempted} ≠ accepted + rejected + failed`);
    if (outcomes.accepted === 0) fail('no connection accepted');
    if ((matrixCase.pattern === 'echo' || matrixCase.pattern === 'socketio') && messages.received > messages.sent) fail(`${matrixCase.pattern} received ${messages.received} > sent ${messages.sent}`);
    if (matrixCase.pattern === 'socketio') {
      const counts = result.protocol?.counts ?? {};
      if (result.protocol?.name !== 'socketio') fail(`protocol ${JSON.stringify(result.protocol?.name)}, not socketio`);
      // With -d 0 the run may end between a connection's upgrade and its namespace connect.
      else if (matrixCase.args[matrixCase.args.indexOf('-d') + 1] === '0' ? (counts.connected ?? 0) > outcomes.accepted : (counts.connected ?? 0) !== outcomes.accepted) {
        fail(`socketio connected ${counts.connected} of ${outcomes.accepted} accepted`);
      }
      if ((counts.acks ?? 0) < messages.received) fail(`socketio acks ${counts.acks} < received ${messages.received}`);
    }
    // Every server here accepts permessage-deflate: each accepted upgrade negotiated it, or none did.
    const compression = result.compression;
    if (matrixCase.args.includes('--compress')) {
      if (!compression || compression.negotiated !== outcomes.accepted || compression.notNegotiated !== 0) fail(`--compress: compression ${JSON.stringify(compression)} for ${outcomes.accepted} accepted`);
    } else if (compression) fail(`compression ${JSON.stringify(compression)} without --compress`);
    const shard = matrixCase.args[matrixCase.args.indexOf('--shard') + 1];
    const recorded = result.config.shard as { index?: number } | undefined;
    if (matrixCase.args.includes('--shard') && recorded?.index !== Number(shard!.split('/')[0])) fail(`config.shard ${JSON.stringify(recorded)} for --shard ${shard}`);
  }
  return { case: matrixCase, problems, code: run.code, ms };
}

/** A case as a user would type it. */
export function describeCase(matrixCase: MatrixCase): string {
  const against = matrixCase.mode === 'socketio' ? 'a socket.io server' : `serve --mode ${matrixCase.mode}`;
  return `#${matrixCase.index} (${matrixCase.pattern} vs ${against}, output ${matrixCase.output}): blast URL ${matrixCase.args.map((arg) => (/[\s"{}]/.test(arg) ? `'${arg}'` : arg)).join(' ')}`;
}
