/** The run's one traffic pattern, from its options. */
import { MessageTemplate, type DataLayout } from '../../message/template.js';
import { EchoPattern } from './echo.js';
import { FirePattern } from './fire.js';
import type { Pattern, PatternHost } from './pattern.js';
import { ProtocolPattern } from './protocol.js';
import { ReplyPattern } from './reply.js';
import { ScenarioPattern } from './scenario.js';
import { SubscribePattern } from './subscribe.js';

export function createPattern(host: PatternHost, layout: DataLayout | undefined, handshaken: (us: number) => void): Pattern {
  const options = host.options;
  if (options.protocol !== 'ws') return new ProtocolPattern(host, layout, handshaken);
  switch (options.pattern) {
    case 'echo':
      return new EchoPattern(host);
    case 'reply':
      return new ReplyPattern(host);
    case 'fire':
      return new FirePattern(host);
    case 'subscribe':
      return new SubscribePattern(host, options.subscribe === undefined ? undefined : new MessageTemplate(options.subscribe, '--subscribe', layout));
    case 'scenario':
      return new ScenarioPattern(host, layout);
  }
}
