/**
 * Accepting under load. Since libuv 1.45 (Node 20) a listening socket accepts one connection per
 * poll of the event loop (libuv PR #3696). A server busy echoing for a thousand sockets polls a few
 * dozen times a second, so it accepted only tens of connections a second, and every connection it
 * finally took had already timed out at its client (congestion collapse; measured in the README).
 *
 * The fix here: a process listens on the one socket through many descriptors. Each descriptor is a
 * duplicate of the same listening socket (received over IPC, which dups it with SCM_RIGHTS), libuv
 * polls each on its own, and so each poll of the loop can accept once per descriptor. With 64 of
 * them a busy process accepts 64 connections per poll instead of one: 3,000 new connections into a
 * server echoing for 1,000 busy ones took 1.2 s instead of 5.4 s (bench/ramp-under-load measures the
 * whole path). They all share the one kernel accept queue, so nothing is lost or reordered.
 *
 * A worker process near its open-file limit pauses (closes its descriptors, so the other workers
 * take the queue) and asks for fresh ones when it has room again: it never accepts a socket it
 * cannot hold.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

/** listen(2) backlog; every descriptor passes the same, so the shared socket keeps it. */
export const LISTEN_BACKLOG = 4096;

/** libuv's TCP handle (Node's tcp_wrap), as a listening server holds it and IPC carries it. */
export interface ListeningHandle {
  close(callback?: () => void): void;
}

/**
 * With a budget, the set stops accepting when this many sockets it accepted are open, and starts
 * again (calling `onRoom` to get descriptors back) once they are `RESUME_GAP` fewer.
 */
export interface SocketBudget {
  readonly max: number;
  readonly onRoom: () => void;
}
const RESUME_GAP = 256;

export class ListenerSet {
  readonly #servers: Server[] = [];
  readonly #onConnection: (socket: Socket) => void;
  #paused = false;
  #closed = false;
  /** Sockets accepted through this set and not yet closed. */
  #open = 0;

  constructor(onConnection: (socket: Socket) => void, budget?: SocketBudget) {
    if (!budget) {
      this.#onConnection = onConnection;
      return;
    }
    const onClose = () => {
      this.#open--;
      if (this.#paused && !this.#closed && this.#open <= budget.max - RESUME_GAP) {
        this.#paused = false;
        budget.onRoom();
      }
    };
    this.#onConnection = (socket) => {
      this.#open++;
      socket.once('close', onClose);
      // One more poll can still bring one connection per descriptor: the budget leaves room for it.
      if (this.#open >= budget.max) this.pause();
      onConnection(socket);
    };
  }

  /** Sockets accepted through this set that are still open (counted only with a budget). */
  get open(): number {
    return this.#open;
  }

  /** Descriptors accepting right now. */
  get size(): number {
    return this.#servers.length;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Bind and listen (the first descriptor). Rejects with the bind error (EADDRINUSE, …). */
  async listen(host: string, port: number): Promise<number> {
    const server = this.#server();
    server.listen({ host, port, backlog: LISTEN_BACKLOG });
    await once(server, 'listening');
    this.#servers.push(server);
    const address = server.address();
    return typeof address === 'object' && address ? address.port : port;
  }

  /** The handle to duplicate for other descriptors and processes. */
  get handle(): ListeningHandle | undefined {
    return (this.#servers[0] as unknown as { _handle?: ListeningHandle } | undefined)?._handle;
  }

  /** Accept through one more descriptor (a duplicate received over IPC). While paused it is closed. */
  add(handle: ListeningHandle): void {
    if (this.#paused || this.#closed) return handle.close();
    const server = this.#server();
    server.listen(handle as never, LISTEN_BACKLOG);
    this.#servers.push(server);
  }

  /** Stop accepting from this process: close its descriptors (the socket lives on in the others). */
  pause(): void {
    this.#paused = true;
    for (const server of this.#servers.splice(0)) server.close();
  }

  /** Stop accepting for good (shutdown). */
  close(): void {
    this.#closed = true;
    this.pause();
  }

  #server(): Server {
    const server = createServer(this.#onConnection);
    // An accept error (a reset before accept, EMFILE) concerns one connection, not the listener.
    server.on('error', ignore);
    return server;
  }
}

/**
 * Duplicates of a listening handle for a process without a primary (serve in-process): a child
 * process takes the handle over IPC and sends it back `count` times, each time as a new descriptor.
 * Resolves with what came back; on any failure, with fewer (the server still works, accepting once
 * per poll).
 */
export async function duplicateHandle(handle: ListeningHandle, count: number): Promise<ListeningHandle[]> {
  const handles: ListeningHandle[] = [];
  if (count <= 0) return handles;
  const helper = fork(fileURLToPath(new URL('./dup-helper-main.js', import.meta.url)), [String(count)], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    serialization: 'json',
  });
  await new Promise<void>((resolve) => {
    const timer = setTimeout(finish, 5000);
    function finish() {
      clearTimeout(timer);
      if (helper.connected) helper.disconnect();
      resolve();
    }
    helper.on('message', (_message: unknown, received?: ListeningHandle) => {
      if (received) handles.push(received);
      if (handles.length === count) finish();
    });
    helper.once('exit', finish);
    helper.once('error', finish);
    helper.send({ count }, handle as never);
  });
  return handles;
}

function ignore(): void {}
