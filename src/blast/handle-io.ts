/**
 * A client socket's reads and writes, straight at its libuv handle, past net's streams.
 *
 * Reads: net's `onread` option already reads every socket into one shared buffer, but each read
 * still runs net's onStreamRead (socket timers, checks, the callback's indirection) before ours.
 * `readDirect` puts a function of our own in its place on the handle, which hands the bytes read
 * to the socket's reader and leaves everything else (end of stream, errors, a destroyed socket)
 * to net's onStreamRead, as before.
 *
 * Writes, why: in a closed loop (`-p 1`) every echo costs one write, and net's stream layer is most of the
 * JavaScript in it. Each socket.write runs Writable.write, writeOrBuffer and _write, allocates a
 * WriteWrap request, and queues a nextTick for the write's callback, and the nextTick adds a JS
 * call when the read callback returns. A load generator that must cost less than the server it
 * tests cannot pay that per message (bench/blast-cpu-vs-tcpkali.ts measures it against the naive ws
 * client).
 *
 * Writes, how: handle.writeBuffer is the call net itself makes at the bottom of that stack. libuv first
 * tries the write at once (uv_try_write). When the kernel takes every byte, which is the usual case,
 * the write is done before the call returns: the request object is not kept, so one spare request
 * serves every such write in the process. When part of it must wait, libuv queues it and keeps a
 * pointer to the bytes, so the request keeps the buffer alive until its callback runs.
 *
 * Frames are framed and masked into one pool buffer that the process shares. A write that finished
 * at once leaves its bytes free for the next one. A queued write owns its part of the pool, and
 * later frames go after it. With frames of one length, the same Buffer view serves every write, so
 * a message allocates no Buffer on its way out.
 *
 * Order: libuv keeps the order of every write it is given, from either path. A frame goes this way
 * only when net's stream has nothing buffered (socket.writableLength is 0), so nothing net still
 * holds can end up behind it. Closing stays with net: socket.end() shuts down after libuv's queued
 * writes, and socket.destroy() cancels them (their callbacks see an error and do nothing).
 *
 * Both rest on Node internals, so both are off until `proveHandleIo` has run a loopback round of
 * real bytes through them in this process (see the self-test below): until then, and wherever the
 * self-test fails, the bindings are missing or WSBENCH_PORTABLE says so, every write goes through
 * socket.write and every read through net's onStreamRead (the portable path).
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { frameHeaderLength, writeFrameHeader } from '../protocol/frame-codec.js';
import { forcedOff, off, on, until, type FastPathVerdict } from '../runtime/fast-paths.js';

/** The part of a TCP handle (node's TCPWrap) used here. */
interface StreamHandle {
  writeBuffer(request: WriteRequest, data: Uint8Array): number;
  /** Bytes libuv holds queued for this handle. */
  readonly writeQueueSize: number;
}

/** A WriteWrap: the request object writeBuffer needs; it is kept only by a write that waits. */
interface WriteRequest {
  socket?: Socket | undefined;
  buffer?: Buffer | undefined;
  oncomplete?: (this: WriteRequest, status: number) => void;
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteRequest;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
  kReadBytesOrError: number;
}

const binding = loadBinding();
/** Did the self-test prove each path here? Off until it has. */
let writesProven = false;
let readsProven = false;

function loadBinding(): StreamWrapBinding | undefined {
  try {
    const load = (process as unknown as { binding?: (name: string) => unknown }).binding;
    const wrap = load?.call(process, 'stream_wrap') as Partial<StreamWrapBinding> | undefined;
    if (typeof wrap?.WriteWrap !== 'function' || !(wrap.streamBaseState instanceof Int32Array)) return undefined;
    if (typeof wrap.kLastWriteWasAsync !== 'number' || typeof wrap.kReadBytesOrError !== 'number') return undefined;
    return wrap as StreamWrapBinding;
  } catch {
    return undefined;
  }
}

/** The pool frames are built in (see the module comment); a new one when the rest of this cannot hold a frame. */
const POOL_BYTES = 64 * 1024;
let pool = Buffer.allocUnsafe(POOL_BYTES);
/** Where the free part of the pool begins: before it, bytes of queued writes. */
let poolFree = 0;
/**
 * The view last written, kept to be written again when the next frame has the same place and
 * length: pool[viewAt, viewAt + viewLength). It is known by these numbers, not by reading the
 * view's .buffer and .byteOffset, which go into the runtime each time.
 */
let view = pool.subarray(0, 0);
let viewAt = -1;
let viewLength = 0;
/** A request no pending write holds. */
let spare: WriteRequest | undefined;

