/**
 * --scenario files: every field is checked before anything starts, and each error names the file,
 * the step's path and what is allowed. The parsed scenario is plain data (it crosses IPC as JSON).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { resolveBlastConfig } from '../src/config/blast-config.js';
import { ConfigError } from '../src/config/errors.js';
import { MAX_STEPS, parseScenario, readScenarioFile } from '../src/scenario/parse.js';

const scratch = mkdtempSync(join(tmpdir(), 'wsbench-scenario-'));
let fileCount = 0;
function scenarioFile(text: string, suffix = '.yaml'): string {
  const path = join(scratch, `s${++fileCount}${suffix}`);
  writeFileSync(path, text);
  return path;
}

const send = { send: 'ping' };
const expect = { expect: { match: 'pong', timeout: '1s' } };

/** parseScenario's error for `document`, which must be a ConfigError. */
function errorOf(document: unknown): string {
  try {
    parseScenario(document, 'f.yaml');
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    assert.equal(error.exitCode, 2);
    return error.message;
  }
  assert.fail(`no error for ${JSON.stringify(document)}`);
}

describe('scenario files: errors name the file, the step path and what is allowed', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['not an object', [send], /^--scenario: "f.yaml" is not valid; expected a scenario: an object with steps/],
    ['an unknown top field', { steps: [send], step: [] }, /^--scenario f\.yaml step: \[\] is not valid; unknown field; expected connect, steps, on at the top$/],
    ['no steps', { connect: {} }, /^--scenario f\.yaml steps: null is not valid; expected a list of one or more steps/],
    ['an empty list', { steps: [] }, /^--scenario f\.yaml steps: \[\] is not valid; expected a list of one or more steps/],
    ['two kinds in one step', { steps: [{ send: 'a', expect: 'b' }] }, /^--scenario f\.yaml steps\[0\]: \{"send":"a","expect":"b"\} is not valid; expected a step with exactly one of send, expect, sleep, loop/],
    ['an unknown step', { steps: [send, { recv: 'x' }] }, /^--scenario f\.yaml steps\[1\]: \{"recv":"x"\} is not valid; expected a step with exactly one of/],
    ['send not text', { steps: [{ send: { a: 1 } }] }, /^--scenario f\.yaml steps\[0\]\.send: \{"a":1\} is not valid; expected the message to send, as text/],
    ['an unknown placeholder in send', { steps: [{ send: 'x {{sequence}}' }] }, /^--scenario f\.yaml steps\[0\]\.send: "\{\{sequence\}\}" is not valid; expected one of the placeholders \{\{seq\}\}/],
    ['{{random:0}} in send', { steps: [{ send: '{{random:0}}' }] }, /steps\[0\]\.send: "\{\{random:0\}\}" is not valid; expected \{\{random:N\}\} with N from 1/],
    ['a sleep without unit or number', { steps: [{ sleep: 'soon' }] }, /^--scenario f\.yaml steps\[0\]\.sleep: "soon" is not valid; expected a duration from 1ms/],
    ['a sleep of 0', { steps: [{ sleep: '0ms' }] }, /steps\[0\]\.sleep: "0ms" is not valid; expected a duration from 1ms/],
    ['an unknown expect field', { steps: [{ expect: { match: 'x', within: '1s' } }] }, /^--scenario f\.yaml steps\[0\]\.expect\.within: "1s" is not valid; unknown field; expected match, equals, json, timeout in steps\[0\]\.expect$/],
    ['match and json together', { steps: [{ expect: { match: 'x', json: { path: 'id' } } }] }, /steps\[0\]\.expect: .* is not valid; expected one of match, equals or json, not several/],
    ['an empty match', { steps: [{ expect: { match: '' } }] }, /steps\[0\]\.expect\.match: "" is not valid; expected text the message contains, or a regular expression/],
    ['a bad regex', { steps: [{ expect: { match: '/(/' } }] }, /steps\[0\]\.expect\.match: "\/\(\/" is not valid; expected a valid regular expression/],
    ['a timeout with a bad unit', { steps: [send, { loop: { count: 2, steps: [{ expect: { match: 'x', timeout: '2 sec' } }] } }] }, /^--scenario f\.yaml steps\[1\]\.loop\.steps\[0\]\.expect\.timeout: "2 sec" is not valid; expected a duration/],
    ['a timeout that is a list', { steps: [{ expect: { timeout: [1] } }] }, /steps\[0\]\.expect\.timeout: \[1\] is not valid; expected a duration such as 500ms or 2s/],
    ['a json path with spaces', { steps: [{ expect: { json: { path: 'a b' } } }] }, /steps\[0\]\.expect\.json\.path: "a b" is not valid; expected a JSON field path/],
    ['json without path', { steps: [{ expect: { json: { equals: 1 } } }] }, /steps\[0\]\.expect\.json\.path: null is not valid; expected a JSON field path/],
    ['json with an object to equal', { steps: [{ expect: { json: { path: 'id', equals: { a: 1 } } } }] }, /steps\[0\]\.expect\.json\.equals: \{"a":1\} is not valid; expected text, a number, true, false or null/],
    ['{{uuid}} in an expect', { steps: [{ expect: { json: { path: 'id', equals: '{{uuid}}' } } }] }, /steps\[0\]\.expect\.json\.equals: "\{\{uuid\}\}" is not valid; expected only \{\{seq\}\}/],
    ['{{now_us}} in a match', { steps: [{ expect: { match: 'at {{now_us}}' } }] }, /steps\[0\]\.expect\.match: "\{\{now_us\}\}" is not valid; expected only \{\{seq\}\}/],
    ['a loop that is a number', { steps: [{ loop: 3 }] }, /steps\[0\]\.loop: 3 is not valid; expected \{count: 10, steps: \[\.\.\.\]\}/],
    ['a loop count of 0', { steps: [{ loop: { count: 0, steps: [send] } }] }, /^--scenario f\.yaml steps\[0\]\.loop\.count: 0 is not valid; expected an integer from 1 to 1000000/],
    ['a loop count that is text', { steps: [{ loop: { count: 'many', steps: [send] } }] }, /steps\[0\]\.loop\.count: "many" is not valid; expected an integer from 1/],
    ['a loop without steps', { steps: [{ loop: { count: 2 } }] }, /^--scenario f\.yaml steps\[0\]\.loop\.steps: null is not valid; expected a list of one or more steps/],
    ['an unknown loop field', { steps: [{ loop: { times: 2, steps: [send] } }] }, /steps\[0\]\.loop\.times: 2 is not valid; unknown field; expected count, steps/],
    ['a loop until the end that never waits', { steps: [{ loop: { steps: [send, send] } }] }, /^--scenario f\.yaml steps\[0\]\.loop\.steps: .* is not valid; a loop without a count runs until the run ends: it needs an expect or a sleep/],
    ['steps after a loop until the end', { steps: [{ loop: { steps: [send, expect] } }, send] }, /^--scenario f\.yaml steps\[0\]\.loop\.count: null is not valid; a loop without a count runs until the run ends, so the 1 step\(s\) after it would never run/],
    ['loops 4 deep', { steps: [{ loop: { count: 2, steps: [{ loop: { count: 2, steps: [{ loop: { count: 2, steps: [{ loop: { count: 2, steps: [send] } }] } }] } }] } }] }, /^--scenario f\.yaml steps\[0\]\.loop\.steps\[0\]\.loop\.steps\[0\]\.loop\.steps\[0\]\.loop: .* is not valid; expected loops nested at most 3 deep/],
    ['too many steps', { steps: Array.from({ length: MAX_STEPS + 1 }, () => send) }, new RegExp(`steps\\[${MAX_STEPS}\\]: \\{"send":"ping"\\} is not valid; expected at most ${MAX_STEPS} steps`)],
    ['an unknown connect field', { connect: { protocol: 'x' }, steps: [send] }, /^--scenario f\.yaml connect\.protocol: "x" is not valid; unknown field; expected headers, subprotocol in connect$/],
    ['headers that are a list', { connect: { headers: ['a: b'] }, steps: [send] }, /^--scenario f\.yaml connect\.headers: \["a: b"\] is not valid; expected a map of header names to values/],
    ['a header value that is a map', { connect: { headers: { A: { b: 1 } } }, steps: [send] }, /^--scenario f\.yaml connect\.headers\.A: \{"b":1\} is not valid; expected a header value/],
    ['an empty subprotocol', { connect: { subprotocol: ' ' }, steps: [send] }, /^--scenario f\.yaml connect\.subprotocol: " " is not valid; expected a subprotocol name/],
    ['an empty equals', { steps: [{ expect: { equals: '' } }] }, /steps\[0\]\.expect\.equals: "" is not valid; expected the whole text of the message/],
    ['a rule that is text', { steps: [send], on: 'ping' }, /^--scenario f\.yaml on: "ping" is not valid; expected \{match: TEXT, send: TEXT\} \(answer a message\) or \{every: 30s, send: TEXT\}/],
    ['an empty rule list', { steps: [send], on: [] }, /^--scenario f\.yaml on: \[\] is not valid; expected one rule or a list of 1 to 16/],
    ['a rule without a match', { steps: [send], on: [{ send: '3' }] }, /^--scenario f\.yaml on\[0\]: \{"send":"3"\} is not valid; expected exactly one of match, equals or json/],
    ['a rule with two matches', { steps: [send], on: { match: '2', equals: '2', send: '3' } }, /^--scenario f\.yaml on: .* is not valid; expected exactly one of match, equals or json/],
    ['an every without send', { steps: [send], on: [{ every: '1s' }] }, /^--scenario f\.yaml on\[0\]\.send: null is not valid; expected the message an every rule sends/],
    ['an every under 10ms', { steps: [send], on: [{ every: '5ms', send: 'x' }] }, /on\[0\]\.every: "5ms" is not valid; expected a duration from 10ms/],
    ['an every with a match', { steps: [send], on: [{ every: '1s', match: 'x', send: 'y' }] }, /on\[0\]\.match: "x" is not valid; unknown field; expected every, send in on\[0\]/],
    ['an unknown placeholder in a rule send', { steps: [send], on: { match: 'x', send: '{{sequence}}' } }, /^--scenario f\.yaml on\.send: "\{\{sequence\}\}" is not valid; expected one of the placeholders/],
    ['{{uuid}} in a rule equals', { steps: [send], on: { equals: '{{uuid}}', send: 'x' } }, /on\.equals: "\{\{uuid\}\}" is not valid; expected only \{\{seq\}\}/],
    ['too many rules', { steps: [send], on: Array.from({ length: 17 }, () => ({ equals: '2', send: '3' })) }, /on: .* is not valid; expected one rule or a list of 1 to 16/],
  ];
  for (const [name, document, pattern] of cases) {
    it(name, () => {
      const message = errorOf(document);
      assert.match(message, pattern);
      assert.doesNotMatch(message, /\n/, 'one line');
    });
  }
});

