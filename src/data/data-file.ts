/**
 * --data FILE: one row of values per connection, for the {{data.FIELD}} placeholders. CSV with a
 * header row (RFC 4180: quoted fields may hold commas, doubled quotes and line breaks; CRLF or LF)
 * or JSON lines (.jsonl, .ndjson: one object per line, its string, number and boolean values as
 * fields). Blank lines are skipped; a UTF-8 byte-order mark is dropped.
 *
 * The whole file is checked before any connection (every row has every field a placeholder uses,
 * with a value a header can carry where one does): each refusal is one ConfigError naming the file,
 * the line and the field, exit 2. A value is never printed (it is often a token).
 *
 * Memory: the coordinator keeps the file's text and where each row starts (4 bytes a row), not the
 * rows parsed: each client process is sent the rows of its own connections only, parsed then
 * (rowsFor), and only the fields placeholders use.
 */
import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { ConfigError } from '../config/errors.js';

export type DataFormat = 'csv' | 'jsonl';

/** The fields a run's placeholders use, and which of them go into an upgrade header (no line breaks there). */
export interface DataNeeds {
  readonly fields: readonly string[];
  readonly headerFields: ReadonlySet<string>;
}

/** What a client process gets: its connections' rows, each the values of `fields` in that order. */
export interface DataRows {
  readonly fields: readonly string[];
  /**
   * Connection `first + i` of the process (i from 0) takes rows[i % rows.length]: at most one row
   * per connection, all of the file's rows when the process has more connections than the file rows.
   */
  readonly rows: readonly (readonly string[])[];
}

export class DataSet {
  readonly format: DataFormat;
  /** Rows in the file (the header row and blank lines not counted). */
  readonly rows: number;
  /** The fields placeholders use, in the order DataRows carries their values. */
  readonly fields: readonly string[];
  readonly #text: string;
  /** Where each row starts in #text. */
  readonly #starts: Uint32Array;
  /** CSV: the column of each of `fields`. */
  readonly #columns: readonly number[];