/** The socket's handle, when a frame may be written to it directly now; else undefined. */
export function directHandle(socket: Socket): StreamHandle | undefined {
  if (!writesProven || socket.writableLength !== 0 || socket.destroyed) return undefined;
  return (socket as unknown as { _handle?: StreamHandle | null })._handle ?? undefined;
}

/** Bytes libuv holds queued for the socket, written past net (0 when none, or no handle). */
export function queuedBytes(socket: Socket): number {
  return (socket as unknown as { _handle?: StreamHandle | null })._handle?.writeQueueSize ?? 0;
}

/**
 * Frame and mask `payload` as one final client frame and write it to `handle`. A frame too long
 * for the pool is built in a buffer of its own.
 */
export function writeFrameDirect(socket: Socket, handle: StreamHandle, payload: Buffer, opcode: number): void {
  const length = payload.length;
  const frameLength = frameHeaderLength(length, true) + length;
  if (frameLength > POOL_BYTES) {
    const frame = Buffer.allocUnsafe(frameLength);
    writeFrameHeader(frame, 0, length, opcode, true, true, payload);
    write(socket, handle, frame, false);
    return;
  }
  if (poolFree + frameLength > POOL_BYTES) {
    pool = Buffer.allocUnsafe(POOL_BYTES);
    poolFree = 0;
    viewAt = -1;
  }
  writeFrameHeader(pool, poolFree, length, opcode, true, true, payload);
  if (viewAt !== poolFree || viewLength !== frameLength) {
    view = pool.subarray(poolFree, poolFree + frameLength);
    viewAt = poolFree;
    viewLength = frameLength;
  }
  write(socket, handle, view, true);
}

/**
 * Write bytes already framed and masked, as writeFrameDirect writes a frame. For the bench's floor
 * (bench/bare-io-client.ts): blast's write path without the framing.
 */
export function writeBytesDirect(socket: Socket, handle: StreamHandle, data: Buffer): void {
  write(socket, handle, data, false);
}

/** Write `data` (pooled: a view of the pool at poolFree) and, if it waits in libuv's queue, keep it alive. */
function write(socket: Socket, handle: StreamHandle, data: Buffer, pooled: boolean): void {
  const request = spare ?? new binding!.WriteWrap();
  spare = undefined;
  const status = handle.writeBuffer(request, data);
  if (status !== 0) {
    spare = request;
    socket.destroy(writeError(status));
    return;
  }
  if (binding!.streamBaseState[binding!.kLastWriteWasAsync] === 0) {
    spare = request;
    return;
  }
  // Queued: the request and its bytes stay until libuv is done with them.
  if (socket === writeProof?.socket) writeProof.queued++;
  request.socket = socket;
  request.buffer = data;
  request.oncomplete = onQueuedWriteDone;
  if (pooled) {
    // Later frames go after these bytes; 8-byte aligned, as Buffer's own pool does.
    poolFree = (poolFree + data.length + 7) & ~7;
  }
}

function onQueuedWriteDone(this: WriteRequest, status: number): void {
  const socket = this.socket;
  if (socket !== undefined && socket === writeProof?.socket) writeProof.done++;
  this.socket = undefined;
  this.buffer = undefined;
  // A write cancelled by destroy() needs nothing; another failure ends the connection, as net's would.
  if (status < 0 && socket && !socket.destroyed) socket.destroy(writeError(status));
}

function writeError(status: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(status);
  return Object.assign(new Error(`write ${code}`), { code, errno: status, syscall: 'write' });
}

// --- reads ---------------------------------------------------------------------------------------

/** The part of a TCP handle the reads use: its read callback, and (under net's symbol) its socket. */
interface ReadHandle {
  onread: (this: ReadHandle, arrayBuffer: unknown) => unknown;
  [owner: symbol]: unknown;
}

/** Where the bytes of a read go: the reader's view of them is buffer[0, bytes). */
export type ReadInto = (socket: Socket, bytes: number) => void;

let reader: ReadInto | undefined;
/** net's own read callback (the same function on every handle), and its symbol for the handle's socket. */
let netOnRead: ReadHandle['onread'] | undefined;
let ownerSymbol: symbol | undefined;

/**
 * Reads of `socket` (connected with net's `onread` option, so they land in its shared buffer) go
 * to `into` from now on, past net's onStreamRead; anything but bytes goes to net's as before.
 * Returns false, changing nothing, where the handle is not the kind expected.
 */
export function readDirect(socket: Socket, into: ReadInto): boolean {
  if (!readsProven) return false;
  return takeReads(socket, into);
}

