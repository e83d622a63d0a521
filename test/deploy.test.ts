/**
 * What deploy/ and the Dockerfile promise, checked here without docker or a cluster:
 * - the Dockerfile installs the way the README says (`npm ci`, and only npm commands the README
 *   documents), on a Node line the README supports that is not past its end of life, runs as a user
 *   that is not root, and starts `wsbench`;
 * - its steps work: the files it COPYs are copied from this checkout (the files a `docker build .`
 *   would get: git's files, ignored ones left out, then .dockerignore applied) into a temporary
 *   directory standing for the build stage's filesystem, its RUN commands run there, then the
 *   runtime stage's in a second one with the build stage's dist/src copied as the Dockerfile copies
 *   it, and the entrypoint runs: `--version`, `blast --help` (every option the manifest gives blast)
 *   and `merge --help` (every option the gate gives merge). npm runs with --prefer-offline; without
 *   the npm registry (and no cache to fall back on) the test is skipped, saying so;
 * - the PodMonitor scrapes the blast pods' metrics port, and the Grafana dashboard parses and uses
 *   only metric names blast serves (BLAST_METRICS).
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse } from 'yaml';
import { BLAST_METRICS } from '../src/report/blast-prometheus.js';

const root = new URL('../../', import.meta.url);
const rootPath = fileURLToPath(root);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
const packageJson = JSON.parse(read('package.json')) as { version: string; scripts: Record<string, string> };
const readme = read('README.md');

/** The README's text from a `## ` heading to the next one. */
function section(heading: string): string {
  const start = readme.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `README has "## ${heading}"`);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

/** Code in Markdown: fenced blocks and `inline spans`. */
function code(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/^```[^\n]*\n([\s\S]*?)^```/gm)].map((m) => m[1]!);
  const spans = [...markdown.replace(/^```[^\n]*\n[\s\S]*?^```/gm, '').matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);
  return [...blocks, ...spans];
}

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}
interface Stage {
  readonly image: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

/** Dockerfile → stages of instructions (comments dropped, continuation lines joined). */
function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line) || (pending === '' && line.trim() === '')) continue;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    const logical = (pending + line).trim();
    pending = '';
    const match = /^([A-Za-z]+)\s+(.*)$/.exec(logical);
    assert.ok(match, `a Dockerfile instruction: ${logical}`);
    const keyword = match[1]!.toUpperCase();
    const args = match[2]!.trim();
    if (keyword === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      assert.ok(from, `FROM ${args}`);
      stages.push({ image: from[1]!, name: from[2], instructions: [] });
    } else {
      assert.ok(stages.length > 0, `${keyword} before FROM`);
      stages.at(-1)!.instructions.push({ keyword, args });
    }
  }
  return stages;
}

