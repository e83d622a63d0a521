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
 * Where the bindings this needs are missing (a Node without process.binding('stream_wrap')),
 * `directWrites` is false: every write goes through socket.write and every read through net's
 * onStreamRead, as before.
 */
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { frameHeaderLength, writeFrameHeader } from '../protocol/frame-codec.js';

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
/** Can frames go to the handle directly here? */
export const directWrites = binding !== undefined;

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
  if (!binding || socket.writableLength !== 0 || socket.destroyed) return undefined;
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
  if (!binding) return false;
  const handle = (socket as unknown as { _handle?: ReadHandle | null })._handle;
  if (!handle || typeof handle.onread !== 'function') return false;
  if (netOnRead === undefined) {
    ownerSymbol = Object.getOwnPropertySymbols(handle).find((symbol) => symbol.description === 'owner_symbol');
    if (!ownerSymbol || handle[ownerSymbol] !== socket) return false;
    netOnRead = handle.onread;
  }
  if (handle.onread !== netOnRead || (reader !== undefined && reader !== into)) return false;
  reader = into;
  handle.onread = onHandleRead;
  return true;
}

function onHandleRead(this: ReadHandle, arrayBuffer: unknown): unknown {
  const bytes = binding!.streamBaseState[binding!.kReadBytesOrError]!;
  if (bytes > 0) {
    const socket = this[ownerSymbol!] as Socket | undefined;
    if (socket && !socket.destroyed) {
      reader!(socket, bytes);
      return undefined;
    }
  }
  return netOnRead!.call(this, arrayBuffer);
}