function takeReads(socket: Socket, into: ReadInto): boolean {
  const handle = (socket as unknown as { _handle?: ReadHandle | null })._handle;
  if (!handle || typeof handle.onread !== 'function') return false;
  if (netOnRead === undefined) {
    ownerSymbol = Object.getOwnPropertySymbols(handle).find((symbol) => symbol.description === 'owner_symbol');
    if (!ownerSymbol || handle[ownerSymbol] !== socket) return false;
    netOnRead = handle.onread;
  }
  if (handle.onread !== netOnRead) return false;
  if (socket === selfTest?.socket) selfTest.into = into;
  else if (reader !== undefined && reader !== into) return false;
  else reader = into;
  handle.onread = onHandleRead;
  return true;
}

function onHandleRead(this: ReadHandle, arrayBuffer: unknown): unknown {
  const bytes = binding!.streamBaseState[binding!.kReadBytesOrError]!;
  if (bytes > 0) {
    const socket = this[ownerSymbol!] as Socket | undefined;
    if (socket && !socket.destroyed) {
      if (socket === selfTest?.socket) selfTest.into!(socket, bytes);
      else reader!(socket, bytes);
      return undefined;
    }
  }
  return netOnRead!.call(this, arrayBuffer);
}

// --- the self-test -------------------------------------------------------------------------------

export interface HandleIoProof {
  readonly directWrites: FastPathVerdict;
  readonly directReads: FastPathVerdict;
}

export interface HandleIoSelfTestOptions {
  /** Tests: a handle of the test's own in place of the socket's (one whose writes never complete, say). */
  readonly handle?: (real: StreamHandle) => StreamHandle;
  /** How long the peer's bytes and the queued writes' completions may take (default 5 s). */
  readonly timeoutMs?: number;
}

/** The self-test's writes that libuv queued, and their completions: every one queued must complete. */
let writeProof: { socket: Socket; queued: number; done: number } | undefined;
/** The self-test's socket: its reads go to the self-test's reader, not the process's. */
let selfTest: { socket: Socket; into?: ReadInto } | undefined;
let proven: Promise<HandleIoProof> | undefined;

/**
 * Prove the direct writes and reads in this process (once; again when a test passes options),
 * switch on those that passed, and say which. Blast's client processes await it before their
 * first connection.
 */
export function proveHandleIo(options?: HandleIoSelfTestOptions): Promise<HandleIoProof> {
  if (proven && !options) return proven;
  proven = selfTestHandleIo(options ?? {}).then((proof) => {
    writesProven = proof.directWrites.on;
    readsProven = proof.directReads.on;
    return proof;
  });
  return proven;
}

/** The verdicts in force now (both off until proveHandleIo has settled). */
export function handleIoInUse(): { directWrites: boolean; directReads: boolean } {
  return { directWrites: writesProven, directReads: readsProven };
}

/**
 * A loopback round through both paths, on a socket and a peer of its own:
 * - writes: frames of sizes around every header length, the pool's end and past the pool, written
 *   while the peer reads nothing, until libuv queues one (so the queued path runs), and 32 more
 *   behind it; then the peer reads. Every frame must arrive whole, in order, byte for byte, and
 *   every queued write must complete (its 'drain': libuv's queue empties);
 * - reads: the peer writes 256 KiB in pieces and ends. Every byte must reach the reader in order,
 *   none may reach net's callback, and net must still see the end of the stream.
 */
async function selfTestHandleIo(options: HandleIoSelfTestOptions): Promise<HandleIoProof> {
  const writesForced = forcedOff('directWrites');
  const readsForced = forcedOff('directReads');
  if (writesForced && readsForced) return { directWrites: off(writesForced), directReads: off(readsForced) };
  if (!binding) {
    const why = "process.binding('stream_wrap') has no WriteWrap here";
    return { directWrites: off(writesForced ?? why), directReads: off(readsForced ?? why) };
  }
  const timeoutMs = options.timeoutMs ?? 5000;
  const server = createServer({ pauseOnConnect: true, noDelay: true });
  let client: Socket | undefined;
  let peer: Socket | undefined;
  try {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    const readBuffer = Buffer.allocUnsafe(64 * 1024);
    const viaNet: Buffer[] = [];
    const socket = connect({
      port: (server.address() as { port: number }).port,
      host: '127.0.0.1',
      noDelay: true,
      onread: { buffer: readBuffer, callback: (bytes: number, buffer: Uint8Array) => viaNet.push(Buffer.from(buffer.subarray(0, bytes))) > 0 },
    });
    client = socket;
    socket.on('error', () => {});
    await once(socket, 'connect');
    peer = (await accepted)[0];
    peer.on('error', () => {});
    const directWrites = writesForced ? off(writesForced) : await proveWrites(socket, peer, options, timeoutMs);
    peer.resume();
    const directReads = readsForced ? off(readsForced) : await proveReads(socket, peer, readBuffer, viaNet, timeoutMs);
    return { directWrites, directReads };
  } catch (error) {
    const why = `self-test failed: ${(error as Error).message}`;
    return { directWrites: off(writesForced ?? why), directReads: off(readsForced ?? why) };
  } finally {
    writeProof = undefined;
    if (selfTest?.socket === client) selfTest = undefined;
    client?.destroy();
    peer?.destroy();
    server.close();
  }
}

