/**
 * Results files: written atomically (a temp file renamed into place), named by time. The path is
 * checked before a run starts, so a run is never lost to a path that cannot be written.
 */
import { lstatSync, mkdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError, RunError } from '../config/errors.js';

export function defaultResultsPath(kind: string, at = new Date(), directory = 'results'): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', '-');
  return join(directory, `${kind}-${stamp}-${process.pid}.json`);
}

/**
 * Make sure `path` can be written: not a directory, its folder there or creatable, and a file can
 * be created beside it (then removed). Throws a ConfigError naming `option` otherwise.
 */
export function checkWritable(path: string, option: string): void {
  const fail = (why: string) => new ConfigError(option, path, why);
  try {
    // Results replace what is at the path (a new file renamed over it): only a regular file may be
    // there. A device (--out /dev/stdout) or a link would be replaced by a file, not written through.
    const found = lstatSync(path);
    if (found.isDirectory()) throw fail('is a directory; expected a file path such as results/run.json');
    if (found.isSymbolicLink()) throw fail('is a symbolic link, which would be replaced by the results file; give the path it points to');
    if (!found.isFile()) throw fail('is not a regular file (a device, pipe or socket), which would be replaced by the results file; expected a file path such as results/run.json (--json prints the result on stdout)');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw fail(`cannot be reached (${code})`);
  }
  makeDirectories(dirname(path), fail);
  const probe = temporaryPath(path);
  try {
    writeFileSync(probe, '', { flag: 'wx' });
  } catch (error) {
    throw fail(`cannot be written here (${(error as NodeJS.ErrnoException).code})`);
  } finally {
    removeQuietly(probe);
  }
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeTextAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/** A reader never sees half a file: it is written beside the target, then renamed over it. */
export function writeTextAtomic(path: string, text: string): void {
  makeDirectories(dirname(path), (why) => new ConfigError('results file', path, why));
  const temporary = temporaryPath(path);
  try {
    writeFileSync(temporary, text);
    renameSync(temporary, path);
  } catch (error) {
    removeQuietly(temporary);
    // A full disk, a read-only file system: say which file could not be written (exit 1).
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    throw new RunError(code, `could not write ${path}: ${code} (${(error as Error).message.replace(/^[A-Z]+: /, '').split(',')[0]})`);
  }
}

function temporaryPath(path: string): string {
  return `${path}.${process.pid}.tmp`;
}

/**
 * mkdir -p, one level at a time from the nearest folder that exists. (Node's recursive mkdir spins
 * forever on some paths, such as under /proc; this fails with the code instead.)
 */
function makeDirectories(directory: string, fail: (why: string) => Error): void {
  const missing: string[] = [];
  for (let current = resolve(directory); ; ) {
    let isFolder: boolean;
    try {
      isFolder = statSync(current).isDirectory();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw fail(`${current} cannot be reached (${code})`);
      missing.push(current);
      const parent = dirname(current);
      if (parent === current) break;
      current = parent;
      continue;
    }
    if (!isFolder) throw fail(`${current} is not a folder`);
    break;
  }
  for (const folder of missing.reverse()) {
    try {
      mkdirSync(folder);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw fail(`the folder ${folder} cannot be created (${code})`);
    }
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // not there
  }
}
