// SyscallConnection: syscalls made in another process, which runs the syscall server (native/
// server.c) on a socket. A request is the syscall number and six arguments (7 x int64); the reply
// is the raw int64 result. Replies come in request order; one process runs one syscall at a time.
//
// Requests are queued synchronously, in call order (an `await` between queueing and writing could
// reorder them), and everything queued in one tick is written in one batch, so many requests can
// be outstanding at once (pipelining). When the process goes away under outstanding requests
// (EOF on the socket, or `hangup` from whoever saw it exec or exit), they all reject with
// SyscallHangupError; later requests reject with SyscallSendError. Nothing waits forever.
//
// Memory of a process in another address space travels in the same stream (the stream memory
// transport): a request to store the bytes that follow it at an address, or to write the bytes
// at an address onto the link ahead of its reply. Being requests, they keep their place among the
// syscalls around them: a write is done before any syscall made after it.
import type { AsyncFileDescriptor } from "../epoller.js";
import type { Pointer } from "../handle/pointer.js";
import type { RAM } from "../memory/ram.js";
import { native } from "../native.js";
import { SyscallError, SyscallHangupError, SyscallSendError, withoutStack } from "../near/errors.js";
import {
  checkSyscallNumber,
  isErrno,
  type SyscallArg,
  type SyscallInterface,
  syscallName,
  wideArg,
} from "../near/sysif.js";
import { bytesSerializer } from "../struct.js";
import { EPOLL } from "../sys/epoll.js";
import { SHUT } from "../sys/socket/index.js";

const REQUEST_SIZE = 56;
/** Requests that move memory through the link (native/rsyscall.h). */
const OP_RECV_MEMORY = -1;
const OP_SEND_MEMORY = -2;
/**
 * Our memory requests are written from (kept, reused): it starts small (from an arena, no syscall:
 * every child has one) and grows, for large memory writes, to a socket buffer's worth.
 */
const WRITE_ROOM_FIRST = 4096;
const WRITE_ROOM = 256 * 1024;
const REPLY_SIZE = 8;
/**
 * Our memory replies are read into (kept, reused): it starts small and doubles each time a read
 * fills it, up to READ_SIZE. Small at first because every child has one, and the view over it counts
 * as external memory to V8, whose collector runs more often the more of that there is.
 */
const READ_SIZE_FIRST = 512 * REPLY_SIZE;
const READ_SIZE = 8192 * REPLY_SIZE;
const TWO_32 = 2 ** 32;

interface Outstanding {
  nr: number;
  raw: boolean;
  resolve: (result: number) => void;
  reject: (e: unknown) => void;
  /** What the request uses (memory), released when it completes. */
  held: (() => void)[] | undefined;
  /** For a memory read: where the bytes that come ahead of the reply go, and how many came. */
  data?: Buffer;
  got?: number;
}

/** A request's name, for errors: the syscall's, or what a memory request does. */
function requestName(nr: number): string {
  if (nr === OP_RECV_MEMORY) return "memory write";
  if (nr === OP_SEND_MEMORY) return "memory read";
  return syscallName(nr);
}

function releaseAll(held: (() => void)[] | undefined): void {
  if (held) for (const release of held) release();
}