const PROOF_SIZES = [0, 1, 125, 126, 127, 65_535, 65_536, 70_000, 20_000, 40_000, 3, 64];

async function proveWrites(socket: Socket, peer: Socket, options: HandleIoSelfTestOptions, timeoutMs: number): Promise<FastPathVerdict> {
  const real = (socket as unknown as { _handle?: StreamHandle | null })._handle;
  if (!real || typeof real.writeBuffer !== 'function') return off('the socket has no handle.writeBuffer');
  const handle = options.handle ? options.handle(real) : real;
  const source = randomBytes(70_000 + 256);
  const sent: Buffer[] = [];
  const proof = (writeProof = { socket, queued: 0, done: 0 });
  let sentBytes = 0;
  let behind = -1;
  while (behind < 32) {
    if (sentBytes > 64 * 1024 * 1024) return off('no write queued in 64 MiB: the queued path could not be tried');
    const i = sent.length;
    const payload = source.subarray(i % 256, (i % 256) + PROOF_SIZES[i % PROOF_SIZES.length]!);
    writeFrameDirect(socket, handle, payload, 2);
    if (socket.destroyed) return off('a direct write failed');
    sent.push(payload);
    sentBytes += frameHeaderLength(payload.length, true) + payload.length;
    if (behind >= 0) behind++;
    else if (proof.queued > 0) behind = 0;
  }
  const received: Buffer[] = [];
  let receivedBytes = 0;
  peer.on('data', (chunk: Buffer) => {
    received.push(chunk);
    receivedBytes += chunk.length;
  });
  peer.resume();
  const done = await until(() => receivedBytes >= sentBytes && proof.done === proof.queued && handle.writeQueueSize === 0, timeoutMs);
  writeProof = undefined;
  peer.removeAllListeners('data');
  peer.pause();
  if (!done) {
    if (receivedBytes < sentBytes) return off(`self-test: ${receivedBytes} of ${sentBytes} bytes written past net arrived`);
    return off('self-test: a queued write never completed (no drain)');
  }
  const frames = unmaskFrames(Buffer.concat(received));
  if (frames.length !== sent.length) return off(`self-test: ${frames.length} frames arrived of ${sent.length} written`);
  for (let i = 0; i < sent.length; i++) {
    if (!frames[i]!.equals(sent[i]!)) return off(`self-test: frame ${i} of ${sent.length} arrived changed`);
  }
  return on();
}

async function proveReads(socket: Socket, peer: Socket, readBuffer: Buffer, viaNet: Buffer[], timeoutMs: number): Promise<FastPathVerdict> {
  const got: Buffer[] = [];
  selfTest = { socket, into: (_socket, bytes) => void got.push(Buffer.from(readBuffer.subarray(0, bytes))) };
  if (!takeReads(socket, selfTest.into!)) return off("the socket's handle has no onread of net's to take over");
  let ended = false;
  socket.on('end', () => (ended = true));
  socket.resume();
  const expected = randomBytes(256 * 1024);
  for (let at = 0; at < expected.length; at += 20_000) {
    peer.write(expected.subarray(at, at + 20_000));
    await new Promise((resolve) => setImmediate(resolve));
  }
  peer.end();
  const done = await until(() => ended, timeoutMs);
  const bytes = Buffer.concat(got);
  if (viaNet.length > 0) return off(`self-test: ${viaNet.length} reads went to net's callback, not the handle's`);
  if (!bytes.equals(expected)) return off(`self-test: ${bytes.length} of ${expected.length} bytes read past net arrived${bytes.length === expected.length ? ' changed' : ''}`);
  if (!done) return off('self-test: the end of the stream never reached net');
  return on();
}


/** The payloads of masked client frames, unmasked (a reader of its own, so the test depends on nothing it tests). */
function unmaskFrames(bytes: Buffer): Buffer[] {
  const payloads: Buffer[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    let length = bytes[at + 1]! & 0x7f;
    let head = at + 2;
    if (length === 126) {
      length = bytes.readUInt16BE(head);
      head += 2;
    } else if (length === 127) {
      length = bytes.readUInt32BE(head) * 2 ** 32 + bytes.readUInt32BE(head + 4);
      head += 8;
    }
    const mask = bytes.subarray(head, head + 4);
    const payload = Buffer.from(bytes.subarray(head + 4, head + 4 + length));
    if (payload.length !== length) break;
    for (let i = 0; i < length; i++) payload[i]! ^= mask[i & 3]!;
    payloads.push(payload);
    at = head + 4 + length;
  }
  return payloads;
}
