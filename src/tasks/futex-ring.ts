// One io_uring for the whole Node process, in which a futex wait per child tells us when it execs
// or exits, instead of a helper process per child (src/tasks/helper.ts, the fallback).
//
// The kernel clears a child's CLONE_CHILD_CLEARTID word and wakes the futex at its exec or exit;
// an IORING_OP_FUTEX_WAIT on that word completes then. It must be a shared wait (no
// FUTEX2_PRIVATE): the kernel's wake is. The completion is posted by task work on Node's main
// thread (the submitter), which makes the ring fd readable; the fd is in our epoller, so libuv
// tells us. No DEFER_TASKRUN: with it a ring never wakes epoll. Used for children sharing our
// memory; where io_uring is missing, disabled (kernel.io_uring_disabled), too old for futex waits
// (before Linux 6.7), or turned off with RSYSCALL_IO_URING=0, helpers do the job.
import type { EpolledFileDescriptor } from "../epoller.js";
import * as gen from "../gen/constants.js";
import { ERRNO } from "../gen/errno.js";
import * as layouts from "../gen/layouts.js";
import { SYS } from "../gen/sys.js";
import { native } from "../native.js";
import { asFd } from "../near/ids.js";
import { rawSyscall } from "../near/local.js";
import { isErrno } from "../near/sysif.js";
import { bytesSerializer } from "../struct.js";
import { EPOLL } from "../sys/epoll.js";
import type { FileDescriptor } from "../task.js";
import type { Thread } from "../thread.js";

const SQ_ENTRIES = 256;
const CQ_ENTRIES = 8192;
const U32 = 4;

/**
 * The ring's memory (one mapping holds both queues' words and the completions; the SQEs are a
 * second), and where in `words` each shared word is: indices, in u32s.
 */
interface Rings {
  words: Uint32Array;
  sqes: DataView;
  cqes: DataView;
  sqHead: number;
  sqTail: number;
  sqMask: number;
  sqArray: number;
  sqFlags: number;
  cqHead: number;
  cqTail: number;
  cqMask: number;
  /** The completions' offset in bytes. */
  cqes0: number;
}

/** A wait in the ring: its completion, and a way to take it back. */
export interface RingWait {
  done: Promise<number>;
  cancel(): void;
}

export class FutexRing {
  readonly #fd: number;
  readonly #rings: Rings;
  readonly #waiting = new Map<number, (res: number) => void>();
  #nextId = 1;
  #toSubmit = 0;
  #submitQueued = false;

  /** Internal: made by FutexRing.of. */
  constructor(fd: number, rings: Rings) {
    this.#fd = fd;
    this.#rings = rings;
  }

  /**
   * The Node process's ring, made at the first call; undefined where futex waits through io_uring
   * are not to be had (for good where the kernel has none; until the next call where the fds or
   * memory for one were lacking, or after its epoller died).
   */
  static async of(root: Thread): Promise<FutexRing | undefined> {
    if (ring === undefined) ring = make(root);
    return ring;
  }