/** A RUN's shell commands: its flags (--mount=…) dropped, split at &&, each as words. */
function runCommands(args: string): string[][] {
  const shell = args.replace(/^(--\S+\s+)+/, '');
  assert.doesNotMatch(shell, /['"`$;|<>]/, `RUN ${shell}: plain words joined by && (the test runs them without a shell)`);
  return shell.split('&&').map((command) => command.trim().split(/\s+/));
}

/** Words starting with -- in an instruction's arguments, as { name: value }, and the rest. */
function flags(args: string): { flags: Record<string, string>; rest: string[] } {
  const words = args.split(/\s+/);
  const out: Record<string, string> = {};
  while (words[0]?.startsWith('--')) {
    const [name, value] = words.shift()!.slice(2).split('=', 2);
    out[name!] = value ?? '';
  }
  return { flags: out, rest: words };
}

const stages = parseDockerfile(read('Dockerfile'));
const buildStage = stages[0]!;
const finalStage = stages.at(-1)!;
const all = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
const npmCommands = stages.flatMap((stage) => all(stage, 'RUN').flatMap((i) => runCommands(i.args))).filter((words) => words[0] === 'npm');

/** The README's Node.js versions table: line → supported (yes…) and past its end of life. */
function nodeLines(): Map<number, { supported: boolean; endOfLife: boolean }> {
  const lines = new Map<number, { supported: boolean; endOfLife: boolean }>();
  for (const row of section('Node.js versions').matchAll(/^\| (\d+) \| ([^|]+) \| ([^|]+) \|$/gm)) {
    lines.set(Number(row[1]), { supported: row[3]!.trim().startsWith('yes'), endOfLife: /end of life/.test(row[2]!) });
  }
  assert.ok(lines.size >= 3, 'the README lists the Node.js lines');
  return lines;
}

describe('Dockerfile', () => {
  it('is multi-stage on one official Node image of a supported line that is not past its end of life (not 20)', () => {
    assert.ok(stages.length >= 2, 'a build stage and a runtime stage');
    const lines = nodeLines();
    for (const stage of stages) {
      const major = Number(/^node:(\d+)(?:[.-]|$)/.exec(stage.image)?.[1]);
      assert.ok(Number.isInteger(major), `${stage.image}: an official node image of one line`);
      assert.notEqual(major, 20, 'Node 20 is past its end of life');
      assert.equal(lines.get(major)?.supported, true, `Node ${major} is a supported line (README: Node.js versions)`);
      assert.equal(lines.get(major)?.endOfLife, false, `Node ${major} is not past its end of life`);
    }
    assert.deepEqual(new Set(stages.map((s) => s.image)).size, 1, 'built and run on the same image');
    assert.equal(buildStage.name, 'build');
  });

  it('installs with the README\'s install command, npm ci, and with no npm command the README does not document', () => {
    const install = code(readme)[0]!;
    assert.match(install, /^npm ci\b/m, 'the README opens with npm ci');
    const documented = code(readme);
    assert.ok(npmCommands.length >= 2);
    for (const command of npmCommands) {
      assert.equal(command[1], 'ci', `${command.join(' ')}: only npm ci, as the README installs`);
      assert.ok(documented.some((text) => text.includes(command.join(' '))), `the README documents \`${command.join(' ')}\``);
    }
    // The build stage compiles through npm ci's prepare (tsc, a devDependency) ...
    assert.match(packageJson.scripts.prepare!, /^tsc\b/);
    const build = all(buildStage, 'RUN').flatMap((i) => runCommands(i.args)).filter((w) => w[0] === 'npm');
    assert.deepEqual(build, [['npm', 'ci']]);
    // ... and the runtime stage has no devDependencies, so it cannot run prepare.
    const runtime = all(finalStage, 'RUN').flatMap((i) => runCommands(i.args)).filter((w) => w[0] === 'npm');
    assert.equal(runtime.length, 1);
    assert.ok(runtime[0]!.includes('--omit=dev'), runtime[0]!.join(' '));
    assert.ok(runtime[0]!.includes('--ignore-scripts'), runtime[0]!.join(' '));
  });

  it('runs as a user that is not root, and its entrypoint is wsbench', () => {
    const users = all(finalStage, 'USER').map((i) => i.args);
    assert.ok(users.length >= 1, 'a USER line in the runtime stage');
    const user = users.at(-1)!.split(':')[0]!;
    assert.ok(!['root', '0', ''].includes(user), `USER ${user}`);
    const entrypoint = all(finalStage, 'ENTRYPOINT').at(-1);
    assert.deepEqual(JSON.parse(entrypoint!.args), ['wsbench']);
    // The pods run as that user (runAsNonRoot needs its number: the node image's node is 1000).
    const uid = user === 'node' ? 1000 : Number(user);
    for (const document of parseAllDocuments(read('deploy/k8s/blast-indexed-job.yaml')).map((d) => d.toJS())) {
      if (document.kind !== 'Job') continue;
      const security = document.spec.template.spec.securityContext;
      assert.equal(security?.runAsUser, uid, `${document.metadata.name} runs as the image's user`);
      assert.equal(security?.runAsNonRoot, true);
      for (const container of [...(document.spec.template.spec.initContainers ?? []), ...document.spec.template.spec.containers]) {
        assert.equal(container.image, `wsbench:${packageJson.version}`, `${document.metadata.name}/${container.name}: the image this repository builds`);
      }
    }
    assert.ok(code(section('Beyond one machine')).some((text) => text.includes(`docker build -t wsbench:${packageJson.version} .`)), 'the README says how to build it');
  });

  it('.dockerignore keeps node_modules, dist, results and .git out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    for (const name of ['node_modules', 'dist', 'results', '.git']) assert.ok(ignored.includes(name), name);
  });

  describe('its steps, run here without docker', () => {
    const temp = mkdtempSync(join(tmpdir(), 'wsbench-image-'));
    after(() => rmSync(temp, { recursive: true, force: true }));

    it('build stage, then runtime stage, then the entrypoint: --version, blast --help, merge --help', { timeout: 180_000 }, async (t) => {
      const context = buildContext();
      assert.ok(context.includes('package-lock.json') && context.includes('src/cli/main.ts'));
      const roots = new Map<string, string>();
      const images: { root: string; env: NodeJS.ProcessEnv; workdir: string }[] = [];
      for (const [index, stage] of stages.entries()) {
        const stageRoot = join(temp, stage.name ?? `stage-${index}`);
        const outcome = await runStage(stage, stageRoot, context, roots);
        if (typeof outcome === 'string') return t.skip(outcome);
        roots.set(stage.name ?? String(index), stageRoot);
        images.push({ root: stageRoot, ...outcome });
      }
      const image = images.at(-1)!;
      const app = join(image.root, 'app');
      // What the runtime image holds: the compiled code and the runtime dependencies, nothing else.
      for (const file of ['package.json', 'bin/wsbench.js', 'dist/src/cli/main.js', 'node_modules/commander/package.json', 'node_modules/ws/package.json']) {
        assert.ok(existsSync(join(app, file)), file);
      }
      for (const file of ['node_modules/typescript', 'node_modules/playwright-core', 'dist/test', 'src', 'tsconfig.json']) {
        assert.ok(!existsSync(join(app, file)), `${file} is not in the runtime image`);
      }
      // Only the image's node_modules can be found from /app (none above the temporary root).
      for (let dir = dirname(image.root); dir !== dirname(dir); dir = dirname(dir)) assert.ok(!existsSync(join(dir, 'node_modules')), dir);

      const entrypoint = JSON.parse(all(finalStage, 'ENTRYPOINT').at(-1)!.args) as string[];
      const defaultCommand = JSON.parse(all(finalStage, 'CMD').at(-1)?.args ?? '[]') as string[];
      const start = (args: string[]) => run(entrypoint[0]!, [...entrypoint.slice(1), ...args], { cwd: image.workdir, env: image.env });

      const version = await start(['--version']);
      assert.equal(version.code, 0, version.stderr);
      assert.equal(version.stdout.trim(), packageJson.version);

      const manifest = parseAllDocuments(read('deploy/k8s/blast-indexed-job.yaml')).map((d) => d.toJS());
      const jobs = manifest.filter((d) => d.kind === 'Job');
      const shardCommand = jobs.find((j) => j.spec.completionMode === 'Indexed').spec.template.spec.containers[0].args.join(' ') as string;
      const gateCommand = jobs.find((j) => j.spec.completionMode !== 'Indexed').spec.template.spec.containers[0].args.join(' ') as string;
      for (const [command, used] of [['blast', shardCommand], ['merge', gateCommand]] as const) {
        const help = await start([command, '--help']);
        assert.equal(help.code, 0, help.stderr);
        assert.match(help.stdout, new RegExp(`^Usage: wsbench ${command} `));
        const options = [...used.matchAll(/(?:^|\s)(--?[a-z][a-z-]*)/g)].map((m) => m[1]!);
        assert.ok(options.length >= 4, used);
        for (const option of options) assert.match(help.stdout, new RegExp(`(^|[ ,])${option}[ ,<]`, 'm'), `wsbench ${command} --help lists ${option}, which the manifest uses`);
      }
      const bare = await start(defaultCommand);
      assert.equal(bare.code, 0, bare.stderr);
      assert.match(bare.stdout, /^Usage: wsbench /);
    });

    /** Runs one stage's instructions with its filesystem under `stageRoot`; a string is a reason to skip. */
    async function runStage(stage: Stage, stageRoot: string, context: readonly string[], roots: ReadonlyMap<string, string>): Promise<{ env: NodeJS.ProcessEnv; workdir: string } | string> {
      const at = (path: string, workdir = '/') => join(stageRoot, posix.resolve(workdir, path));
      let workdir = '/';
      const env: NodeJS.ProcessEnv = {};
      mkdirSync(stageRoot, { recursive: true });
      for (const { keyword, args } of stage.instructions) {
        if (keyword === 'WORKDIR') {
          workdir = posix.resolve(workdir, args);
          mkdirSync(at(workdir), { recursive: true });
        } else if (keyword === 'ENV') {
          for (const pair of args.split(/\s+/)) {
            const [name, value] = pair.split('=', 2);
            env[name!] = value;
          }
        } else if (keyword === 'COPY') {
          const { flags: given, rest } = flags(args);
          assert.deepEqual(Object.keys(given).filter((f) => f !== 'from' && f !== 'chown'), [], `COPY ${args}`);
          const destination = rest.pop()!;
          const target = at(destination, workdir);
          assert.ok(rest.length === 1 || destination.endsWith('/'), `COPY ${args}: several sources go to a directory`);
          for (const source of rest) {
            if (given.from !== undefined) {
              const from = roots.get(given.from);
              assert.ok(from, `COPY --from=${given.from}: an earlier stage`);
              const path = join(from, posix.resolve('/', source));
              assert.ok(existsSync(path), `COPY --from=${given.from} ${source}: the build stage made it`);
              cpSync(path, destination.endsWith('/') ? join(target, posix.basename(source)) : target, { recursive: true });
              continue;
            }
            const files = context.filter((f) => f === source || f.startsWith(`${source}/`));
            assert.ok(files.length > 0, `COPY ${source}: in the build context`);
            for (const file of files) {
              const to = file === source ? (destination.endsWith('/') ? join(target, posix.basename(file)) : target) : join(target, relative(source, file));
              mkdirSync(dirname(to), { recursive: true });
              cpSync(join(rootPath, file), to);
            }
          }
        } else if (keyword === 'RUN') {
          for (const words of runCommands(args)) {
            if (words[0] === 'npm') {
              const npm = await run('npm', [...words.slice(1), '--prefer-offline'], { cwd: at(workdir), env: { ...npmEnvironment(), ...env } });
              if (npm.code !== 0 && /E(NOTFOUND|AI_AGAIN|CONNREFUSED|CONNRESET|TIMEDOUT|NETUNREACH)|network/i.test(npm.stderr)) {
                return `npm could not reach the registry: ${npm.stderr.split('\n').find((l) => /ERR/.test(l)) ?? npm.stderr.trim().split('\n')[0]}`;
              }
              assert.equal(npm.code, 0, `${words.join(' ')}\n${npm.stdout}\n${npm.stderr}`);
            } else if (words[0] === 'ln' && words[1] === '-s' && words.length === 4) {
              mkdirSync(dirname(at(words[3]!, workdir)), { recursive: true });
              symlinkSync(at(words[2]!, workdir), at(words[3]!, workdir));
            } else {
              assert.fail(`RUN ${words.join(' ')}: this test does not know how to run it here; teach it`);
            }
          }
        } else {
          assert.ok(['USER', 'EXPOSE', 'ENTRYPOINT', 'CMD', 'LABEL'].includes(keyword), `${keyword}: this test does not know it; teach it`);
        }
      }
      // The node image's PATH, under this stage's root, then this machine's (for node itself).
      const imagePath = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].map((dir) => at(dir));
      return { env: { ...npmEnvironment(), ...env, PATH: [...imagePath, process.env.PATH].join(':') }, workdir: at(workdir) };
    }
  });
});

