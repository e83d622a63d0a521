/**
 * --scenario FILE: read a scenario and check all of it before anything starts. YAML (.yaml, .yml)
 * or JSON. A sequence with loops, not a programming language:
 *
 *   connect:                          optional; every connection's upgrade
 *     headers: { Name: value }        added to -H (an -H header of the same name wins)
 *     subprotocol: name               Sec-WebSocket-Protocol (--subprotocol wins)
 *   steps:                            run in order by each connection
 *     - send: TEXT                    a message template: {{seq}} {{conn}} {{worker}} {{now_us}} {{uuid}} {{random:N}} {{data.FIELD}}
 *     - expect:                       wait for a message that matches, for at most `timeout`
 *         match: TEXT | /regex/flags  the message contains TEXT, or the regex finds a match in it
 *         equals: TEXT                the whole message is TEXT
 *         json: { path: P, equals: V }  the message is JSON with V at path P (compared as text:
 *                                     3 matches 3 and "3"); without equals, anything but null there
 *         timeout: 5s                 default 5s
 *       (`expect: TEXT` is `expect: { match: TEXT }`; none of match, equals or json takes any message)
 *     - sleep: DURATION               pause the connection (1ms or more)
 *     - loop:
 *         count: N                    1 or more; omitted: until the run ends
 *         steps: [...]
 *   on:                               optional; rules that hold at every point of the steps
 *     - match: TEXT | /regex/flags    (or equals: TEXT, or json: {...} as in expect) a message
 *       send: TEXT                    that matches is answered with send (or, without send, just
 *                                     taken): never given to an expect, never unmatched
 *     - every: DURATION               send on a timer, from the start of the steps to the run's end
 *       send: TEXT
 *
 * A rule's send may hold what a send step may ({{seq}} is the connection's last step message; a
 * rule's messages are counted apart, as onSent, and do not move {{seq}}). A rule's match follows an
 * expect's.
 *
 * An expect's TEXT and equals may hold {{seq}} (the number of the connection's last message sent),
 * {{conn}}, {{worker}} and {{data.FIELD}} (the connection's --data row). Loops nest MAX_LOOP_DEPTH deep, a file holds at most MAX_STEPS steps, and
 * a loop without a count needs an expect or a sleep in it (it would send without pause) and must
 * be the last step of its list (what follows it would never run).
 *
 * The result is plain data (it crosses to the client processes as JSON); scenario/runner.ts
 * compiles it. Every error is a ConfigError naming the file, the step's path
 * (`steps[2].loop.steps[1].expect.timeout`) and what is allowed: exit 2, before any connection.
 */
import { ConfigError } from '../config/errors.js';
import { durationMs, integer } from '../config/validate.js';
import { readJsonOrYaml } from '../gate/files.js';
import { JSON_PATH, slashRegex } from '../message/reply-id.js';
import { MessageTemplate } from '../message/template.js';

export type ExpectMatch =
  | { readonly kind: 'any' }
  | { readonly kind: 'contains'; readonly text: string }
  | { readonly kind: 'equals'; readonly text: string }
  | { readonly kind: 'regex'; readonly source: string; readonly flags: string }
  /** `equals` null: anything but null (or nothing) at `path`. */
  | { readonly kind: 'json'; readonly path: string; readonly equals: string | null };

export type ScenarioStep =
  | { readonly kind: 'send'; readonly text: string }
  | { readonly kind: 'expect'; readonly match: ExpectMatch; readonly timeoutMs: number }
  | { readonly kind: 'sleep'; readonly ms: number }
  /** `count` null: until the run ends. */
  | { readonly kind: 'loop'; readonly count: number | null; readonly steps: readonly ScenarioStep[] };

/**
 * An `on:` rule: `answer` takes every message that matches, at any point of the steps, and sends
 * `send` (null: takes it silently); `every` sends `send` on a timer while the steps run and after.
 */
export type ScenarioRule =
  | { readonly kind: 'answer'; readonly match: ExpectMatch; readonly send: string | null }
  | { readonly kind: 'every'; readonly ms: number; readonly send: string };

/** What every connection runs; plain data. */
export interface Scenario {
  /** The file, as given. */
  readonly file: string;
  readonly steps: readonly ScenarioStep[];
  /** The `on:` rules, in the file's order (the first that matches a message takes it). */
  readonly rules: readonly ScenarioRule[];
}

