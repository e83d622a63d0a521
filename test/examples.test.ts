/**
 * The CI and Kubernetes examples parse, and what makes them work is there: the workflow starts a
 * server in the background, blasts it with thresholds, a baseline and an HTML report, uploads
 * results/ even on failure and lets exit 99 fail the job; the Indexed Job runs N shards numbered
 * 1..N into a shared volume and a gate merges exactly N with thresholds. Their wsbench arguments are
 * checked with wsbench's own parsers, and every scenario in examples/ (*.yaml) with --scenario's.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { shardLoad } from '../src/config/shard.js';
import { parseMaxRegression } from '../src/gate/compare.js';
import { parseThreshold } from '../src/gate/thresholds.js';
import { parseReportFormats } from '../src/report/report-formats.js';
import { countSteps, readScenarioFile } from '../src/scenario/parse.js';

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

/** Shell words of a command line: single and double quotes, backslash-newline continuations. */
function words(command: string): string[] {
  const out: string[] = [];
  for (const match of command.replace(/\\\n/g, ' ').matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)) out.push(match[1] ?? match[2] ?? match[3]!);
  return out;
}

/** Every value given to `option` in a list of words. */
function values(args: readonly string[], option: string): string[] {
  return args.flatMap((word, i) => (word === option ? [args[i + 1]!] : []));
}

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
  'continue-on-error'?: unknown;
}

describe('examples/github-actions.yml', () => {
  const workflow = parse(read('examples/github-actions.yml')) as { on: unknown; jobs: Record<string, { steps: Step[] }> };
  const steps = Object.values(workflow.jobs)[0]!.steps;

  it('starts the server in the background and waits for it before blasting', () => {
    const serve = steps.findIndex((s) => /wsbench serve .*&\s*$/m.test(s.run ?? ''));
    assert.ok(serve >= 0, 'a step starts wsbench serve with &');
    assert.match(steps[serve]!.run!, /healthz/);
    const blast = steps.findIndex((s) => /wsbench blast/.test(s.run ?? ''));
    assert.ok(blast > serve, 'blast comes after the server is up');
  });

  it('blasts with valid thresholds, a baseline and an HTML report, and lets a crossed threshold fail the job', () => {
    const step = steps.find((s) => /wsbench blast/.test(s.run ?? ''))!;
    const args = words(step.run!);
    const thresholds = values(args, '--threshold');
    assert.ok(thresholds.length >= 2);
    for (const expression of thresholds) parseThreshold(expression);
    assert.equal(values(args, '--baseline').length, 1);
    parseMaxRegression(values(args, '--max-regression')[0]);
    assert.ok(parseReportFormats('--report', values(args, '--report')[0]!).includes('html'));
    assert.deepEqual(values(args, '--out'), ['results/blast.json']);
    assert.equal(step['continue-on-error'], undefined, 'exit 99 must fail the step');
    assert.doesNotMatch(step.run!, /\|\|\s*true|;\s*true\s*$/m, 'the exit code is not swallowed');
  });

  it('uploads results/ and the HTML report even when the gate failed', () => {
    const uploads = steps.filter((s) => s.uses?.startsWith('actions/upload-artifact@'));
    const paths = uploads.map((s) => String(s.with?.path));
    assert.ok(paths.includes('results/'), paths.join(', '));
    assert.ok(paths.includes('results/blast.html'), paths.join(', '));
    for (const upload of uploads) assert.equal(upload.if, 'always()');
    const stopServer = steps.find((s) => /kill/.test(s.run ?? ''));
    assert.equal(stopServer?.if, 'always()');
  });
});

