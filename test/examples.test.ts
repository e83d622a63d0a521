/**
 * The CI and Kubernetes examples parse, and what makes them work is there: the workflow starts a
 * server in the background, blasts it with thresholds, a baseline and an HTML report, uploads
 * results/ even on failure and lets exit 99 fail the job; the Indexed Job runs N shards numbered
 * 1..N into a shared volume, started together by shard 1's barrier (through a headless Service)
 * and scraped for /metrics, reruns none, and a gate merges exactly N with thresholds. Their wsbench
 * arguments are checked with wsbench's own parsers, and every scenario in examples/ (*.yaml) with
 * --scenario's.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { resolveBlastConfig } from '../src/config/blast-config.js';
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
  const service = documents.find((d) => d.kind === 'Service')!;
  const jobs = documents.filter((d) => d.kind === 'Job');
  const shards = jobs.find((j) => j.spec.completionMode === 'Indexed')!;
  const gate = jobs.find((j) => j !== shards)!;
  const script = (container: { args: string[] }) => container.args.join(' ');
  const n = shards.spec.completions as number;
  const pod = shards.spec.template;
  const blast = pod.spec.containers.find((c: { name: string }) => c.name === 'blast');
  const blastArgs = words(script(blast));
  const merge = script(gate.spec.template.spec.containers[0]);

  it('an Indexed Job whose N pods run together, each as --shard i/N with i = JOB_COMPLETION_INDEX + 1', () => {
    assert.ok(shards, 'a Job with completionMode: Indexed');
    assert.ok(n >= 2);
    assert.equal(shards.spec.parallelism, n, 'parallelism == completions: the shards run at the same time');
    assert.ok(blast, 'a container named blast (podFailurePolicy names it)');
    const command = script(blast);
    assert.match(command, /^exec wsbench blast /, 'exec: the pod exits with wsbench\'s own code');
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

  it('N is the same everywhere: completions, parallelism, every "/N", the gate\'s count and merge --expect N', () => {
    const everySlash = [...JSON.stringify(documents).matchAll(/\)\)\/(\d+)/g)].map((m) => Number(m[1]));
    assert.ok(everySlash.length >= 1);
    assert.deepEqual(everySlash, everySlash.map(() => n), 'every "…))/N" in the manifest');
    const wait = script(gate.spec.template.spec.initContainers[0]);
    assert.deepEqual([...wait.matchAll(/-ge (\d+)\b/g)].map((m) => Number(m[1])), [n], 'the gate waits for N files');
    assert.deepEqual(values(words(merge), '--expect'), [String(n)]);
    assert.match(read('deploy/k8s/blast-indexed-job.yaml'), new RegExp(`every "/${n}", the gate's "-ge ${n}" and "--expect ${n}"`), 'the comment that says how to change N');
  });

  it('the shards start together: a --barrier served by shard 1\'s pod, found through a headless Service', () => {
    const barrier = new URL(values(blastArgs, '--barrier')[0]!);
    assert.equal(barrier.protocol, 'http:');
    // Indexed Job pods are named <job name>-<index>; index 0 is shard 1 (above), which serves the barrier.
    assert.equal(barrier.hostname, `${shards.metadata.name}-0.${service.metadata.name}`);
    assert.equal(pod.spec.subdomain, service.metadata.name, 'the pods\' subdomain is the Service: <hostname>.<service> resolves');
    assert.equal(service.spec.clusterIP, 'None', 'headless: one DNS name per pod, no virtual IP');
    assert.equal(service.spec.publishNotReadyAddresses, true, 'the names exist before any readiness');
    for (const [key, value] of Object.entries(service.spec.selector as Record<string, string>)) assert.equal(pod.metadata.labels[key], value, `the Service selects the blast pods (${key})`);
    const servicePort = service.spec.ports.find((p: { port: number }) => String(p.port) === barrier.port);
    assert.ok(servicePort, `the Service has the barrier URL's port ${barrier.port}`);
    const containerPort = blast.ports.find((p: { name: string }) => p.name === servicePort.targetPort);
    assert.equal(String(containerPort?.containerPort), barrier.port, 'the Service\'s targetPort is the container port shard 1 listens on');
    // wsbench's own parser takes the command's values (the URL stands for "$TARGET_URL").
    const config = resolveBlastConfig({
      url: blast.env.find((e: { name: string }) => e.name === 'TARGET_URL').value,
      connections: values(blastArgs, '-c')[0],
      duration: values(blastArgs, '-d')[0],
      shard: `1/${n}`,
      barrier: values(blastArgs, '--barrier')[0],
      metricsPort: values(blastArgs, '--metrics-port')[0],
    });
    assert.equal(config.barrier, barrier.href);
    assert.equal(String(config.metricsPort), values(blastArgs, '--metrics-port')[0]);
  });

  it('a failed shard is never rerun, and exit 2 (or 1) fails the whole Job at once', () => {
    assert.equal(shards.spec.backoffLimitPerIndex, 0, 'a rerun shard would add its load after the others\' run');
    assert.equal(shards.spec.backoffLimit, undefined, 'with backoffLimitPerIndex, the per-index limit decides');
    assert.equal(pod.spec.restartPolicy, 'Never', 'backoffLimitPerIndex and podFailurePolicy need it');
    const rules = shards.spec.podFailurePolicy.rules as { action: string; onExitCodes?: { containerName?: string; operator: string; values: number[] } }[];
    const actionOn = (code: number) =>
      rules.find((r) => r.onExitCodes?.operator === 'In' && r.onExitCodes.values.includes(code) && (r.onExitCodes.containerName ?? blast.name) === blast.name)?.action;
    assert.equal(actionOn(2), 'FailJob', 'exit 2: bad input, every shard would fail alike');
    assert.equal(actionOn(1), 'FailJob', 'exit 1: the barrier was not reached or nothing was measured');
  });

  it('serves /metrics on the port the scrape annotations and the container port name', () => {
    const port = values(blastArgs, '--metrics-port');
    assert.equal(port.length, 1);
    const annotations = pod.metadata.annotations as Record<string, string>;
    assert.equal(annotations['prometheus.io/scrape'], 'true');
    assert.equal(annotations['prometheus.io/port'], port[0]);
    assert.equal(annotations['prometheus.io/path'], '/metrics');
    const metrics = blast.ports.find((p: { name: string }) => p.name === 'metrics');
    assert.equal(String(metrics?.containerPort), port[0]);
    assert.deepEqual(values(blastArgs, '--metrics-host').filter((h) => h !== '0.0.0.0'), [], 'reachable from the scraper');
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

  it('the gate waits for all N results (bounded), then merges exactly N and gates them with thresholds', () => {
    const wait = script(gate.spec.template.spec.initContainers[0]);
    assert.match(wait, new RegExp(`ls /results/shard-\\*\\.json.*-ge ${n}\\b`));
    // The wait gives up only after the shards' Job can no longer write (its deadline plus 30 s of
    // SIGTERM grace), and ends before the gate's own deadline, so that merge names what is missing.
    const waitSeconds = Number(/\+ (\d+)\)\)/.exec(wait)![1]);
    assert.ok(waitSeconds > shards.spec.activeDeadlineSeconds + 30, `${waitSeconds} s`);
    assert.ok(waitSeconds < gate.spec.activeDeadlineSeconds, `${waitSeconds} s`);
    assert.match(merge, /wsbench merge \/results\/shard-\*\.json -o \/results\/merged\.json/);
    assert.doesNotMatch(merge, /--allow-partial|--force/, 'a missing shard fails the gate');
    const thresholds = values(words(merge), '--threshold');
    assert.ok(thresholds.length >= 1);
    for (const expression of thresholds) parseThreshold(expression);
    const total = Number(/ -c (\d+)/.exec(script(blast))![1]);
    assert.ok(thresholds.includes(`accepted:count==${total}`), 'the merged load is the whole load');
  });

  it('the wait script runs: it ends with N results, and at its deadline without them', () => {
    const wait = script(gate.spec.template.spec.initContainers[0]);
    const dir = mkdtempSync(join(tmpdir(), 'wsbench-wait-'));
    try {
      // stdio ignored: a sleep left behind by a killed shell holds no pipe open.
      const run = (text: string) => spawnSync('/bin/sh', ['-c', text.replaceAll('/results', dir)], { stdio: 'ignore', timeout: 1_500 });
      for (let i = 1; i <= n; i++) writeFileSync(join(dir, `shard-${i}.json`), '{}');
      assert.equal(run(wait).status, 0, 'all N there: it ends at once');
      rmSync(join(dir, `shard-${n}.json`));
      assert.equal(run(wait.replace(/\+ \d+\)\)/, '+ 0))')).status, 0, 'one missing, deadline passed: it ends');
      assert.equal(run(wait.replace(/\+ \d+\)\)/, '+ 60))')).signal, 'SIGTERM', 'one missing, deadline ahead: it waits');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