  /**
   * A wait that completes once the u32 at `address` (our memory) is woken while it holds something
   * other than `val`, or at once if it does not hold `val` now: with 0, or -EAGAIN for a value that
   * differed, or -ECANCELED once `cancel` took it back. Throws if the ring has no room (the caller
   * watches some other way).
   */
  wait(address: number, val: number): RingWait {
    if (this.#dead) throw new Error("the futex ring stopped");
    const id = this.#nextId++;
    const done = new Promise<number>((resolve) => this.#waiting.set(id, resolve));
    if (
      !this.#queue(gen.IORING_OP.FUTEX_WAIT, id, (sqes, base, f) => {
        sqes.setInt32(base + f.fd[0], gen.FUTEX2.SIZE_U32, true); // shared: the kernel's wake is
        sqes.setBigUint64(base + f.addr[0], BigInt(address), true);
        sqes.setBigUint64(base + f.off[0], BigInt(val >>> 0), true); // addr2: the value
        sqes.setBigUint64(base + f.addr3[0], BigInt(gen.FUTEX.BITSET_MATCH_ANY >>> 0), true); // the mask
      })
    ) {
      this.#waiting.delete(id);
      throw new Error("the futex ring is full");
    }
    return {
      done,
      // Queued behind the wait, so the kernel meets the wait first: it completes, -ECANCELED if
      // it was still waiting. Without room for the cancel, the wait goes on to its own end.
      cancel: () => {
        if (this.#waiting.has(id))
          this.#queue(gen.IORING_OP.ASYNC_CANCEL, 0, (sqes, base, f) => {
            sqes.setBigUint64(base + f.addr[0], BigInt(id), true); // the user_data to cancel
          });
      },
    };
  }

  /** Writes one SQE (zeroed, then `fill`) and queues it for the next submit; false without room. */
  #queue(
    opcode: number,
    id: number,
    fill: (sqes: DataView, base: number, f: typeof layouts.io_uring_sqe.fields) => void,
  ): boolean {
    const r = this.#rings;
    const w = r.words;
    let tail = w[r.sqTail]!;
    if (tail - w[r.sqHead]! >= SQ_ENTRIES) {
      this.#submit();
      tail = w[r.sqTail]!;
      if (tail - w[r.sqHead]! >= SQ_ENTRIES) return false;
    }
    const index = tail & w[r.sqMask]!;
    const base = index * layouts.io_uring_sqe.size;
    const f = layouts.io_uring_sqe.fields;
    const sqes = r.sqes;
    for (let off = 0; off < layouts.io_uring_sqe.size; off += 8) sqes.setBigUint64(base + off, 0n, true);
    sqes.setUint8(base + f.opcode[0], opcode);
    sqes.setBigUint64(base + f.user_data[0], BigInt(id), true);
    fill(sqes, base, f);
    w[r.sqArray + index] = index;
    w[r.sqTail] = tail + 1;
    this.#toSubmit++;
    // What is queued until the event loop turns goes to the kernel in one io_uring_enter: a
    // thousand clones in a row make a few, not a thousand. A wait that reaches the kernel after its
    // word changed completes at once with -EAGAIN, so the delay loses no wake.
    if (!this.#submitQueued) {
      this.#submitQueued = true;
      setImmediate(() => this.#submit());
    }
    return true;
  }

  /** How many waits are under way. */
  get size(): number {
    return this.#waiting.size;
  }

  /** Internal: hands the waits queued so far to the kernel now. */
  flush(): void {
    this.#submit();
  }

  /**
   * Hands what is queued to the kernel. Never throws: what the kernel cannot take now (EAGAIN,
   * ENOMEM under memory pressure) stays queued, and is offered again shortly.
   */
  #submit(): void {
    this.#submitQueued = false;
    while (this.#toSubmit > 0) {
      const n = rawSyscall(SYS.io_uring_enter, this.#fd, this.#toSubmit, 0, 0, 0, 0);
      if (n === -ERRNO.EINTR) continue;
      if (isErrno(n) || n === 0) {
        if (!this.#retrying) {
          this.#retrying = true;
          setTimeout(() => {
            this.#retrying = false;
            this.#submit();
          }, 10).unref();
        }
        return;
      }
      this.#toSubmit -= n;
    }
  }

  #retrying = false;
  #dead = false;

  /** Internal: the ring can no longer be heard (its epoller died): every wait ends, with -ECANCELED. */
  stop(): void {
    this.#dead = true;
    for (const resolve of this.#waiting.values()) resolve(-ERRNO.ECANCELED);
    this.#waiting.clear();
  }

  /**
   * Takes every completion posted, settling its wait. Completions that found the queue full wait
   * in the kernel (IORING_FEAT_NODROP) until an io_uring_enter with GETEVENTS moves them in.
   */
  collect(): void {
    for (;;) {
      this.#drain();
      const r = this.#rings;
      if (!(r.words[r.sqFlags]! & gen.IORING_SQ.CQ_OVERFLOW)) return;
      const n = rawSyscall(SYS.io_uring_enter, this.#fd, 0, 0, gen.IORING_ENTER.GETEVENTS, 0, 0);
      if (isErrno(n) && n !== -ERRNO.EINTR && n !== -ERRNO.EBUSY) return;
    }
  }

  #drain(): void {
    const r = this.#rings;
    const w = r.words;
    let head = w[r.cqHead]!;
    const tail = w[r.cqTail]!;
    const mask = w[r.cqMask]!;
    const f = layouts.io_uring_cqe.fields;
    while (head !== tail) {
      const base = r.cqes0 + (head & mask) * layouts.io_uring_cqe.size;
      const id = Number(r.cqes.getBigUint64(base + f.user_data[0], true));
      const res = r.cqes.getInt32(base + f.res[0], true);
      head = (head + 1) >>> 0;
      const resolve = this.#waiting.get(id);
      this.#waiting.delete(id);
      resolve?.(res);
    }
    w[r.cqHead] = head;
  }
}

let ring: Promise<FutexRing | undefined> | undefined;

async function make(root: Thread): Promise<FutexRing | undefined> {
  if (process.env.RSYSCALL_IO_URING === "0") return undefined;
  // The params and the probe's word, in our memory, read and written in place.
  const scratch = await root.ram.malloc(bytesSerializer, layouts.io_uring_params.size + 8);
  try {
    const params = Buffer.from(native.view(scratch.near, layouts.io_uring_params.size + 8));
    params.fill(0);
    const p = layouts.io_uring_params.fields;
    params.writeUInt32LE(CQ_ENTRIES, p.cq_entries[0]);
    params.writeUInt32LE(gen.IORING_SETUP.CQSIZE | gen.IORING_SETUP.CLAMP, p.flags[0]);
    const fd = rawSyscall(SYS.io_uring_setup, SQ_ENTRIES, scratch.near);
    if (fd === -ERRNO.EMFILE || fd === -ERRNO.ENFILE || fd === -ERRNO.ENOMEM) {
      // For want of room now: helpers this time, and another try at the next clone.
      ring = undefined;
      return undefined;
    }
    if (isErrno(fd)) return undefined; // ENOSYS, or EPERM where io_uring is disabled: never
    let handle: FileDescriptor | undefined;
    try {
      const futexRing = new FutexRing(fd, mapRings(fd, params));
      // A futex wait on a word that does not hold the value completes within io_uring_enter:
      // -EAGAIN, or -EINVAL from a kernel without futex waits in io_uring.
      const waited = futexRing.wait(scratch.near + layouts.io_uring_params.size, 1).done;
      futexRing.flush();
      futexRing.collect();
      const res = await Promise.race([waited, Promise.resolve(0)]);
      if (res !== -ERRNO.EAGAIN) throw new Error(`io_uring futex wait: ${res}`);
      handle = root.task.makeFd(asFd(fd));
      const epolled = await root.epoller.register(handle);
      void pump(futexRing, epolled);
      return futexRing;
    } catch {
      if (handle) await handle.close().catch(() => {});
      else rawSyscall(SYS.close, fd);
      return undefined;
    }
  } finally {
    scratch.free();
  }
}

function mapRings(fd: number, params: Buffer): Rings {
  const p = layouts.io_uring_params.fields;
  // Byte offsets into the ring's mapping, as io_uring_setup filled them in.
  const sqOff = (field: keyof typeof layouts.io_sqring_offsets.fields) =>
    params.readUInt32LE(p.sq_off[0] + layouts.io_sqring_offsets.fields[field][0]);
  const cqOff = (field: keyof typeof layouts.io_cqring_offsets.fields) =>
    params.readUInt32LE(p.cq_off[0] + layouts.io_cqring_offsets.fields[field][0]);
  const sqWord = (field: keyof typeof layouts.io_sqring_offsets.fields) => sqOff(field) / U32;
  const cqWord = (field: keyof typeof layouts.io_cqring_offsets.fields) => cqOff(field) / U32;
  const sqEntries = params.readUInt32LE(p.sq_entries[0]);
  const cqEntries = params.readUInt32LE(p.cq_entries[0]);
  const features = params.readUInt32LE(p.features[0]);
  if (!(features & gen.IORING_FEAT.SINGLE_MMAP)) throw new Error("io_uring: no single mmap");
  const cqesOff = cqOff("cqes");
  const ringSize = Math.max(sqOff("array") + sqEntries * U32, cqesOff + cqEntries * layouts.io_uring_cqe.size);
  const sqesSize = sqEntries * layouts.io_uring_sqe.size;
  const map = (size: number, offset: number) => {
    const address = rawSyscall(
      SYS.mmap,
      0,
      size,
      gen.PROT.READ | gen.PROT.WRITE,
      gen.MAP.SHARED | gen.MAP.POPULATE,
      fd,
      offset,
    );
    if (isErrno(address)) throw new Error(`io_uring mmap: ${address}`);
    return native.view(address, size);
  };
  const ringMemory = map(ringSize, gen.IORING_OFF.SQ_RING);
  const sqesMemory = map(sqesSize, gen.IORING_OFF.SQES);
  const words = new Uint32Array(ringMemory, 0, Math.floor(ringSize / U32));
  return {
    words,
    sqes: new DataView(sqesMemory),
    cqes: new DataView(ringMemory),
    sqHead: sqWord("head"),
    sqTail: sqWord("tail"),
    sqMask: sqWord("ring_mask"),
    sqArray: sqWord("array"),
    sqFlags: sqWord("flags"),
    cqHead: cqWord("head"),
    cqTail: cqWord("tail"),
    cqMask: cqWord("ring_mask"),
    cqes0: cqesOff,
  };
}

/** Collects completions whenever the ring fd is readable, for as long as the process lives; never holds Node open. */
async function pump(futexRing: FutexRing, epolled: EpolledFileDescriptor): Promise<void> {
  try {
    for (;;) {
      const generation = epolled.generation;
      futexRing.collect();
      epolled.negedge(EPOLL.IN, generation);
      await epolled.waitFor(EPOLL.IN, false);
    }
  } catch {
    // The epoller died: nothing more can be learned through it. Its waits end (their children are
    // watched by helpers from now on), and the next clone makes another ring.
    futexRing.stop();
    ring = undefined;
  }
}
