/**
 * serve --compress in every mode grants every offer blast can make: the plain offer, each
 * no-context-takeover, and a smaller window. Each run is the real binary on both sides; every
 * accepted upgrade must have negotiated permessage-deflate (blast's result) and serve must count it
 * (/healthz). Found by the option matrix: reply and broadcast once refused
 * `server_no_context_takeover` with 400, where echo granted it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BlastResult } from '../src/metrics/blast-result.js';
import { runCliToEnd, startServeCli, stop, type CliRun } from './helpers/cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'wsbench-compress-modes-'));
const OFFERS: readonly (readonly string[])[] = [
  [],
  ['--compress-server-no-context-takeover'],
  ['--compress-client-no-context-takeover'],
  ['--compress-server-no-context-takeover', '--compress-client-no-context-takeover', '--compress-window-bits', '9'],
];

/** What each mode needs blast to send so that the run measures something. */
const TRAFFIC = {
  echo: ['--message', 'hello {{seq}} hello hello'],
  reply: ['--message', '{"jsonrpc":"2.0","id":{{seq}},"method":"ping","params":["hello","hello"]}', '--reply-id', 'id'],
  broadcast: ['--subscribe', '{"subscribe":"all"}', '--publishers', '1', '--rate', '20', '--message', '{"at":{{now_us}},"text":"hello hello"}'],
} as const;

for (const mode of ['echo', 'reply', 'broadcast'] as const) {
  describe(`serve --mode ${mode} --compress grants every offer blast --compress makes`, () => {
    let server: CliRun & { url: string };
    before(async () => {
      server = await startServeCli(['--max', '100', '--mode', mode, '--compress', '--workers', '1']);
    });
    after(async () => {
      await stop(server);
    });

    for (const offer of OFFERS) {
      it(`--compress ${offer.join(' ') || '(the plain offer)'}`, async () => {
        const out = join(scratch, `${mode}-${OFFERS.indexOf(offer)}.json`);
        const run = await runCliToEnd(['blast', server.url, '-c', '4', '-d', '400ms', '--compress', ...offer, ...TRAFFIC[mode], '-q', '--out', out], { timeoutMs: 60_000 });
        assert.equal(run.code, 0, run.stderr);
        const result = JSON.parse(readFileSync(out, 'utf8')) as BlastResult;
        assert.equal(result.outcomes.accepted, 4, JSON.stringify(result.outcomes));
        assert.equal(result.compression?.negotiated, 4);
        assert.equal(result.compression?.notNegotiated, 0);
        assert.ok(result.messages.received > 0, 'something came back');
        assert.ok(result.compression!.bytesReceivedCompressed > 0, 'and came compressed');
      });
    }
  });
}
