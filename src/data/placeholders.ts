/**
 * {{data.FIELD}} outside message templates: in the URL's path and query and in upgrade header
 * values. The request head is rendered once per connection, at its attempt: values are
 * percent-encoded in the request line (encodeURIComponent: a value is one path segment or one query
 * value, whatever it holds) and go as they are into header values (a line break is refused when the
 * file is read). A head without {{data.*}} stays the one string every connection shares.
 */

/** {{data.FIELD}}: a field name of letters, digits, _ and -. */
export const DATA_PLACEHOLDER = /\{\{\s*data\.([A-Za-z0-9_-]+)\s*\}\}/g;

/** The fields `text` names in {{data.FIELD}} placeholders, each once. */
export function dataFieldsIn(text: string): string[] {
  return [...new Set([...text.matchAll(DATA_PLACEHOLDER)].map((match) => match[1]!))];
}

/**
 * A URL with its {{data.*}} placeholders swapped for markers that URL parsing leaves alone (the
 * path would percent-encode the braces), and the way back.
 */
export function markDataPlaceholders(text: string): { marked: string; fields: string[]; unmark: (text: string) => string } {
  const fields: string[] = [];
  const marked = text.replace(DATA_PLACEHOLDER, (_, field: string) => `__wsbench_data_${fields.push(field) - 1}__`);
  const unmark = (output: string) => output.replace(/__wsbench_data_(\d+)__/g, (_, index: string) => `{{data.${fields[Number(index)]}}}`);
  return { marked, fields, unmark };
}

type HeadPart = string | { readonly column: number; readonly encode: boolean };

/** A request head with {{data.*}} in it, compiled once per client process (see the module comment). */
export class RequestHeadTemplate {
  readonly #parts: HeadPart[] = [];

  /** `head`: the request line and headers; `fields`: the order a connection's row carries its values in. */
  constructor(head: string, fields: readonly string[]) {
    const requestLineEnd = head.indexOf('\r\n');
    let from = 0;
    for (const match of head.matchAll(DATA_PLACEHOLDER)) {
      if (match.index! > from) this.#parts.push(head.slice(from, match.index));
      this.#parts.push({ column: fields.indexOf(match[1]!), encode: match.index! < requestLineEnd });
      from = match.index! + match[0].length;
    }
    if (from < head.length) this.#parts.push(head.slice(from));
  }

  /** Does `head` need rendering per connection? */
  static needed(head: string): boolean {
    return dataFieldsIn(head).length > 0;
  }

  render(row: readonly string[]): string {
    let head = '';
    for (const part of this.#parts) {
      if (typeof part === 'string') head += part;
      else head += part.encode ? encodeURIComponent(row[part.column]!) : row[part.column]!;
    }
    return head;
  }
}

/** A parsed URL's href with the placeholders its path percent-encoded ({{ → %7B%7B) written back as typed. */
export function showDataPlaceholders(href: string): string {
  return href.replace(/%7B%7Bdata\.([A-Za-z0-9_-]+)%7D%7D/gi, '{{data.$1}}');
}

/** The request head for `url` with its {{data.*}} placeholders kept (to render per connection). */
export function withDataPlaceholders(url: URL, build: (url: URL) => string): string {
  const { marked, unmark } = markDataPlaceholders(showDataPlaceholders(url.href));
  return unmark(build(new URL(marked)));
}