  constructor(
    readonly file: string,
    needs: DataNeeds,
  ) {
    this.format = formatOf(file);
    this.#text = readText(file);
    this.fields = needs.fields;
    const scan = this.format === 'csv' ? scanCsv(this.#text, file, needs) : scanJsonLines(this.#text, file, needs);
    this.#starts = scan.starts;
    this.#columns = scan.columns;
    this.rows = scan.starts.length;
    if (this.rows === 0) throw new ConfigError('--data', file, `expected at least one row${this.format === 'csv' ? ' under the header row' : ''}; the file has none`);
  }

  /** The row connection `connection` (the run's number, {{conn}}) takes: they go round the file. */
  rowOf(connection: number): number {
    return connection % this.rows;
  }

  /** The rows of `count` connections numbered from `first` (see DataRows). */
  rowsFor(first: number, count: number): DataRows {
    const rows: string[][] = [];
    for (let i = 0; i < Math.min(count, this.rows); i++) rows.push(this.#row(this.rowOf(first + i)));
    return { fields: this.fields, rows };
  }

  #row(index: number): string[] {
    const at = this.#starts[index]!;
    if (this.format === 'jsonl') {
      const end = this.#text.indexOf('\n', at);
      const object = JSON.parse(this.#text.slice(at, end === -1 ? undefined : end)) as Record<string, unknown>;
      return this.fields.map((field) => String(object[field]));
    }
    const record = readCsvRecord(this.#text, at, this.file, 0);
    return this.#columns.map((column) => record.values[column]!);
  }
}

function formatOf(file: string): DataFormat {
  const extension = extname(file).toLowerCase();
  if (extension === '.csv') return 'csv';
  if (extension === '.jsonl' || extension === '.ndjson') return 'jsonl';
  throw new ConfigError('--data', file, 'expected a .csv file (with a header row) or a .jsonl or .ndjson file (one JSON object a line)');
}

function readText(file: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new ConfigError('--data', file, `expected a readable file (${(error as NodeJS.ErrnoException).code})`);
  }
  if (!isUtf8(bytes)) throw new ConfigError('--data', file, 'expected UTF-8 text');
  let text: string;
  try {
    text = bytes.toString('utf8');
  } catch {
    throw new ConfigError('--data', file, `expected a file of at most ~512 MiB of text (it has ${bytes.length} bytes): split it and use --shard`);
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** The name an error starts with: the option, the file and the line. */
function at(file: string, line: number): string {
  return `--data ${file} line ${line}`;
}

function checkHeaderValue(value: string, field: string, needs: DataNeeds, file: string, line: number): void {
  if (needs.headerFields.has(field) && /[\r\n]/.test(value)) {
    throw new ConfigError(at(file, line), field, 'its value holds a line break (CR or LF), which an upgrade header cannot carry');
  }
}

// --- CSV ---------------------------------------------------------------------------------------

const COMMA = 0x2c;
const QUOTE = 0x22;
const CR = 0x0d;
const LF = 0x0a;

interface CsvRecord {
  readonly values: string[];
  /** Where the next record starts. */
  readonly next: number;
  /** Line breaks inside the record (quoted ones) and the one that ends it. */
  readonly lineBreaks: number;
}

/**
 * One record from `text[start]`: fields separated by commas, up to an unquoted line break (CRLF or
 * LF) or the end. A quoted field runs to its closing quote, "" standing for a quote.
 */
function readCsvRecord(text: string, start: number, file: string, line: number): CsvRecord {
  const values: string[] = [];
  let i = start;
  let lineBreaks = 0;
  for (;;) {
    let value: string;
    if (text.charCodeAt(i) === QUOTE) {
      const opened = line + lineBreaks;
      let parts = '';
      let from = i + 1;
      for (;;) {
        const quote = text.indexOf('"', from);
        if (quote === -1) throw new ConfigError(at(file, opened), 'a quoted field', 'expected its closing quote; the file ends first');
        parts += text.slice(from, quote);
        // Every piece's line breaks count, those before a "" too, so later errors name the right line.
        for (let k = from; k < quote; k++) if (text.charCodeAt(k) === LF) lineBreaks++;
        if (text.charCodeAt(quote + 1) === QUOTE) {
          parts += '"';
          from = quote + 2;
          continue;
        }
        i = quote + 1;
        break;
      }
      value = parts;
      const next = text.charCodeAt(i);
      if (i < text.length && next !== COMMA && next !== LF && !(next === CR && text.charCodeAt(i + 1) === LF)) {
        throw new ConfigError(at(file, line + lineBreaks), 'a quoted field', 'expected a comma or the end of the line after its closing quote (a quote inside a quoted field is written "")');
      }
    } else {
      let end = i;
      while (end < text.length) {
        const code = text.charCodeAt(end);
        if (code === COMMA || code === LF || (code === CR && text.charCodeAt(end + 1) === LF)) break;
        end++;
      }
      value = text.slice(i, end);
      i = end;
    }
    values.push(value);
    const code = text.charCodeAt(i);
    if (code === COMMA) {
      i++;
      continue;
    }
    if (code === CR) i++;
    if (i < text.length) {
      i++;
      lineBreaks++;
    }
    return { values, next: i, lineBreaks };
  }
}

/** A line with nothing on it (a blank line, or the end of the text): skipped. */
function blankAt(text: string, i: number): number | undefined {
  if (i >= text.length) return i;
  if (text.charCodeAt(i) === LF) return i + 1;
  if (text.charCodeAt(i) === CR && text.charCodeAt(i + 1) === LF) return i + 2;
  return undefined;
}

function scanCsv(text: string, file: string, needs: DataNeeds): { starts: Uint32Array; columns: number[] } {
  let i = 0;
  let line = 1;
  for (let next = blankAt(text, i); next !== undefined && i < text.length; next = blankAt(text, i)) {
    i = next;
    line++;
  }
  if (i >= text.length) throw new ConfigError('--data', file, 'expected a header row naming the fields, then at least one row; the file is empty');
  const header = readCsvRecord(text, i, file, line);
  // Header names are trimmed ("user, token" names token); values are kept as they are.
  const names = header.values.map((name) => name.trim());
  const headerLine = line;
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new ConfigError(at(file, headerLine), name, 'expected each field once in the header row');
    seen.add(name);
  }
  const columns = needs.fields.map((field) => {
    const column = names.indexOf(field);
    if (column === -1) throw new ConfigError(at(file, headerLine), `{{data.${field}}}`, `expected a field of the header row (${names.join(', ')})`);
    return column;
  });
  const headerColumns = columns.filter((_, k) => needs.headerFields.has(needs.fields[k]!));
  i = header.next;
  line += header.lineBreaks;
  let starts: Uint32Array = new Uint32Array(1024);
  let rows = 0;
  while (i < text.length) {
    const blank = blankAt(text, i);
    if (blank !== undefined) {
      i = blank;
      line++;
      continue;
    }
    const record = readCsvRecord(text, i, file, line);
    if (record.values.length !== names.length) {
      throw new ConfigError(at(file, line), `${record.values.length} field(s)`, `expected ${names.length}, as the header row has (${names.join(', ')})`);
    }
    for (const column of headerColumns) checkHeaderValue(record.values[column]!, names[column]!, needs, file, line);
    if (rows === starts.length) starts = grow(starts);
    starts[rows++] = i;
    i = record.next;
    line += record.lineBreaks;
  }
  return { starts: starts.slice(0, rows), columns };
}

// --- JSON lines --------------------------------------------------------------------------------

function scanJsonLines(text: string, file: string, needs: DataNeeds): { starts: Uint32Array; columns: number[] } {
  let starts: Uint32Array = new Uint32Array(1024);
  let rows = 0;
  let line = 0;
  for (let i = 0; i < text.length; ) {
    line++;
    const newline = text.indexOf('\n', i);
    const end = newline === -1 ? text.length : newline;
    const content = text.slice(i, end).trim();
    if (content !== '') {
      let value: unknown;
      try {
        value = JSON.parse(content);
      } catch (error) {
        throw new ConfigError(at(file, line), 'the line', `expected one JSON object (${(error as Error).message})`);
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(at(file, line), 'the line', 'expected one JSON object, such as {"token": "abc", "room": 7}');
      const object = value as Record<string, unknown>;
      for (const field of needs.fields) {
        const fieldValue = object[field];
        if (fieldValue === undefined || !Object.hasOwn(object, field)) throw new ConfigError(at(file, line), `{{data.${field}}}`, `expected the field ${JSON.stringify(field)} in every row; this one has ${Object.keys(object).join(', ') || 'none'}`);
        if (typeof fieldValue !== 'string' && typeof fieldValue !== 'number' && typeof fieldValue !== 'boolean') {
          throw new ConfigError(at(file, line), `{{data.${field}}}`, `expected the field to be a string, a number or a boolean`);
        }
        checkHeaderValue(String(fieldValue), field, needs, file, line);
      }
      if (rows === starts.length) starts = grow(starts);
      starts[rows++] = i;
    }
    i = end + 1;
  }
  return { starts: starts.slice(0, rows), columns: [] };
}

function grow(array: Uint32Array): Uint32Array {
  const larger = new Uint32Array(array.length * 2);
  larger.set(array);
  return larger;
}
