/** The reporters as pure functions: Markdown, JUnit XML, .hgrm, HTML's self-containment, and --report/--format parsing. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareResults } from '../src/gate/compare.js';
import { evaluate } from '../src/gate/evaluate.js';
import * as api from '../src/index.js';
import { formatHgrm, formatHgrmSections, percentilePoints } from '../src/report/hgrm.js';
import { formatHtml } from '../src/report/html.js';
import { loadHtmlAssets } from '../src/report/html-assets.js';
import { formatJunit, xml } from '../src/report/junit.js';
import { formatMarkdown } from '../src/report/markdown.js';
import { parseReportFormats, renderReport } from '../src/report/report-formats.js';
import type { ReportInput } from '../src/report/report-input.js';
import { parseXml } from './helpers/xml.js';
import { fakeResult, spread } from './helpers/results.js';

function gated(): ReportInput {
  const result = fakeResult({ connectUs: spread(10, 1000, 5000), rttUs: spread(1000, 1000, 100_000), sent: 1000, received: 1000, perSecond: 600 });
  const baseline = fakeResult({ connectUs: spread(10, 1000, 5000), rttUs: spread(1000, 500, 50_000), sent: 1000, received: 1000, perSecond: 700 });
  return {
    ...result,
    thresholds: evaluate(result, ['rtt:p(99)<50ms', 'failed:count==0', 'connect:p(50)<10ms']),
    comparison: compareResults(baseline, result, { maxRegressionPercent: 10, baselineLabel: 'main.json', currentLabel: 'this run' }),
  };
}

describe('report formats', () => {
  it('md: the verdict, thresholds with PASS/FAIL, the latency ladder per phase and the comparison', () => {
    const md = formatMarkdown(gated());
    assert.match(md, /^## wsbench blast: ❌ FAIL \(exit 99\)\n/);
    assert.match(md, /\| ❌ FAIL \| `rtt:p\(99\)<50ms` \| 99\.\d+ ms \| 50\.00 ms \|/);
    assert.match(md, /\| ✅ PASS \| `failed:count==0` \| 0 \| 0 \|/);
    assert.match(md, /### Thresholds: 2 of 3 passed/);
    assert.match(md, /\| connect \(ramp\) \| [\d.]+ \|/);
    assert.match(md, /\| round trip \(run\) \| 50\.\d+ \|/);
    assert.match(md, /### Compared with `main\.json` \(at most 10% worse\): ❌ \d regressed/);
    assert.match(md, /\| rtt p99 \| .* \| ❌ regressed \|/);
    // A pipe in a value would split the table cell.
    const piped = formatMarkdown({ ...fakeResult(), target: { url: 'ws://a|b/', ownServer: false } });
    assert.match(piped, /`ws:\/\/a\\\|b\/`/);
  });

  it('md: a run that measured nothing says so and fails', () => {
    const md = formatMarkdown(fakeResult({ accepted: 0, failed: { ECONNREFUSED: 5 } }));
    assert.match(md, /FAIL \(exit 1\)/);
    assert.match(md, /> no connection was accepted \(of 5 attempted\): nothing was measured/);
    assert.match(md, /Failed by reason: ECONNREFUSED 5/);
  });

  it('junit: well-formed; a testcase for the run verdict, one per threshold, one per gated regression', () => {
    const doc = parseXml(formatJunit(gated()));
    assert.equal(doc.name, 'testsuites');
    const suite = doc.children.find((c) => c.name === 'testsuite')!;
    const cases = suite.children.filter((c) => c.name === 'testcase');
    assert.equal(cases.length, 1 + 3 + 5);
    assert.equal(suite.attributes.tests, String(cases.length));
    const failed = cases.filter((c) => c.children.some((f) => f.name === 'failure'));
    assert.equal(suite.attributes.failures, String(failed.length));
    assert.equal(cases[0]!.attributes.classname, 'wsbench.run');
    assert.equal(cases[0]!.children.length, 0, 'the run itself measured something');
    const rtt = cases.find((c) => c.attributes.name === 'rtt:p(99)<50ms')!;
    const failure = rtt.children[0]!;
    assert.equal(failure.attributes.type, 'threshold');
    assert.match(failure.attributes.message!, /^observed 99\.\d+ ms, limit 50\.00 ms$/);
    assert.ok(cases.some((c) => c.attributes.classname === 'wsbench.regressions' && /^rtt p99 at most 10% worse than main\.json$/.test(c.attributes.name!) && c.children.length === 1));
  });

  it('junit: the run verdict fails when nothing was measured, and text is escaped', () => {
    const result = { ...fakeResult({ accepted: 0, failed: { ECONNREFUSED: 3 } }), target: { url: 'ws://x/?a=1&b=<2>"\'\u0001', ownServer: false } };
    const text = formatJunit(result);
    const doc = parseXml(text);
    const suite = doc.children[0]!;
    assert.equal(suite.attributes.name, 'wsbench blast ws://x/?a=1&b=<2>"\'', 'escaped, and the control character dropped');
    const run = suite.children.find((c) => c.name === 'testcase')!;
    assert.equal(run.children[0]!.attributes.type, 'run-failed');
    assert.match(run.children[0]!.text, /no connection was accepted \(of 3 attempted\)/);
    assert.equal(xml('a&<>"\'b'), 'a&amp;&lt;&gt;&quot;&apos;b');
  });

  it("a scenario's and a fan-out's counts reach every report: md, html and junit", () => {
    const base = fakeResult({ rttUs: spread(100, 1000, 5000), sent: 500, received: 480, unanswered: 20, perSecond: 50 });
    const scenario: ReportInput = { ...base, config: { ...base.config, pattern: 'scenario' }, messages: { ...base.messages, unmatched: 7, completed: 40 } };
    const fanout: ReportInput = {
      ...base,
      config: { ...base.config, pattern: 'subscribe' },
      latency: { ...base.latency, measures: 'delivery' },
      messages: { ...base.messages, duplicates: 3 },
      fanout: { published: 10, delivered: 95, expected: 10, observed: 9.5, missed: 5 },
    };
    for (const text of [formatMarkdown(scenario), formatHtml(scenario, loadHtmlAssets())]) {
      assert.match(text, /unanswered at the end 20; unmatched 7; connections that ran every scenario step 40/);
    }
    for (const text of [formatMarkdown(fanout), formatHtml(fanout, loadHtmlAssets())]) {
      assert.match(text, /sent 500, received 480, .*duplicates 3/);
      assert.match(text, /fan-out: 10 published, 95 delivered, 9\.5 per message \(expected 10\), missed 5/);
    }
    const properties = (result: ReportInput) => Object.fromEntries(
      parseXml(formatJunit(result)).children[0]!.children.find((c) => c.name === 'properties')!.children.map((p) => [p.attributes.name!, p.attributes.value!]),
    );
    assert.deepEqual(
      [properties(scenario).messagesSent, properties(scenario).unanswered, properties(scenario).unmatched, properties(scenario).scenarioCompleted],
      ['500', '20', '7', '40'],
    );
    assert.deepEqual([properties(fanout).duplicates, properties(fanout).fanoutDelivered, properties(fanout).fanoutMissed], ['3', '95', '5']);
    assert.equal(properties(base).scenarioCompleted, undefined);
  });

  it("a protocol's counts, reasons and second handshake, and compression, reach md and html", () => {
    const base = fakeResult({ connectUs: spread(10, 1000, 5000), rttUs: spread(100, 1000, 5000), sent: 500, received: 500 });
    const result: ReportInput = {
      ...base,
      protocol: { name: 'socketio', counts: { connected: 9, acks: 480 }, reasons: { 'connect_error: nope <b>': 1 }, handshake: base.latency.connect },
      compression: { offered: 'permessage-deflate', negotiated: 9, notNegotiated: 1, bytesBeforeCompression: 1000, bytesAfterCompression: 400, bytesReceivedCompressed: 400, bytesReceivedInflated: 1000 },
    } as ReportInput;
    for (const text of [formatMarkdown(result), formatHtml(result, loadHtmlAssets())]) {
      assert.match(text, /Protocol socketio: acks 480, connected 9/);
      assert.match(text, /socketio handshake/);
      assert.match(text, /compression: permessage-deflate negotiated on 9 of 10 connections/);
    }
    // Server-given reasons are text, never markup, in the page.
    assert.match(formatHtml(result, loadHtmlAssets()), /connect_error: nope &lt;b&gt; 1/);
  });

  it('hgrm: one distribution per histogram with samples, values in ms', () => {
    const files = formatHgrm(fakeResult({ connectUs: [], rttUs: spread(1000, 1000, 100_000) }));
    assert.deepEqual(files.map((f) => f.histogram.name), ['rtt'], 'empty histograms get no file');
    const text = files[0]!.text;
    assert.match(text, /^ +Value +Percentile +TotalCount 1\/\(1-Percentile\)\n/);
    assert.match(text, /#\[Max += +100\.\d+, Total count += +1000\]/);
    const points = percentilePoints(text);
    assert.ok(points.length > 20);
    assert.equal(points[0]!.percentile, 0);
    assert.ok(Math.abs(points[0]!.valueMs - 1) < 0.01, `first value ${points[0]!.valueMs} ms`);
    assert.ok(points.every((p, i) => i === 0 || (p.inverse > points[i - 1]!.inverse && p.valueMs >= points[i - 1]!.valueMs)));
    assert.match(formatHgrmSections(fakeResult({ connectUs: [5], rttUs: [7] })), /^# wsbench connect \(ramp\), values in ms\n[\s\S]*\n# wsbench round trip \(run\), values in ms\n/);
    assert.deepEqual(renderReport('hgrm', fakeResult({ connectUs: [5], rttUs: [7], rampRttUs: [9] }), loadHtmlAssets).map((f) => f.suffix), ['.connect.hgrm', '.rtt.hgrm', '.rtt-ramp.hgrm']);
  });

  it('html: one file that loads nothing: the library inlined, a CSP that forbids requests, the data as safe JSON', () => {
    const result = { ...gated(), target: { url: 'ws://x/</script><script>alert(1)</script>', ownServer: false } };
    const html = formatHtml(result, loadHtmlAssets());
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; /);
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|https?:\/\/(?!github\.com\/leeoniya)/i, 'no external script, stylesheet or URL');
    assert.equal(html.match(/<script/g)!.length, 3, 'the data, uPlot, the page script: no injected script');
    assert.match(html, /var uPlot=function/);
    assert.match(html, /ws:\/\/x\/&lt;\/script&gt;/);
  });

  it('the API renders what the CLI writes', () => {
    const result = gated();
    assert.deepEqual(api.REPORT_FORMATS, ['html', 'md', 'junit', 'hgrm']);
    assert.deepEqual(api.renderReport('md', result, api.loadHtmlAssets), [{ suffix: '.md', text: formatMarkdown(result) }]);
  });

  it('--report and --format take known formats only, naming the option, the value and what is allowed', () => {
    assert.deepEqual(parseReportFormats('--report', 'html,JUNIT,html'), ['html', 'junit']);
    assert.throws(() => parseReportFormats('--report', 'html,pdf'), { message: '--report: "html,pdf" is not valid; expected html, md, junit, hgrm, or several comma-separated (html,junit)' });
    assert.throws(() => parseReportFormats('--format', 'html,md', { single: true }), { message: '--format: "html,md" is not valid; expected one of html, md, junit, hgrm' });
  });
});