/** The file's connect section: merged into the run's headers and subprotocol (config/blast-config.ts). */
export interface ScenarioConnect {
  readonly headers: Readonly<Record<string, string>>;
  readonly subprotocol: string | undefined;
}

export const MAX_LOOP_DEPTH = 3;
export const MAX_STEPS = 256;
/** `on:` rules in a file at most: each is tried on every message (an `every` is a timer per connection). */
export const MAX_RULES = 16;
export const DEFAULT_EXPECT_TIMEOUT_MS = 5000;
/** The placeholders an expect may hold: the connection's own numbers, known when it waits. */
const EXPECT_PLACEHOLDERS = ['seq', 'conn', 'worker', 'data'];
const STEP_KINDS = ['send', 'expect', 'sleep', 'loop'] as const;

export function readScenarioFile(file: string, option = '--scenario'): { scenario: Scenario; connect: ScenarioConnect } {
  return parseScenario(readJsonOrYaml(option, file), file, option);
}

/** A scenario already read (the file's parsed YAML or JSON), checked. */
export function parseScenario(document: unknown, file: string, option = '--scenario'): { scenario: Scenario; connect: ScenarioConnect } {
  return new ScenarioParser(option, file).parse(document);
}

type Fields = Record<string, unknown>;

class ScenarioParser {
  #steps = 0;

  constructor(
    readonly option: string,
    readonly file: string,
  ) {}

  parse(document: unknown): { scenario: Scenario; connect: ScenarioConnect } {
    if (!isFields(document)) throw new ConfigError(this.option, this.file, 'expected a scenario: an object with steps: [...] and optionally connect: {headers, subprotocol}');
    this.#only('', document, ['connect', 'steps', 'on']);
    const connect = this.#connect(document.connect);
    const steps = this.#list('steps', document.steps, 0);
    const rules = this.#rules(document.on);
    return { scenario: { file: this.file, steps, rules }, connect };
  }

  /** `on:` one rule or a list of them. */
  #rules(value: unknown): ScenarioRule[] {
    if (value === undefined) return [];
    const list = Array.isArray(value) ? value : [value];
    if (list.length === 0 || list.length > MAX_RULES) this.#fail('on', value, `expected one rule or a list of 1 to ${MAX_RULES}, each {match: TEXT, send: TEXT} or {every: 30s, send: TEXT}`);
    return list.map((rule, index) => this.#rule(Array.isArray(value) ? `on[${index}]` : 'on', rule));
  }

  #rule(path: string, value: unknown): ScenarioRule {
    if (!isFields(value)) this.#fail(path, value ?? null, 'expected {match: TEXT, send: TEXT} (answer a message) or {every: 30s, send: TEXT} (send on a timer)');
    const send = value.send;
    if (send !== undefined && typeof send !== 'string') this.#fail(`${path}.send`, send, 'expected the message to send, as text (a template: {{seq}}, {{conn}}, …)');
    if (send !== undefined) new MessageTemplate(send, this.#name(`${path}.send`));
    if (value.every !== undefined) {
      this.#only(path, value, ['every', 'send']);
      if (send === undefined) this.#fail(`${path}.send`, null, 'expected the message an every rule sends');
      return { kind: 'every', ms: this.#duration(`${path}.every`, value.every, undefined, 10), send };
    }
    this.#only(path, value, ['match', 'equals', 'json', 'send']);
    const given = (['match', 'equals', 'json'] as const).filter((key) => value[key] !== undefined);
    if (given.length !== 1) this.#fail(path, value, 'expected exactly one of match, equals or json (what the rule answers), or every (a timer)');
    return { kind: 'answer', match: this.#matchOf(path, value), send: send ?? null };
  }

  /** An expect's or a rule's match: match, equals or json (none: any message). */
  #matchOf(path: string, value: Fields): ExpectMatch {
    if (value.match !== undefined) return this.#match(`${path}.match`, value.match);
    if (value.equals !== undefined) {
      if (typeof value.equals !== 'string' || value.equals === '') this.#fail(`${path}.equals`, value.equals ?? null, 'expected the whole text of the message');
      this.#expectTemplate(`${path}.equals`, value.equals);
      return { kind: 'equals', text: value.equals };
    }
    if (value.json !== undefined) return this.#json(`${path}.json`, value.json);
    return { kind: 'any' };
  }

  #connect(value: unknown): ScenarioConnect {
    if (value === undefined) return { headers: {}, subprotocol: undefined };
    if (!isFields(value)) this.#fail('connect', value, 'expected {headers: {Name: value}, subprotocol: name}');
    this.#only('connect', value, ['headers', 'subprotocol']);
    const headers: Record<string, string> = {};
    if (value.headers !== undefined) {
      if (!isFields(value.headers)) this.#fail('connect.headers', value.headers, 'expected a map of header names to values');
      for (const [name, text] of Object.entries(value.headers)) {
        if (typeof text !== 'string' && typeof text !== 'number' && typeof text !== 'boolean') this.#fail(`connect.headers.${name}`, text, 'expected a header value (text)');
        headers[name] = String(text);
      }
    }
    const subprotocol = value.subprotocol;
    if (subprotocol !== undefined && (typeof subprotocol !== 'string' || subprotocol.trim() === '' || /[\r\n]/.test(subprotocol))) {
      this.#fail('connect.subprotocol', subprotocol, 'expected a subprotocol name such as jsonrpc');
    }
    return { headers, subprotocol: subprotocol as string | undefined };
  }

