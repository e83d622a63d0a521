/**
 * Entry of a serve worker process. It accepts through its own descriptors of the one listening
 * socket (the primary hands them out and never accepts), and every upgrade asks the primary's
 * admission point for a slot.
 */
import { proveSharedReads } from './server-connection.js';
import type { PrimaryToServeWorker, RelayedBroadcast, ServeWorkerToPrimary } from '../ipc/serve-messages.js';
import { EchoServer } from './echo-server.js';
import { keepYoungGenerationSmall } from './heap-tuning.js';
import { LISTENERS_PER_PROCESS } from '../limits/serve-plan.js';
import { ListenerSet, type ListeningHandle } from './listener-set.js';
import { RemoteAdmission } from './remote-admission.js';

const send = (message: ServeWorkerToPrimary, handle?: ListeningHandle) => {
  if (process.connected) process.send!(message, handle as never);
};
keepYoungGenerationSmall();
const admission = new RemoteAdmission(send);
/** Broadcast: to the primary, which passes it to the other workers; `sent` once it has left. */
const relay = (message: RelayedBroadcast, sent: () => void) => {
  if (process.connected) process.send!(message, undefined, undefined, sent);
  else sent();
};
let server: EchoServer | undefined;
let listeners: ListenerSet | undefined;
let drainTimeoutMs = 5000;

// Ctrl-C reaches the whole process group; the primary decides how the workers stop.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
// Without a primary there is nobody to admit or report to.
process.on('disconnect', () => process.exit(0));

process.on('message', (message: PrimaryToServeWorker, handle?: ListeningHandle) => {
  switch (message.t) {
    case 'start': {
      // The shared read buffer's self-test first: a fast path is on only once it has passed.
      void proveSharedReads().then((sharedReads) => {
        const echo = new EchoServer(message.config, admission, relay);
        server = echo;
        listeners = new ListenerSet((socket) => echo.accept(socket), {
          max: message.socketBudget,
          onRoom: () => send({ t: 'listeners-wanted', n: LISTENERS_PER_PROCESS }),
        });
        drainTimeoutMs = message.config.drainTimeoutMs;
        send({ t: 'ready', fastPaths: { sharedReads } });
      });
      break;
    }
    case 'bind':
      if (!server || !listeners) break;
      listeners.listen(server.config.host, server.config.port).then(
        (port) => send({ t: 'bound', port }, listeners!.handle),
        (error: NodeJS.ErrnoException) => send({ t: 'bind-failed', code: error.code ?? 'ERROR' }),
      );
      break;
    case 'listener':
      if (handle && listeners) listeners.add(handle);
      else handle?.close();
      break;
    case 'admit':
      admission.answer(message.id, message.outcome);
      break;
    case 'counters-request':
      if (server) send({ t: 'counters', id: message.id, counters: server.counters });
      break;
    case 'stats-reply':
      admission.answerStats(message.id, message.stats);
      break;
    case 'shutdown':
      void shutdown();
      break;
    case 'broadcast':
      server?.deliverRelayed(message);
      break;
  }
});

async function shutdown(): Promise<void> {
  listeners?.close();
  if (!server) return process.exit(0);
  await server.shutdown(drainTimeoutMs);
  admission.flush();
  // Disconnect only once the final report is handed to the channel.
  if (process.connected) process.send!({ t: 'final', counters: server.counters } satisfies ServeWorkerToPrimary, () => process.disconnect());
}
