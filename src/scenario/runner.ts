/**
 * Runs a scenario (scenario/parse.ts) on each connection of a client process. The steps are
 * compiled once into a flat program (loops become counters and jumps), so a connection's progress
 * is a program counter, a loop counter per depth and one timer: no closure per message or step.
 *
 * - `send` renders its template ({{seq}} is the connection's message number, from 1) and sends it.
 *   When the socket holds more than the engine's high-water mark the connection waits for it to
 *   drain; a connection runs at most STEP_BURST steps per turn of the event loop, then yields.
 * - `expect` waits for a message that matches. Messages that arrive while it waits and do not
 *   match, and messages that arrive while no expect waits (during a send or a sleep, before the
 *   steps start, after the last step or a timeout), are unmatched: an expect takes only messages
 *   that arrive while it waits. Its latency runs from the last send since the previous expect, or
 *   from the start of the expect when there was none (a push: the wait for it).
 * - An expect that times out counts as unanswered, recorded at its wait; the connection runs no
 *   further steps and stays open until the run ends.
 * - `sleep` pauses the connection on its timer.
 * - `on:` rules are tried, in order, on every message before anything else: one that matches takes
 *   the message (and sends its answer), whatever the steps are doing, before they start and after
 *   they end. An `every` rule sends on a timer of the connection's own from the start of its steps.
 */
import { performance } from 'node:perf_hooks';
import type { WsConnection } from '../blast/ws-connection.js';
import { jsonAt } from '../message/reply-id.js';
import { MessageTemplate, type DataLayout } from '../message/template.js';
import { MAX_LOOP_DEPTH, type ExpectMatch, type Scenario, type ScenarioRule, type ScenarioStep } from './parse.js';
import type { ScenarioHost, ScenarioRunner } from './types.js';

/** Steps a connection runs in one turn of the event loop at most, so one cannot hold the others up. */
const STEP_BURST = 64;

const enum Op {
  send,
  expect,
  sleep,
  /** Set the loop counter of `depth` to `count`. */
  loopEnter,
  /** Another round of the loop at `depth`? Back to `target`, else on. */
  loopNext,
  /** A loop without a count: back to `target`. */
  jump,
}

interface Matcher {
  readonly kind: ExpectMatch['kind'];
  /** contains, equals, and json with equals: the text, rendered for the connection when the expect starts. */
  readonly template: MessageTemplate | undefined;
  readonly regex: RegExp | undefined;
  readonly path: readonly string[] | undefined;
}

type Instruction =
  | { readonly op: Op.send; readonly template: MessageTemplate }
  | { readonly op: Op.expect; readonly matcher: Matcher; readonly timeoutMs: number }
  | { readonly op: Op.sleep; readonly ms: number }
  | { readonly op: Op.loopEnter; readonly depth: number; readonly count: number }
  | { readonly op: Op.loopNext; readonly depth: number; readonly target: number }
  | { readonly op: Op.jump; readonly target: number };

const enum State {
  /** Running steps now. */
  running,
  /** Yielded after STEP_BURST steps; runs on at the next turn. */
  queued,
  /** Waiting for its socket to drain. */
  draining,
  waiting,
  sleeping,
  /** Ran its last step. */
  done,
  /** An expect timed out: no further steps. */
  timedOut,
  /** The run ended, or the connection closed. */
  stopped,
}

/** One connection's place in the program (WsConnection.pattern). */
class Progress {
  pc = 0;
  state = State.running;
  /** Rounds left of the loop running at each depth. */
  readonly rounds = new Array<number>(MAX_LOOP_DEPTH).fill(0);
  /** performance.now() of the last send since the previous expect; 0 when there was none. */
  lastSendAt = 0;
  waitStartedAt = 0;
  /** The waiting expect's text, rendered for this connection. */
  expected: Buffer | undefined;
  timer: NodeJS.Timeout | undefined;
  /** The `every` rules' timers, one each, while the connection is open. */
  beats: NodeJS.Timeout[] | undefined;
}

/** An `on:` rule that answers, compiled. */
interface Answer {
  readonly matcher: Matcher;
  readonly reply: MessageTemplate | undefined;
}

export class StepRunner implements ScenarioRunner {
  readonly #program: Instruction[] = [];
  readonly #host: ScenarioHost;
  readonly #binary: boolean;
  /** Connections that yielded, to run on at the next turn. */
  readonly #queue: WsConnection[] = [];
  readonly #answers: Answer[];
  readonly #beats: { readonly ms: number; readonly send: MessageTemplate }[];