  #list(path: string, value: unknown, depth: number): ScenarioStep[] {
    if (!Array.isArray(value) || value.length === 0) this.#fail(path, value ?? null, 'expected a list of one or more steps (send, expect, sleep, loop)');
    const steps = value.map((step, index) => this.#step(`${path}[${index}]`, step, depth));
    steps.forEach((step, index) => {
      if (step.kind === 'loop' && step.count === null && index < steps.length - 1) {
        this.#fail(`${path}[${index}].loop.count`, null, `a loop without a count runs until the run ends, so the ${steps.length - 1 - index} step(s) after it would never run: give it a count, or move them into it`);
      }
    });
    return steps;
  }

  #step(path: string, value: unknown, depth: number): ScenarioStep {
    if (++this.#steps > MAX_STEPS) this.#fail(path, value, `expected at most ${MAX_STEPS} steps in a scenario: it is a sequence, not a program`);
    const keys = isFields(value) ? Object.keys(value) : [];
    if (!isFields(value) || keys.length !== 1 || !(STEP_KINDS as readonly string[]).includes(keys[0]!)) {
      this.#fail(path, value ?? null, `expected a step with exactly one of ${STEP_KINDS.join(', ')} (e.g. {send: "ping"})`);
    }
    const kind = keys[0] as (typeof STEP_KINDS)[number];
    const at = `${path}.${kind}`;
    const body = value[kind];
    switch (kind) {
      case 'send':
        if (typeof body !== 'string') this.#fail(at, body ?? null, 'expected the message to send, as text (a template: {{seq}}, {{conn}}, …)');
        new MessageTemplate(body, this.#name(at));
        return { kind, text: body };
      case 'sleep':
        return { kind, ms: this.#duration(at, body, undefined, 1) };
      case 'expect':
        return this.#expect(at, body);
      case 'loop':
        return this.#loop(at, body, depth + 1);
    }
  }

  #expect(path: string, value: unknown): ScenarioStep {
    if (typeof value === 'string') return { kind: 'expect', match: this.#match(`${path}`, value), timeoutMs: DEFAULT_EXPECT_TIMEOUT_MS };
    if (value === null) value = {};
    if (!isFields(value)) this.#fail(path, value, 'expected {match: TEXT or /regex/, timeout: 2s}, {equals: TEXT, timeout: 2s} or {json: {path: id, equals: 1}, timeout: 2s}');
    this.#only(path, value, ['match', 'equals', 'json', 'timeout']);
    if ((['match', 'equals', 'json'] as const).filter((key) => value[key] !== undefined).length > 1) this.#fail(path, value, 'expected one of match, equals or json, not several');
    return { kind: 'expect', match: this.#matchOf(path, value), timeoutMs: this.#duration(`${path}.timeout`, value.timeout, DEFAULT_EXPECT_TIMEOUT_MS, 1) };
  }

  #match(path: string, value: unknown): ExpectMatch {
    if (typeof value !== 'string' || value === '') this.#fail(path, value ?? null, 'expected text the message contains, or a regular expression between slashes such as /"result":/');
    const regex = slashRegex(value, this.#name(path));
    if (regex) return { kind: 'regex', source: regex.source, flags: regex.flags };
    this.#expectTemplate(path, value);
    return { kind: 'contains', text: value };
  }

  #json(path: string, value: unknown): ExpectMatch {
    if (!isFields(value)) this.#fail(path, value, 'expected {path: id} or {path: id, equals: 1}');
    this.#only(path, value, ['path', 'equals']);
    if (typeof value.path !== 'string' || !JSON_PATH.test(value.path)) {
      this.#fail(`${path}.path`, value.path ?? null, 'expected a JSON field path such as id or result.id (dots between keys and array indexes)');
    }
    const equals = value.equals;
    if (equals === undefined) return { kind: 'json', path: value.path, equals: null };
    if (equals !== null && typeof equals === 'object') this.#fail(`${path}.equals`, equals, 'expected text, a number, true, false or null (compared as text with the value at the path)');
    const text = typeof equals === 'string' ? equals : JSON.stringify(equals);
    this.#expectTemplate(`${path}.equals`, text);
    return { kind: 'json', path: value.path, equals: text };
  }

  #loop(path: string, value: unknown, depth: number): ScenarioStep {
    if (depth > MAX_LOOP_DEPTH) this.#fail(path, value, `expected loops nested at most ${MAX_LOOP_DEPTH} deep`);
    if (!isFields(value)) this.#fail(path, value ?? null, 'expected {count: 10, steps: [...]} (without count: until the run ends)');
    this.#only(path, value, ['count', 'steps']);
    let count: number | null = null;
    if (value.count !== undefined) {
      if (typeof value.count !== 'number' && typeof value.count !== 'string') this.#fail(`${path}.count`, value.count, 'expected an integer from 1 to 1000000');
      count = integer(this.#name(`${path}.count`), value.count, 1, 1, 1_000_000);
    }
    const steps = this.#list(`${path}.steps`, value.steps, depth);
    if (count === null && !steps.some(waits)) {
      this.#fail(`${path}.steps`, value.steps, 'a loop without a count runs until the run ends: it needs an expect or a sleep, or it would send without pause');
    }
    return { kind: 'loop', count, steps };
  }

  /** An expect's text: a template whose placeholders are the connection's own numbers. */
  #expectTemplate(path: string, text: string): void {
    new MessageTemplate(text, this.#name(path));
    for (const [placeholder, name] of text.matchAll(/\{\{\s*([a-z_]+)/g)) {
      if (!EXPECT_PLACEHOLDERS.includes(name!)) {
        this.#fail(path, placeholder + '}}', `expected only {{seq}} (the connection's last message sent), {{conn}}, {{worker}} or {{data.FIELD}} in an expect`);
      }
    }
  }

  /** A duration: text with a unit (500ms, 2s), or a bare number of seconds as on the command line. */
  #duration(path: string, value: unknown, fallback: number | undefined, minMs: number): number {
    if (value === undefined && fallback !== undefined) return fallback;
    if (typeof value !== 'string' && typeof value !== 'number') this.#fail(path, value ?? null, 'expected a duration such as 500ms or 2s');
    return durationMs(this.#name(path), String(value), 0, minMs);
  }

  #only(path: string, value: Fields, allowed: readonly string[]): void {
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) this.#fail(path ? `${path}.${key}` : key, value[key] ?? null, `unknown field; expected ${allowed.join(', ')}${path ? ` in ${path}` : ' at the top'}`);
    }
  }

  /** What an error starts with: the option, the file and the path in it. */
  #name(path: string): string {
    return `${this.option} ${this.file}${path ? ` ${path}` : ''}`;
  }

  #fail(path: string, value: unknown, allowed: string): never {
    throw new ConfigError(this.#name(path), value, allowed);
  }
}

/** Steps in all, loops and what they hold. */
export function countSteps(steps: readonly ScenarioStep[]): number {
  return steps.reduce((total, step) => total + 1 + (step.kind === 'loop' ? countSteps(step.steps) : 0), 0);
}

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Does the step wait (an expect or a sleep, at any depth)? Then a loop of it yields each time round. */
function waits(step: ScenarioStep): boolean {
  return step.kind === 'expect' || step.kind === 'sleep' || (step.kind === 'loop' && step.steps.some(waits));
}
