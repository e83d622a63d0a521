/**
 * Entry of a serve worker process. It does not listen: the primary accepts each connection and hands
 * it over, and every upgrade asks the primary's admission point for a slot.
 */
import type { Socket } from 'node:net';
import type { PrimaryToServeWorker, ServeWorkerToPrimary } from '../ipc/serve-messages.js';
import { EchoServer } from './echo-server.js';
import { RemoteAdmission } from './remote-admission.js';

const send = (message: ServeWorkerToPrimary) => {
  if (process.connected) process.send!(message);
};
const admission = new RemoteAdmission(send);
let server: EchoServer | undefined;
let drainTimeoutMs = 5000;
const onAdoptedSocketClose = () => admission.socketClosed();

// Ctrl-C reaches the whole process group; the primary decides how the workers stop.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
// Without a primary there is nobody to admit or report to.
process.on('disconnect', () => process.exit(0));

process.on('message', (message: PrimaryToServeWorker, handle?: Socket) => {
  switch (message.t) {
    case 'start':
      server = new EchoServer(message.config, admission);
      drainTimeoutMs = message.config.drainTimeoutMs;
      send({ t: 'ready' });
      break;
    case 'conn':
      if (!handle) break;
      admission.acknowledgeArrival();
      handle.once('close', onAdoptedSocketClose);
      if (server) server.adopt(handle);
      else handle.destroy();
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
  }
});

async function shutdown(): Promise<void> {
  if (!server) return process.exit(0);
  await server.shutdown(drainTimeoutMs);
  admission.flush();
  // Disconnect only once the final report is handed to the channel.
  if (process.connected) process.send!({ t: 'final', counters: server.counters } satisfies ServeWorkerToPrimary, () => process.disconnect());
}
