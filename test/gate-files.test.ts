/** Thresholds files: JSON or YAML, each entry parsed, errors naming the file and the entry. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readThresholdsFile } from '../src/gate/files.js';

const scratch = mkdtempSync(join(tmpdir(), 'wsbench-gate-files-'));
const file = (name: string, text: string) => {
  const path = join(scratch, name);
  writeFileSync(path, text);
  return path;
};

describe('thresholds files', () => {
  it('reads the same gate from JSON and from YAML (.yaml and .yml, an object or a plain list)', () => {
    const expressions = ['rtt:p(99)<50ms', 'failed:count==0', 'dropped:ratio<1%'];
    const fromJson = readThresholdsFile(file('gate.json', JSON.stringify({ thresholds: expressions })));
    const fromYaml = readThresholdsFile(file('gate.yaml', `thresholds:\n${expressions.map((e) => `  - "${e}"`).join('\n')}\n`));
    const fromYml = readThresholdsFile(file('gate.yml', expressions.map((e) => `- '${e}'`).join('\n') + '\n'));
    assert.equal(fromJson.length, 3);
    assert.deepEqual(fromYaml, fromJson);
    assert.deepEqual(fromYml, fromJson);
  });

  it('refuses broken YAML, a wrong shape, and a bad entry, naming the file (and the entry)', () => {
    const broken = file('broken.yaml', 'thresholds: [rtt:p(99)<50ms\n');
    assert.throws(() => readThresholdsFile(broken), /--thresholds: ".*broken\.yaml" is not valid; expected YAML/);
    const shape = file('shape.yaml', 'thresholds: 3\n');
    assert.throws(() => readThresholdsFile(shape), /is not valid; expected \{"thresholds"/);
    const entry = file('entry.yml', "- 'rtt:p(99)<50ms'\n- 'rtt:p(99)<5 fortnights'\n");
    assert.throws(() => readThresholdsFile(entry), /--thresholds .*entry\.yml \[1\]: "rtt:p\(99\)<5 fortnights" is not valid/);
  });
});