/** A first-in first-out queue with O(1) push and shift (Array.shift is O(n)). */
class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  peek(): T | undefined {
    return this.#items[this.#head];
  }

  shift(): T | undefined {
    if (this.#head === this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    // Drop the consumed prefix once it is most of the array: amortized O(1).
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Empties the queue, returning what was in it. */
  drain(): T[] {
    const items = this.#items.slice(this.#head) as T[];
    this.#items = [];
    this.#head = 0;
    return items;
  }
}

/**
 * The link to a process that runs the syscall server: the `sysif` of its task. Requests are queued
 * in call order and written in batches, and replies come in the same order, so many calls can be
 * outstanding at once; when the process goes away they reject at once instead of waiting forever.
 */
export class SyscallConnection implements SyscallInterface {
  readonly #afd: AsyncFileDescriptor;
  readonly #ram: RAM;
  /** Requests not yet written, encoded back to back. */
  #batch = Buffer.alloc(64 * REQUEST_SIZE);
  /** Bytes before this were written already. */
  #batchStart = 0;
  #batchLength = 0;
  readonly #outstanding = new Fifo<Outstanding>();
  #partial = Buffer.alloc(0);
  /** Where replies are read to (our memory, reused), and a view of it to parse them in place. */
  #replies: { room: Pointer<Buffer>; view: Buffer } | undefined;
  /** Where requests are copied to be written from (our memory, reused), and a view of it. */
  #requests: { room: Pointer<Buffer>; view: Buffer } | undefined;
  #writing = false;
  #reading = false;
  /** Why new requests are refused: close() was called, or the process went away. */
  #refusing: string | undefined;
  /** The process went away (or the connection is fully closed): nothing more will be read. */
  #gone = false;
  /** Releases waiting for the next request (see holdUntilNextCompletes). */
  #held: (() => void)[] | undefined;

  /**
   * Whether a reply awaited keeps Node's event loop alive (as any pending IO does). Not for the link
   * of a blocking epoller's waiter, which waits whenever anything is watched there: its epoller
   * holds Node itself while a wait must (see Epoller.makeBlocking).
   */
  holdsNode = true;

  readonly hungUp: Promise<string>;
  #settleHungUp: (reason: string) => void = () => {};

  /**
   * `afd` is our end of the socket, in our own process; `ram` is our own memory (the Node process's).
   * @internal Connections are made with the threads that use them.
   */
  constructor(afd: AsyncFileDescriptor, ram: RAM) {
    this.#afd = afd;
    this.#ram = ram;
    this.hungUp = new Promise((resolve) => {
      this.#settleHungUp = resolve;
    });
    this.#watchWhileIdle();
  }

  syscall(
    nr: number,
    a1?: SyscallArg,
    a2?: SyscallArg,
    a3?: SyscallArg,
    a4?: SyscallArg,
    a5?: SyscallArg,
    a6?: SyscallArg,
  ): Promise<number> {
    return this.#request(nr, false, undefined, undefined, a1, a2, a3, a4, a5, a6);
  }

  syscallRaw(
    nr: number,
    a1?: SyscallArg,
    a2?: SyscallArg,
    a3?: SyscallArg,
    a4?: SyscallArg,
    a5?: SyscallArg,
    a6?: SyscallArg,
  ): Promise<number> {
    return this.#request(nr, true, undefined, undefined, a1, a2, a3, a4, a5, a6);
  }

  /**
   * Stores `bytes` at `address` in the process, through the link: the bytes follow the request in
   * the stream, so the write is done before any syscall made after this call, and nothing waits
   * for its reply. `bytes` may be reused at once (they are copied). If the process cannot store
   * them (the address is not mapped there), the connection hangs up: every later use of that
   * memory would be wrong.
   */
  writeMemory(address: number, bytes: Uint8Array): void {
    this.#request(OP_RECV_MEMORY, false, bytes, undefined, address, bytes.length).catch((e: unknown) => {
      if (e instanceof SyscallError) this.hangup(`a memory write to 0x${address.toString(16)} failed: ${e.code}`);
    });
  }

  /** Copies `length` bytes at `address` in the process, through the link. */
  async readMemory(address: number, length: number): Promise<Buffer> {
    const data = Buffer.allocUnsafe(length);
    await this.#request(OP_SEND_MEMORY, false, undefined, data, address, length);
    return data;
  }

  /** How many requests await their reply. */
  get outstanding(): number {
    return this.#outstanding.length;
  }

  holdUntilNextCompletes(release: () => void): void {
    if (this.#held) {
      this.#held.push(release);
      return;
    }
    const held = [release];
    this.#held = held;
    // Taken by a request made in this same tick; if none was (the caller failed before making
    // it), nothing is in use.
    queueMicrotask(() => {
      if (this.#held !== held) return;
      this.#held = undefined;
      releaseAll(held);
    });
  }

  /** Whether the process went away (or close was called). */
  get closed(): boolean {
    return this.#refusing !== undefined;
  }

  #request(
    nr: number,
    raw: boolean,
    payload: Uint8Array | undefined,
    data: Buffer | undefined,
    a1: SyscallArg = 0,
    a2: SyscallArg = 0,
    a3: SyscallArg = 0,
    a4: SyscallArg = 0,
    a5: SyscallArg = 0,
    a6: SyscallArg = 0,
  ): Promise<number> {
    const held = this.#held;
    this.#held = undefined;
    if (this.#refusing !== undefined) {
      releaseAll(held);
      return Promise.reject(new SyscallSendError(requestName(nr), this.#refusing));
    }
    const size = REQUEST_SIZE + (payload?.length ?? 0);
    let start = 0;
    try {
      this.#reserve(size);
      start = this.#batchLength;
      // Only the memory requests, which carry a payload or expect data, may use the negative numbers.
      this.#put(start, payload || data ? nr : checkSyscallNumber(nr), nr, 0);
      this.#put(start + 8, a1, nr, 1);
      this.#put(start + 16, a2, nr, 2);
      this.#put(start + 24, a3, nr, 3);
      this.#put(start + 32, a4, nr, 4);
      this.#put(start + 40, a5, nr, 5);
      this.#put(start + 48, a6, nr, 6);
    } catch (e) {
      releaseAll(held);
      return Promise.reject(e);
    }
    if (payload) this.#batch.set(payload, start + REQUEST_SIZE);
    // Queued only once every argument passed: a refused request leaves nothing behind.
    this.#batchLength = start + size;
    return new Promise((resolve, reject) => {
      this.#outstanding.push(
        data ? { nr, raw, resolve, reject, held, data, got: 0 } : { nr, raw, resolve, reject, held },
      );
      if (!this.#writing) {
        this.#writing = true;
        queueMicrotask(() => void this.#write());
      }
      if (!this.#reading) void this.#read();
    });
  }

  /** Makes room for `size` more bytes in the batch. */
  #reserve(size: number): void {
    if (this.#batchLength + size <= this.#batch.length) return;
    const pending = this.#batchLength - this.#batchStart;
    const target =
      pending + size <= this.#batch.length
        ? this.#batch
        : Buffer.alloc(Math.max(2 * this.#batch.length, pending + size));
    this.#batch.copy(target, 0, this.#batchStart, this.#batchLength);
    this.#batch = target;
    this.#batchStart = 0;
    this.#batchLength = pending;
  }

  /** Writes one int64 at `off`: safe integers as two 32-bit halves (no BigInt), the rest checked. */
  #put(off: number, value: SyscallArg, nr: number, position: number): void {
    if (Number.isSafeInteger(value)) {
      const n = value as number;
      const high = Math.floor(n / TWO_32);
      this.#batch.writeUInt32LE(n - high * TWO_32, off);
      this.#batch.writeInt32LE(high, off + 4);
    } else {
      this.#batch.writeBigInt64LE(wideArg(value, nr, position), off);
    }
  }

  /** Writes what is queued, a batch at a time, until nothing is. */
  async #write(): Promise<void> {
    try {
      while (this.#batchLength > this.#batchStart && !this.#gone) {
        const pending = this.#batchLength - this.#batchStart;
        const size = this.#requests?.view.length ?? 0;
        if (size < Math.min(pending, WRITE_ROOM) || size === 0) {
          let want = Math.max(WRITE_ROOM_FIRST, size);
          while (want < Math.min(pending, WRITE_ROOM)) want *= 2;
          const requests = await this.#room(want);
          this.#requests?.room.free();
          this.#requests = requests;
        }
        const requests = this.#requests!;
        // Taken off the batch before any await: requests queued meanwhile may move what is left.
        const start = this.#batchStart;
        const length = Math.min(requests.view.length, this.#batchLength - start);
        this.#batch.copy(requests.view, 0, start, start + length);
        this.#batchStart = start + length;
        if (this.#batchStart === this.#batchLength) this.#batchStart = this.#batchLength = 0;
        await this.#afd.writeAllFrom(requests.room, length);
      }
    } catch (e) {
      this.hangup(`writing the request failed: ${(e as Error).message}`);
    } finally {
      this.#writing = false;
      if (this.#gone) this.#requests?.room.free();
      if (this.#shutdownWhenWritten) this.#shutdownWrite();
    }
  }

  /** `size` bytes of our memory for requests or replies, and our view of it. */
  async #room(size: number): Promise<{ room: Pointer<Buffer>; view: Buffer }> {
    const room = await this.#ram.malloc(bytesSerializer, size);
    return { room, view: Buffer.from(native.view(room.near, size)) };
  }

  /** Reads replies while requests are outstanding; stops when none are, so an idle child never keeps Node alive. */
  async #read(): Promise<void> {
    this.#reading = true;
    try {
      while (this.#outstanding.length > 0 && !this.#gone) {
        const replies = this.#replies ?? (this.#replies = await this.#room(READ_SIZE_FIRST));
        // A short read is taken for drained (the read that would say EAGAIN costs a round trip
        // about 4 us here): replies come written plainly, by the server or by a program relaying
        // its output (ssh, sudo), never with fds or out-of-band bytes.
        const n = await this.#afd.readInto(replies.room, true, this.holdsNode);
        if (n === 0) {
          this.hangup("the connection reached EOF");
          return;
        }
        this.#dispatch(replies.view.subarray(0, n));
        if (n === replies.view.length && n < READ_SIZE) {
          this.#replies = await this.#room(2 * n);
          replies.room.free();
        }
      }
    } catch (e) {
      this.hangup(`reading the reply failed: ${(e as Error).message}`);
    } finally {
      this.#reading = false;
      if (this.#gone) this.#replies?.room.free();
      else this.#watchWhileIdle();
    }
  }

  #watchingIdle = false;

  /**
   * Hangs up when the other end closes while no request is outstanding (nobody reads then), without
   * holding Node open: a link whose far end went away is closed on our side at once. For a child of
   * ours the helper tells first; for a remote one ssh waits for us to close a forward's end.
   */
  #watchWhileIdle(): void {
    if (this.#watchingIdle || this.#gone) return;
    this.#watchingIdle = true;
    // Weakly: the wait sits in the epoller, and must not keep a dropped connection (and the child
    // it would be killed with) alive.
    const weak = new WeakRef(this);
    this.#afd.epolled.waitFor(EPOLL.RDHUP | EPOLL.HUP | EPOLL.ERR, false, true).then(
      () => {
        const self = weak.deref();
        if (self) self.#closedWhileIdle();
      },
      () => {
        const self = weak.deref();
        if (self) self.#watchingIdle = false;
      },
    );
  }

  #closedWhileIdle(): void {
    this.#watchingIdle = false;
    // A read under way (or about to start for a new request) sees the EOF itself.
    if (!this.#gone && !this.#reading && this.#outstanding.length === 0) this.hangup("the connection reached EOF");
  }

  /**
   * Settles the requests `data` answers; `data` is a view of memory the next read reuses. A memory
   * read's bytes come ahead of its reply, and go straight to the request's own buffer.
   */
  #dispatch(data: Buffer): void {
    const bytes = this.#partial.length ? Buffer.concat([this.#partial, data]) : data;
    let off = 0;
    for (;;) {
      const request = this.#outstanding.peek();
      if (!request) {
        if (off < bytes.length) this.hangup("a reply came with no request outstanding");
        break;
      }
      if (request.data && request.got! < request.data.length) {
        const n = Math.min(bytes.length - off, request.data.length - request.got!);
        bytes.copy(request.data, request.got, off, off + n);
        request.got! += n;
        off += n;
        if (request.got! < request.data.length) break;
      }
      if (off + REPLY_SIZE > bytes.length) break;
      this.#outstanding.shift();
      releaseAll(request.held);
      // Exact for every result a syscall gives below 2^53 (fds, sizes, user addresses, -errno).
      const result = bytes.readInt32LE(off + 4) * TWO_32 + bytes.readUInt32LE(off);
      off += REPLY_SIZE;
      if (!request.raw && isErrno(result)) request.reject(new SyscallError(-result, requestName(request.nr)));
      else request.resolve(result);
    }
    this.#partial = Buffer.from(bytes.subarray(off));
    if (this.#refusing !== undefined && this.#outstanding.length === 0) this.hangup(this.#refusing);
  }

  /**
   * The process went away (it exec'd or exited): outstanding requests reject with
   * SyscallHangupError, later ones with SyscallSendError. Idempotent.
   */
  hangup(reason: string): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#refusing ??= reason;
    this.#batchStart = this.#batchLength = 0;
    for (const request of this.#outstanding.drain()) {
      // The process is gone, so nothing uses the request's memory any more.
      releaseAll(request.held);
      request.reject(withoutStack(() => new SyscallHangupError(requestName(request.nr), reason)));
    }
    void this.#afd.close().catch(() => {});
    if (!this.#reading) this.#replies?.room.free();
    if (!this.#writing) this.#requests?.room.free();
    this.#settleHungUp(reason);
  }

  /**
   * After a request that ends the process (exit): once everything queued is written, shuts down our
   * end for writing, so that whatever else holds the process's end of the link (a program relaying
   * it) sees EOF too, lets go, and the hang-up can arrive.
   */
  finish(): void {
    this.#shutdownWhenWritten = true;
    if (!this.#writing) this.#shutdownWrite();
  }

  #shutdownWhenWritten = false;

  #shutdownWrite(): void {
    if (this.#gone) return;
    void this.#afd.handle.shutdown(SHUT.WR).catch(() => {});
  }

  /**
   * Refuses new requests (SyscallSendError); those already made still settle, then our end of the
   * socket is closed. The process itself goes on until it reads EOF (the server then exits).
   */
  async close(): Promise<void> {
    this.#refusing ??= "the connection was closed";
    if (this.#outstanding.length === 0) this.hangup(this.#refusing);
  }
}