  /** `data`: the process's --data layout, for {{data.FIELD}} in sends and expects. */
  constructor(scenario: Scenario, host: ScenarioHost, binary: boolean, data?: DataLayout) {
    this.#host = host;
    this.#binary = binary;
    compile(scenario.steps, this.#program, 0, data);
    const rules: readonly ScenarioRule[] = scenario.rules ?? [];
    this.#answers = rules.flatMap((rule) => rule.kind === 'answer' ? [{ matcher: compileMatch(rule.match, data), reply: rule.send === null ? undefined : new MessageTemplate(rule.send, '--scenario on.send', data) }] : []);
    this.#beats = rules.flatMap((rule) => rule.kind === 'every' ? [{ ms: rule.ms, send: new MessageTemplate(rule.send, '--scenario on.send', data) }] : []);
  }

  start(connection: WsConnection): void {
    const progress = new Progress();
    connection.pattern = progress;
    if (this.#beats.length > 0) progress.beats = this.#beats.map((beat, index) => setInterval(this.#onBeat, beat.ms, connection, index));
    this.#run(connection, progress);
  }

  message(connection: WsConnection, payload: Buffer): void {
    if (this.#answers.length > 0 && this.#answered(connection, payload)) return;
    const progress = connection.pattern as Progress | undefined;
    if (progress?.state !== State.waiting) return this.#host.unmatched(connection, payload);
    const step = this.#program[progress.pc] as Extract<Instruction, { op: Op.expect }>;
    if (!matches(step.matcher, payload, progress.expected)) return this.#host.unmatched(connection, payload);
    clearTimeout(progress.timer);
    progress.timer = undefined;
    this.#host.matched(connection, payload, waitedUs(progress));
    progress.lastSendAt = 0;
    progress.expected = undefined;
    progress.pc++;
    this.#run(connection, progress);
  }

  drained(connection: WsConnection): void {
    const progress = connection.pattern as Progress | undefined;
    if (progress?.state === State.draining) this.#run(connection, progress);
  }

  finished(connection: WsConnection): boolean {
    const state = (connection.pattern as Progress | undefined)?.state;
    return state === State.done || state === State.timedOut;
  }

  stop(connection: WsConnection): number | undefined {
    const progress = connection.pattern as Progress | undefined;
    if (!progress) return undefined;
    clearTimeout(progress.timer);
    progress.timer = undefined;
    if (progress.beats) for (const beat of progress.beats) clearInterval(beat);
    progress.beats = undefined;
    const wasWaiting = progress.state === State.waiting;
    if (progress.state !== State.done && progress.state !== State.timedOut) progress.state = State.stopped;
    return wasWaiting ? waitedUs(progress) : undefined;
  }

  /** Run steps from `progress.pc` until one waits (expect, sleep, drain), the burst is spent, or the last. */
  #run(connection: WsConnection, progress: Progress): void {
    progress.state = State.running;
    const program = this.#program;
    for (let budget = STEP_BURST; progress.pc < program.length; budget--) {
      if (budget === 0) {
        progress.state = State.queued;
        this.#queue.push(connection);
        if (this.#queue.length === 1) setImmediate(this.#onTurn);
        return;
      }
      const step = program[progress.pc]!;
      switch (step.op) {
        case Op.send: {
          progress.pc++;
          progress.lastSendAt = performance.now();
          const message = step.template.render({ seq: connection.sent + 1, conn: connection.index, worker: this.#host.workerIndex, data: this.#host.rowOf(connection) });
          if (!this.#host.send(connection, message, this.#binary)) {
            progress.state = State.draining;
            return;
          }
          break;
        }
        case Op.expect:
          progress.state = State.waiting;
          progress.waitStartedAt = performance.now();
          progress.expected = step.matcher.template?.render({ seq: connection.sent, conn: connection.index, worker: this.#host.workerIndex, data: this.#host.rowOf(connection) });
          progress.timer = setTimeout(this.#onTimer, step.timeoutMs, connection);
          return;
        case Op.sleep:
          progress.pc++;
          progress.state = State.sleeping;
          progress.timer = setTimeout(this.#onTimer, step.ms, connection);
          return;
        case Op.loopEnter:
          progress.rounds[step.depth] = step.count;
          progress.pc++;
          break;
        case Op.loopNext:
          progress.pc = --progress.rounds[step.depth]! > 0 ? step.target : progress.pc + 1;
          break;
        case Op.jump:
          progress.pc = step.target;
          break;
      }
    }
    progress.state = State.done;
    this.#host.completed(connection);
  }

  /** One callback for every connection's timer: a sleep ends, or an expect times out. */
  readonly #onTimer = (connection: WsConnection): void => {
    const progress = connection.pattern as Progress;
    progress.timer = undefined;
    if (progress.state === State.sleeping) return this.#run(connection, progress);
    if (progress.state !== State.waiting) return;
    progress.state = State.timedOut;
    progress.expected = undefined;
    this.#host.expectTimedOut(connection, waitedUs(progress));
  };

  /** Does an `on:` rule take the message? Then it answers (or takes it silently). */
  #answered(connection: WsConnection, payload: Buffer): boolean {
    const context = { seq: connection.sent, conn: connection.index, worker: this.#host.workerIndex, data: this.#host.rowOf(connection) };
    for (const answer of this.#answers) {
      if (!matches(answer.matcher, payload, answer.matcher.template?.render(context))) continue;
      this.#host.taken(connection, payload);
      if (answer.reply) this.#host.sendApart(connection, answer.reply.render(context), this.#binary);
      return true;
    }
    return false;
  }

  /** One callback for every connection's `every` timers. */
  readonly #onBeat = (connection: WsConnection, index: number): void => {
    this.#host.sendApart(connection, this.#beats[index]!.send.render({ seq: connection.sent, conn: connection.index, worker: this.#host.workerIndex, data: this.#host.rowOf(connection) }), this.#binary);
  };

  readonly #onTurn = (): void => {
    for (const connection of this.#queue.splice(0)) {
      const progress = connection.pattern as Progress;
      if (progress.state === State.queued) this.#run(connection, progress);
    }
  };
}

/** An expect's wait so far, µs: from the last send since the previous expect, or from its start. */
function waitedUs(progress: Progress): number {
  return (performance.now() - (progress.lastSendAt || progress.waitStartedAt)) * 1000;
}

function compile(steps: readonly ScenarioStep[], program: Instruction[], depth: number, data: DataLayout | undefined): void {
  for (const step of steps) {
    switch (step.kind) {
      case 'send':
        program.push({ op: Op.send, template: new MessageTemplate(step.text, '--scenario send', data) });
        break;
      case 'expect':
        program.push({ op: Op.expect, matcher: compileMatch(step.match, data), timeoutMs: step.timeoutMs });
        break;
      case 'sleep':
        program.push({ op: Op.sleep, ms: step.ms });
        break;
      case 'loop': {
        if (step.count !== null) program.push({ op: Op.loopEnter, depth, count: step.count });
        const target = program.length;
        compile(step.steps, program, depth + 1, data);
        program.push(step.count === null ? { op: Op.jump, target } : { op: Op.loopNext, depth, target });
        break;
      }
    }
  }
}

function compileMatch(match: ExpectMatch, data: DataLayout | undefined): Matcher {
  switch (match.kind) {
    case 'any':
      return { kind: match.kind, template: undefined, regex: undefined, path: undefined };
    case 'contains':
    case 'equals':
      return { kind: match.kind, template: new MessageTemplate(match.text, '--scenario expect', data), regex: undefined, path: undefined };
    case 'regex':
      // Without g and y: a regex that keeps its lastIndex would match every other message.
      return { kind: match.kind, template: undefined, regex: new RegExp(match.source, match.flags.replace(/[gy]/g, '')), path: undefined };
    case 'json':
      return { kind: match.kind, template: match.equals === null ? undefined : new MessageTemplate(match.equals, '--scenario expect', data), regex: undefined, path: match.path.split('.') };
  }
}

function matches(matcher: Matcher, payload: Buffer, expected: Buffer | undefined): boolean {
  switch (matcher.kind) {
    case 'any':
      return true;
    case 'contains':
      return payload.indexOf(expected!) !== -1;
    case 'equals':
      return payload.equals(expected!);
    case 'regex':
      return matcher.regex!.test(payload.toString());
    case 'json': {
      const value = jsonAt(payload, matcher.path!);
      if (value === undefined) return false;
      if (expected === undefined) return value !== null;
      // Compared as text: a string by its characters, anything else by its JSON (3 matches "3").
      return (typeof value === 'string' ? value : JSON.stringify(value)) === expected.toString();
    }
  }
}