describe('scenario files: what a valid one becomes', () => {
  it('plain data with defaults: expect timeout 5s, TEXT shorthand, equals compared as text, loops kept', () => {
    const { scenario, connect } = parseScenario(
      {
        connect: { headers: { Authorization: 'Bearer x', 'X-Count': 3 }, subprotocol: 'jsonrpc' },
        steps: [
          { send: '{"id":{{seq}}}' },
          { expect: '"result"' },
          { expect: { json: { path: 'id', equals: 3 }, timeout: 2 } },
          { expect: { match: '/"id":\\s*\\d+/i', timeout: '250ms' } },
          { expect: null },
          { loop: { count: '2k', steps: [{ sleep: '100ms' }, { expect: { json: { path: 'result.ok' } } }] } },
          { loop: { steps: [{ send: 'x' }, { sleep: 1 }] } },
        ],
        on: [{ equals: '2', send: '3' }, { json: { path: 'event', equals: 'phx_reply' } }, { every: '30s', send: '\n' }],
      },
      'f.yaml',
    );
    assert.deepEqual(connect, { headers: { Authorization: 'Bearer x', 'X-Count': '3' }, subprotocol: 'jsonrpc' });
    assert.deepEqual(scenario, {
      file: 'f.yaml',
      steps: [
        { kind: 'send', text: '{"id":{{seq}}}' },
        { kind: 'expect', match: { kind: 'contains', text: '"result"' }, timeoutMs: 5000 },
        { kind: 'expect', match: { kind: 'json', path: 'id', equals: '3' }, timeoutMs: 2000 },
        { kind: 'expect', match: { kind: 'regex', source: '"id":\\s*\\d+', flags: 'i' }, timeoutMs: 250 },
        { kind: 'expect', match: { kind: 'any' }, timeoutMs: 5000 },
        { kind: 'loop', count: 2000, steps: [{ kind: 'sleep', ms: 100 }, { kind: 'expect', match: { kind: 'json', path: 'result.ok', equals: null }, timeoutMs: 5000 }] },
        { kind: 'loop', count: null, steps: [{ kind: 'send', text: 'x' }, { kind: 'sleep', ms: 1000 }] },
      ],
      rules: [
        { kind: 'answer', match: { kind: 'equals', text: '2' }, send: '3' },
        { kind: 'answer', match: { kind: 'json', path: 'event', equals: 'phx_reply' }, send: null },
        { kind: 'every', ms: 30000, send: '\n' },
      ],
    });
    assert.deepEqual(JSON.parse(JSON.stringify(scenario)), scenario, 'survives JSON (IPC to the client processes)');
  });

  it('reads YAML by its name and JSON otherwise; a file that is neither says so', () => {
    const yaml = scenarioFile('steps:\n  - send: hi\n  - expect: { match: hi, timeout: 1s }\n');
    assert.equal(readScenarioFile(yaml).scenario.steps.length, 2);
    const json = scenarioFile(JSON.stringify({ steps: [send] }), '.json');
    assert.deepEqual(readScenarioFile(json).scenario.steps, [{ kind: 'send', text: 'ping' }]);
    const broken = scenarioFile('steps: [\n', '.yml');
    assert.throws(() => readScenarioFile(broken), new RegExp(`^ConfigError: --scenario: "${broken}" is not valid; expected YAML`));
    const notJson = scenarioFile('steps: []', '.json');
    assert.throws(() => readScenarioFile(notJson), /is not valid; expected JSON/);
  });
});

