/**
 * find's options (option-table.ts). The ones it passes on to blast are blast's entries
 * (blast-options.ts), with a shorter help line where find says less: flags, kind, default and
 * range are declared once.
 */
import { BLAST } from './blast-options.js';
import { byKey, type OptionSpec } from './option-table.js';

export const FIND_OPTIONS = [
  { flags: '--until <expr>', kind: 'text', repeatable: true, help: "a threshold every step must hold, blast's grammar (repeatable), e.g. 'rtt:p(99)<50ms' 'failed:ratio<0.001'" },
  { flags: '-c, --connections <from..to|count>', kind: 'text', default: '1k..100k', help: 'what grows: connections from..to; with a --rate range, the connections held throughout' },
  { flags: '--rate <from..to|rate>', kind: 'text', default: '1', help: 'a range (1..1000): search messages per second per connection at a fixed -c; a number: the rate while connections grow' },
  { flags: '--step-duration <duration>', kind: 'duration', default: 10_000, min: 1000, help: 'how long each step holds its load, judged on that time alone' },
  { flags: '--precision <percent>', kind: 'percent', default: 5, help: 'bisect until the holding and the failing load are within this share of the failing one' },
  { flags: '--growth <factor>', kind: 'text', default: '2', help: 'each step over the last while every step holds' },
  { ...BLAST.size, help: 'message payload size' },
  { ...BLAST.message, help: 'send this message template instead of a payload (see blast --help)' },
  { ...BLAST.replyId, help: 'request/response: pair replies with requests by this id (see blast --help)' },
  BLAST.maxHandshakes,
  BLAST.connectTimeout,
  BLAST.header,
  BLAST.subprotocol,
  { ...BLAST.insecure, help: 'wss://: accept a certificate that does not verify' },
  { ...BLAST.workers, defaultText: 'from the open-file limit, for the largest step' },
  { ...BLAST.sourceIp, defaultText: undefined, help: 'source addresses (see blast --help)' },
  { ...BLAST.recordHeaders, help: 'keep -H values in the result' },
  { flags: '--threshold <expr>', kind: 'text', repeatable: true, help: "gate the answer, e.g. 'capacity:count>=5000' (exit 99 when crossed)" },
  { flags: '--json', kind: 'boolean', help: 'print the result as JSON on stdout' },
  { flags: '-q, --quiet', kind: 'boolean', help: 'no step lines on stderr' },
  { flags: '-o, --out <file>', kind: 'file', help: 'write the JSON result here instead of results/find-<time>.json' },
  { flags: '--no-save', kind: 'boolean', help: 'do not write a results file' },
  { flags: '--report <formats>', kind: 'list', help: 'html: the capacity curve, next to the results file' },
] as const satisfies readonly OptionSpec[];

export const FIND = byKey(FIND_OPTIONS);