describe('deploy/k8s/blast-indexed-job.yaml', () => {
  const documents = parseAllDocuments(read('deploy/k8s/blast-indexed-job.yaml')).map((d) => {
    assert.deepEqual(d.errors, []);
    return d.toJS() as { kind: string; metadata: { name: string }; spec: any };
  });
  const claim = documents.find((d) => d.kind === 'PersistentVolumeClaim')!;
  const jobs = documents.filter((d) => d.kind === 'Job');
  const shards = jobs.find((j) => j.spec.completionMode === 'Indexed')!;
  const gate = jobs.find((j) => j !== shards)!;
  const script = (container: { args: string[] }) => container.args.join(' ');

  it('an Indexed Job whose N pods run together, each as --shard i/N with i = JOB_COMPLETION_INDEX + 1', () => {
    assert.ok(shards, 'a Job with completionMode: Indexed');
    const n = shards.spec.completions as number;
    assert.ok(n >= 2);
    assert.equal(shards.spec.parallelism, n, 'parallelism == completions: the shards run at the same time');
    const container = shards.spec.template.spec.containers[0];
    const command = script(container);
    assert.match(command, /wsbench blast /);
    const shardWord = /--shard ("[^"]+"|\S+)/.exec(command)![1]!.replace(/"/g, '');
    // The shell gives each pod its shard: 1/N ... N/N, which wsbench accepts and splits exactly.
    const connections = Number(/ -c (\d+)/.exec(command)![1]);
    const given = Array.from({ length: n }, (_, index) =>
      execFileSync('/bin/sh', ['-c', `echo "${shardWord}"`], { env: { JOB_COMPLETION_INDEX: String(index) }, encoding: 'utf8' }).trim(),
    );
    assert.deepEqual(given, Array.from({ length: n }, (_, i) => `${i + 1}/${n}`));
    const shares = given.map((text) => shardLoad(text, { connections, connectRate: 0, maxHandshakes: 1000 }).connections);
    assert.equal(shares.reduce((a, b) => a + b, 0), connections);
    assert.match(command, /--out "\/results\/shard-\$\(\(JOB_COMPLETION_INDEX \+ 1\)\)\.json"/);
  });

  it('shards and gate share one ReadWriteMany volume mounted where the results are written and read', () => {
    assert.deepEqual(claim.spec.accessModes, ['ReadWriteMany']);
    for (const job of [shards, gate]) {
      const pod = job.spec.template.spec;
      assert.equal(pod.restartPolicy, 'Never');
      assert.deepEqual(pod.volumes, [{ name: 'results', persistentVolumeClaim: { claimName: claim.metadata.name } }]);
      for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
        assert.deepEqual(container.volumeMounts, [{ name: 'results', mountPath: '/results' }], `${job.metadata.name}/${container.name}`);
      }
    }
  });

  it('the gate waits for all N results, then merges and gates them with thresholds', () => {
    const n = shards.spec.completions as number;
    const wait = script(gate.spec.template.spec.initContainers[0]);
    assert.match(wait, new RegExp(`ls /results/shard-\\*\\.json.*-ge ${n}\\b`));
    assert.ok(gate.spec.activeDeadlineSeconds > 0, 'the wait is bounded');
    const merge = script(gate.spec.template.spec.containers[0]);
    assert.match(merge, /wsbench merge \/results\/shard-\*\.json -o \/results\/merged\.json/);
    const thresholds = values(words(merge), '--threshold');
    assert.ok(thresholds.length >= 1);
    for (const expression of thresholds) parseThreshold(expression);
    const total = Number(/ -c (\d+)/.exec(script(shards.spec.template.spec.containers[0]))![1]);
    assert.ok(thresholds.includes(`accepted:count==${total}`), 'the merged load is the whole load');
  });
});

describe('examples/*.yaml scenarios', () => {
  const scenarios = readdirSync(new URL('examples/', root)).filter((name) => name.endsWith('.yaml'));

  it('the three the issue asks for are there: JSON-RPC, chat and ticker', () => {
    for (const name of ['jsonrpc.yaml', 'chat.yaml', 'ticker.yaml']) assert.ok(scenarios.includes(name), name);
  });

  for (const name of scenarios) {
    it(`${name} is a valid scenario that sends and expects, and says how to run it`, () => {
      const path = new URL(`examples/${name}`, root).pathname;
      const { scenario } = readScenarioFile(path);
      assert.ok(countSteps(scenario.steps) >= 3);
      const kinds = JSON.stringify(scenario.steps);
      assert.match(kinds, /"kind":"send"/);
      assert.match(kinds, /"kind":"expect"/);
      assert.match(read(`examples/${name}`), new RegExp(`wsbench blast \\S+ .*--scenario examples/${name}`));
    });
  }
});
