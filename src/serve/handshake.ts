/**
 * The server's half of the opening handshake (RFC 6455 4.2.2), as ws's WebSocketServer answers it
 * with permessage-deflate off, for upgrades serve completes itself (serve/server-connection.ts).
 * The request's method, Upgrade, key and version were checked before a slot was taken
 * (echo-server.ts's isWebSocketUpgrade); what is left is what ws checks after that: the
 * Sec-WebSocket-Protocol list, parsed by ws's grammar (a malformed one is refused with 400), of
 * which the first name is chosen, as ws chooses without handleProtocols. Sec-WebSocket-Extensions
 * is ignored, as ws ignores it when it offers no extension; with --compress, a permessage-deflate
 * offer is accepted as ws's perMessageDeflate accepts it (protocol/permessage-deflate.ts), and a
 * malformed or invalid offer is refused with 400, as ws refuses it.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { acceptOffer, ExtensionError, type DeflateParams, type DeflateServerPolicy } from '../protocol/permessage-deflate.js';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/**
 * The 101 answer to an upgrade request and, with `compression`, the permessage-deflate parameters
 * agreed (undefined: not negotiated); undefined when ws would refuse the request with 400.
 */
export function upgradeResponse(req: IncomingMessage, compression?: DeflateServerPolicy): { head: string; deflate: DeflateParams | undefined } | undefined {
  const key = req.headers['sec-websocket-key'] as string;
  const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
  let head = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n`;
  const offered = req.headers['sec-websocket-protocol'];
  if (offered !== undefined) {
    const protocol = firstSubprotocol(offered);
    if (protocol === undefined) return undefined;
    head += `Sec-WebSocket-Protocol: ${protocol}\r\n`;
  }
  let deflate: DeflateParams | undefined;
  const extensions = req.headers['sec-websocket-extensions'];
  if (compression && extensions !== undefined) {
    try {
      const accepted = acceptOffer(extensions, compression);
      if (accepted) {
        head += `Sec-WebSocket-Extensions: ${accepted.header}\r\n`;
        deflate = accepted.params;
      }
    } catch (error) {
      if (error instanceof ExtensionError) return undefined;
      throw error;
    }
  }
  return { head: head + '\r\n', deflate };
}

/**
 * The first name of a Sec-WebSocket-Protocol list (tokens separated by commas and optional blanks),
 * or undefined when the list is malformed or names one twice: ws's subprotocol.parse, which
 * throws in exactly those cases.
 */
export function firstSubprotocol(header: string): string | undefined {
  const seen = new Set<string>();
  let start = -1;
  let end = -1;
  let i = 0;
  for (; i < header.length; i++) {
    const code = header.charCodeAt(i);
    if (end === -1 && isTokenChar(code)) {
      if (start === -1) start = i;
    } else if (i !== 0 && (code === 0x20 || code === 0x09)) {
      if (end === -1 && start !== -1) end = i;
    } else if (code === 0x2c) {
      if (start === -1) return undefined;
      if (end === -1) end = i;
      const protocol = header.slice(start, end);
      if (seen.has(protocol)) return undefined;
      seen.add(protocol);
      start = end = -1;
    } else {
      return undefined;
    }
  }
  if (start === -1 || end !== -1) return undefined;
  const last = header.slice(start, i);
  if (seen.has(last)) return undefined;
  seen.add(last);
  return seen.values().next().value;
}

/** RFC 7230 tchar: ! # $ % & ' * + - . ^ _ ` | ~ digits and letters. */
function isTokenChar(code: number): boolean {
  if ((code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a)) return true;
  return code < 128 && "!#$%&'*+-.^_`|~".includes(String.fromCharCode(code));
}