/** The files `docker build .` gets: the checkout's files (git's, tracked or not, without ignored ones), less .dockerignore's. */
function buildContext(): string[] {
  const patterns = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  assert.ok(patterns.every((p) => !p.startsWith('!')), 'exceptions in .dockerignore: teach buildContext');
  const matchers = patterns.map((p) => new RegExp(`^${p.replace(/^\//, '').replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*/g, '\0').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]').replace(/\0/g, '.*')}(/.*)?$`));
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: rootPath, encoding: 'utf8' }).split('\0');
  return files.filter((f) => f !== '' && existsSync(join(rootPath, f)) && !matchers.some((m) => m.test(f)));
}

/**
 * This environment without what npm sets for the script running it (under npm test: this package's
 * name, prefix, lifecycle), so that the npm run here sees only its own directory; settings such as
 * npm_config_registry stay. Quiet and without audit.
 */
function npmEnvironment(): NodeJS.ProcessEnv {
  const own = /^(npm_(lifecycle|package)_|npm_config_local_prefix$|npm_command$|npm_execpath$|npm_node_execpath$|INIT_CWD$)/i;
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !own.test(name)));
  return { ...env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
}

function run(file: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { ...options, timeout: 150_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr: error && code === -1 ? `${stderr}\n${error.message}` : stderr });
    });
  });
}