describe('--scenario in the blast config', () => {
  const file = scenarioFile(
    'connect:\n  headers: { Authorization: "Bearer file", X-Team: core }\n  subprotocol: jsonrpc\nsteps:\n  - send: hi\n  - expect: { match: hi, timeout: 1s }\n',
  );

  it('sets the scenario pattern and merges connect: -H (any case) and --subprotocol win', () => {
    const config = resolveBlastConfig({ scenario: file, header: ['authorization: Bearer cli'] });
    assert.equal(config.pattern, 'scenario');
    assert.equal(config.scenario!.file, file);
    assert.deepEqual(config.headers, { 'X-Team': 'core', authorization: 'Bearer cli' });
    assert.equal(config.subprotocol, 'jsonrpc');
    assert.equal(resolveBlastConfig({ scenario: file, subprotocol: 'v2' }).subprotocol, 'v2');
  });

  it('refuses every option the steps decide, naming it', () => {
    for (const [options, option] of [
      [{ message: 'x' }, '--message'],
      [{ replyId: 'id' }, '--reply-id'],
      [{ subscribe: 'x' }, '--subscribe'],
      [{ publishers: 1 }, '--publishers'],
      [{ fireAndForget: true }, '--fire-and-forget'],
      [{ flood: true }, '--flood'],
      [{ pipeline: '4' }, '-p, --pipeline'],
      [{ rate: '10' }, '--rate'],
      [{ messages: '5' }, '--messages'],
      [{ payload: 'x.bin' }, '--payload'],
      [{ size: '1kb' }, '-s, --size'],
    ] as const) {
      assert.throws(
        () => resolveBlastConfig({ scenario: file, ...options }),
        (error: Error) => error instanceof ConfigError && error.message.startsWith(`${option}: `) && /cannot be combined with --scenario/.test(error.message),
        option,
      );
    }
  });

  it('a header name in the file that HTTP does not allow is refused, naming it', () => {
    const bad = scenarioFile('connect: { headers: { "Bad Name": x } }\nsteps: [ { send: hi } ]\n');
    assert.throws(() => resolveBlastConfig({ scenario: bad }), new RegExp(`--scenario ${bad} connect\\.headers\\.Bad Name: "x" is not valid; expected a header name`));
  });
});
