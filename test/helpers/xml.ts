/**
 * A strict enough XML 1.0 well-formedness check for the JUnit report's tests, so they need no XML
 * parser dependency: one root, tags nested and closed, attributes quoted with no raw `<` or `&`,
 * text with no raw `<` or `&`, entities only the five predefined ones or numeric.
 */
export interface XmlElement {
  readonly name: string;
  readonly attributes: Record<string, string>;
  readonly children: XmlElement[];
  text: string;
}

const ENTITY = /&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;

function decode(text: string, where: string): string {
  if (/[<]/.test(text) || /&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(text)) throw new Error(`raw < or & in ${where}: ${JSON.stringify(text)}`);
  if (/[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u.test(text)) throw new Error(`character not allowed in XML in ${where}`);
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
  return text.replace(ENTITY, (_, name: string) => named[name] ?? String.fromCodePoint(name.startsWith('#x') ? parseInt(name.slice(2), 16) : Number(name.slice(1))));
}

export function parseXml(source: string): XmlElement {
  let rest = source.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  while (rest.length) {
    const lt = rest.indexOf('<');
    const text = lt === -1 ? rest : rest.slice(0, lt);
    if (text.length) {
      const decoded = decode(text, 'text');
      if (stack.length) stack.at(-1)!.text += decoded;
      else if (decoded.trim()) throw new Error(`text outside the root: ${JSON.stringify(text)}`);
    }
    if (lt === -1) break;
    rest = rest.slice(lt);
    const close = /^<\/([A-Za-z_][\w.-]*)\s*>/.exec(rest);
    if (close) {
      const open = stack.pop();
      if (open?.name !== close[1]) throw new Error(`</${close[1]}> closes <${open?.name}>`);
      rest = rest.slice(close[0].length);
      continue;
    }
    const tag = /^<([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/.exec(rest);
    if (!tag) throw new Error(`malformed markup at ${JSON.stringify(rest.slice(0, 60))}`);
    const attributes: Record<string, string> = {};
    for (const [, name, value] of tag[2]!.matchAll(/([A-Za-z_][\w.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
      if (name! in attributes) throw new Error(`attribute ${name} twice`);
      attributes[name!] = decode(value ?? '', `attribute ${name}`);
    }
    const element: XmlElement = { name: tag[1]!, attributes, children: [], text: '' };
    if (stack.length) stack.at(-1)!.children.push(element);
    else if (root) throw new Error('a second root element');
    else root = element;
    if (!tag[3]) stack.push(element);
    rest = rest.slice(tag[0].length);
  }
  if (stack.length) throw new Error(`<${stack.at(-1)!.name}> is not closed`);
  if (!root) throw new Error('no root element');
  return root;
}