describe('deploy/k8s/podmonitor.yaml', () => {
  const monitor = parse(read('deploy/k8s/podmonitor.yaml')) as any;
  const shards = parseAllDocuments(read('deploy/k8s/blast-indexed-job.yaml'))
    .map((d) => d.toJS())
    .find((d) => d.kind === 'Job' && d.spec.completionMode === 'Indexed');

  it('a Prometheus Operator PodMonitor on the blast pods\' metrics port and path', () => {
    assert.equal(monitor.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(monitor.kind, 'PodMonitor');
    const labels = shards.spec.template.metadata.labels as Record<string, string>;
    const selector = monitor.spec.selector.matchLabels as Record<string, string>;
    assert.ok(Object.keys(selector).length > 0);
    for (const [key, value] of Object.entries(selector)) assert.equal(labels[key], value, `selects the blast pods (${key})`);
    const [endpoint] = monitor.spec.podMetricsEndpoints;
    const port = shards.spec.template.spec.containers[0].ports.find((p: { name: string }) => p.name === endpoint.port);
    assert.ok(port, `the blast container has a port named ${endpoint.port}`);
    assert.equal(String(port.containerPort), shards.spec.template.metadata.annotations['prometheus.io/port']);
    assert.equal(endpoint.path, shards.spec.template.metadata.annotations['prometheus.io/path']);
  });
});

describe('deploy/grafana/wsbench-blast.json', () => {
  const dashboard = JSON.parse(read('deploy/grafana/wsbench-blast.json'));
  const panels = dashboard.panels as { id: number; type: string; title: string; datasource: unknown; targets: { expr: string; datasource: unknown }[] }[];
  const expressions = panels.flatMap((p) => p.targets.map((t) => t.expr));
  const variables = dashboard.templating.list as { name: string; type: string; query: unknown; definition?: string }[];
  const histograms = [BLAST_METRICS.rtt, BLAST_METRICS.connect] as string[];

  it('is an importable dashboard with a Prometheus ${datasource} variable and a shard variable', () => {
    assert.equal(typeof dashboard.title, 'string');
    assert.ok(dashboard.schemaVersion >= 36 && dashboard.schemaVersion <= 41, `schemaVersion ${dashboard.schemaVersion}`);
    assert.equal(dashboard.id, undefined, 'no id: an import makes its own');
    const datasource = variables.find((v) => v.name === 'datasource');
    assert.deepEqual([datasource?.type, datasource?.query], ['datasource', 'prometheus']);
    const shard = variables.find((v) => v.name === 'shard');
    assert.equal(shard?.type, 'query');
    assert.match(JSON.stringify(shard?.query), /label_values\(wsbench_blast_\w+, shard\)/);
    assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, 'panel ids are unique');
    for (const panel of panels) {
      assert.deepEqual(panel.datasource, { type: 'prometheus', uid: '${datasource}' }, panel.title);
      for (const target of panel.targets) assert.deepEqual(target.datasource, { type: 'prometheus', uid: '${datasource}' }, panel.title);
    }
  });

  it('uses only metric names blast serves (BLAST_METRICS; the histograms through _bucket, _sum, _count)', () => {
    const served = new Set<string>(Object.values(BLAST_METRICS).filter((name) => !histograms.includes(name)));
    for (const name of histograms) for (const suffix of ['_bucket', '_sum', '_count']) served.add(name + suffix);
    const queries = [...expressions, ...variables.map((v) => JSON.stringify(v.query ?? ''))];
    for (const query of queries) {
      const names = query.match(/\bwsbench_\w+/g) ?? [];
      for (const name of names) assert.ok(served.has(name), `${name} (in ${query}) is not one of BLAST_METRICS`);
      let depth = 0;
      for (const char of query) if ((depth += char === '(' ? 1 : char === ')' ? -1 : 0) < 0) break;
      assert.equal(depth, 0, `balanced parentheses: ${query}`);
    }
    for (const expr of expressions) assert.match(expr, /shard=~"\$shard"/, `filtered by the shard variable: ${expr}`);
  });

  it('shows one run: open vs target, attempts by outcome, messages/s both ways, rtt p50/p99, connect p99, phase, generator CPU and loop delay', () => {
    const text = expressions.join('\n');
    for (const name of [BLAST_METRICS.open, BLAST_METRICS.target, BLAST_METRICS.phase, BLAST_METRICS.cpu, BLAST_METRICS.loopDelay]) assert.ok(text.includes(name), name);
    assert.match(text, new RegExp(`sum by \\(outcome\\) \\(rate\\(${BLAST_METRICS.attempts}\\{`));
    assert.match(text, new RegExp(`sum by \\(direction\\) \\(rate\\(${BLAST_METRICS.messages}\\{`));
    const quantiles = [...text.matchAll(/histogram_quantile\((0\.\d+), sum by \(le\) \(rate\((wsbench_\w+)_bucket\{[^}]*\}\[[^\]]+\]\)\)\)/g)].map((m) => `${m[2]} ${m[1]}`);
    for (const wanted of [`${BLAST_METRICS.rtt} 0.5`, `${BLAST_METRICS.rtt} 0.99`, `${BLAST_METRICS.connect} 0.99`]) assert.ok(quantiles.includes(wanted), wanted);
    assert.equal([...text.matchAll(/histogram_quantile/g)].length, quantiles.length, 'every quantile from summed bucket rates by le');
    assert.match(text, /by \(shard, process\) \(wsbench_blast_generator_cpu_ratio/, 'CPU per client process');
    assert.match(text, /by \(shard, process\) \(wsbench_blast_generator_event_loop_delay_p99_seconds/, 'loop delay per client process');
  });
});
