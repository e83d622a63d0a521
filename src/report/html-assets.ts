/**
 * The charting library the HTML report inlines: uPlot (MIT; its minified IIFE build and its CSS),
 * read from the installed package so the report file needs nothing from the network.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface HtmlAssets {
  readonly uplotJs: string;
  readonly uplotCss: string;
  readonly uplotVersion: string;
}

let cached: HtmlAssets | undefined;

export function loadHtmlAssets(): HtmlAssets {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('uplot/package.json'));
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  cached = {
    uplotJs: readFileSync(join(root, 'dist', 'uPlot.iife.min.js'), 'utf8'),
    uplotCss: readFileSync(join(root, 'dist', 'uPlot.min.css'), 'utf8'),
    uplotVersion: version,
  };
  return cached;
}
