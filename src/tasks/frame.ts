// Starting a process on a stack of our own: the frame the trampoline pops, the raw clone, and the
// signal mask around it. Used by clone (src/tasks/clone.ts) and spawn (src/tasks/spawn.ts).
import * as gen from "../gen/constants.js";
import { SYS } from "../gen/sys.js";
import type { MemoryMapping } from "../handle/mapping.js";
import { native } from "../native.js";
import { SyscallError } from "../near/errors.js";
import { rawSyscall } from "../near/local.js";
import { isErrno } from "../near/sysif.js";
import { MAP, type MmanTask, PROT } from "../sys/mman.js";

const PAGE = 4096;
/** The stack the server or exec stub runs on: it needs little. */
const STACK_SIZE = 64 * 1024;
/** The futex helper's stack: it needs almost nothing. */
const HELPER_STACK_SIZE = PAGE;
const FRAME_SIZE = 8 * 8; // trampoline, six arguments, function

/** Where each of the words lives, in bytes from the start of the words (see ChildMemory). */
export const WORD = {
  ctid: 0, // int32
  pidfd: 4, // int32
  helperPidfd: 8, // int32
  tid: 12, // int32
  result: 16, // int64
  masks: 32, // 2 x 8 bytes
  savedName: 48, // 16 bytes
  childName: 64, // 16 bytes
  // A fork's robust futex list (see native/server.c, startup): the head, its one entry, and the
  // entry's word, which CLONE_CHILD_SETTID fills with the fork's tid.
  robustHead: 80, // 24 bytes: next, futex_offset, list_op_pending
  robustEntry: 104, // 8 bytes: next
  robustWord: 112, // int32, futex_offset 8 after the entry
  end: 120,
} as const;
/** The room the words take at the top of the main stack, keeping the frame below 16-byte aligned. */
const WORDS_SIZE = 128;

/** The robust list words for memory at `base` (the address of the words): head and entry, word 0. */
export function robustListBytes(base: number): Buffer {
  const out = Buffer.alloc(WORD.end - WORD.robustHead);
  const at = (word: number) => word - WORD.robustHead;
  out.writeBigUInt64LE(BigInt(base + WORD.robustEntry), at(WORD.robustHead));
  out.writeBigInt64LE(BigInt(WORD.robustWord - WORD.robustEntry), at(WORD.robustHead) + 8);
  out.writeBigUInt64LE(BigInt(base + WORD.robustHead), at(WORD.robustEntry));
  return out;
}

/** The addresses of a child's words (see WORD), wherever its memory is mapped. */
export abstract class ChildWords {
  /** The address of the words. */
  protected abstract get wordsAddress(): number;

  #word(offset: number): number {
    return this.wordsAddress + offset;
  }

  /** The CLONE_CHILD_CLEARTID word: 1 until the kernel clears it at the child's exec or exit. */
  get ctid(): number {
    return this.#word(WORD.ctid);
  }
  /** Where CLONE_PIDFD stores the child's pidfd, and the helper's. */
  get pidfdOut(): number {
    return this.#word(WORD.pidfd);
  }
  get helperPidfdOut(): number {
    return this.#word(WORD.helperPidfd);
  }
  /** Where CLONE_PARENT_SETTID stores the child's pid (0 until then). */
  get tidOut(): number {
    return this.#word(WORD.tid);
  }
  /** An exec stub's result (-errno), 8 bytes. */
  get result(): number {
    return this.#word(WORD.result);
  }
  /** 16 bytes: the full signal set, then room for the old mask (see withSignalsBlocked). */
  get masks(): number {
    return this.#word(WORD.masks);
  }
  /** 16 bytes: room for the name of the thread that clones (see namedLike). */
  get savedName(): number {
    return this.#word(WORD.savedName);
  }
  /** 16 bytes: the name a new child starts with, NUL-terminated. */
  get childName(): number {
    return this.#word(WORD.childName);
  }
  /** A fork's robust list head, and the word in it. */
  get robustHead(): number {
    return this.#word(WORD.robustHead);
  }
  get robustWord(): number {
    return this.#word(WORD.robustWord);
  }
}

/** Offsets in a child's memory (see ChildMemory): its guard pages, the tops of the two stacks, the words. */
const SIZE = PAGE + HELPER_STACK_SIZE + PAGE + STACK_SIZE;
export const LAYOUT = {
  size: SIZE,
  guards: [0, PAGE + HELPER_STACK_SIZE],
  page: PAGE,
  helperTop: PAGE + HELPER_STACK_SIZE,
  /** The words sit at the top of the main stack, above its frame: one page holds both. */
  mainTop: SIZE - WORDS_SIZE,
  words: SIZE - WORDS_SIZE,
  topPage: SIZE - PAGE,
} as const;

/**
 * The memory a child made by clone runs on, in a mapping of its own:
 *
 *   [guard][helper stack 4 KiB][guard][stack 64 KiB ... frame | words]
 *
 * Each stack has a PROT_NONE page below it, so an overflow faults instead of writing over other
 * memory of ours. `words` holds what the clone and the child write for us: the CLONE_CHILD_CLEARTID
 * word, the pidfds CLONE_PIDFD stores, the signal masks around the clone, an exec stub's result.
 * They share the main stack's top page with the frame we write there: a new mapping costs one page
 * fault before its child starts, not two (a fault is dear in a process with many threads).
 * Recycled for the next child only once nothing runs on it (the child exec'd, exited or was reaped).
 */
export class ChildMemory extends ChildWords {
  static readonly size = LAYOUT.size;
  /**
   * Our view of the main stack's top page (the frame and the words), at offsets from `topPage`. Only
   * that page: V8 counts a view's length as external memory, and collects more often the more of it
   * there is (a view of the whole mapping made a thousand live children cost ten collections).
   */
  readonly #view: Buffer;

  private constructor(readonly mapping: MemoryMapping) {
    super();
    this.#view = Buffer.from(native.view(mapping.address + LAYOUT.topPage, PAGE));
  }

  /**
   * Memory that served children that are gone, ready for the next (see `recycle`), the most
   * recently freed last, with when each was freed.
   */
  static readonly #free: { memory: ChildMemory; freed: number }[] = [];
  /** Kept however long unused. */
  static readonly #keepAlways = 16;
  /** Kept at most: 4096 of 76 KiB, of which a used one has about 12 KiB resident. */
  static readonly #keepAtMost = 4096;
  /** Beyond #keepAlways, memory unused this long is unmapped (RSYSCALL_CHILD_MEMORY_KEEP_MS, to tune or test). */
  static readonly #keepUnusedMs = Number(process.env.RSYSCALL_CHILD_MEMORY_KEEP_MS) || 10_000;
  static #trimming: NodeJS.Timeout | undefined;
  /** Taken, not yet recycled. */
  #inUse = false;

  /**
   * Memory for a new child: the last freed of those that served children now gone, or a new
   * mapping. Reuse spares the mmap, mprotect and munmap of each child, which in a process whose
   * memory other CPUs are using (Node's threads, other children) cost a TLB shootdown each, and the
   * page fault of its first use: 50 to 100 us a child on our test machine, a burst of a thousand.
   */
  static async take(task: MmanTask): Promise<ChildMemory> {
    const memory = ChildMemory.#free.pop()?.memory ?? (await ChildMemory.map(task));
    memory.#inUse = true;
    return memory;
  }

  /**
   * Gives the memory back for another child: only once nothing runs on it. Kept for the next
   * burst of children, up to #keepAtMost, until it has gone unused for #keepUnusedMs.
   */
  async recycle(): Promise<void> {
    if (!this.mapping.mapped || !this.#inUse) return;
    this.#inUse = false;
    if (ChildMemory.#free.length >= ChildMemory.#keepAtMost) return this.mapping.munmap();
    ChildMemory.#free.push({ memory: this, freed: performance.now() });
    ChildMemory.#trimLater();
  }

  /** While more than #keepAlways are kept, unmaps those unused for #keepUnusedMs, every few seconds. */
  static #trimLater(): void {
    if (ChildMemory.#trimming || ChildMemory.#free.length <= ChildMemory.#keepAlways) return;
    ChildMemory.#trimming = setTimeout(() => {
      ChildMemory.#trimming = undefined;
      const free = ChildMemory.#free;
      const before = performance.now() - ChildMemory.#keepUnusedMs;
      // The oldest first: drop from the front while they are old and more than #keepAlways remain.
      let drop = 0;
      while (free.length - drop > ChildMemory.#keepAlways && free[drop]!.freed < before) drop++;
      for (const { memory } of free.splice(0, drop)) memory.mapping.munmap().catch(() => {});
      ChildMemory.#trimLater();
    }, ChildMemory.#keepUnusedMs / 2).unref();
  }

  /** Maps the memory through `task` (the Node process) and protects the guard pages. */
  static async map(task: MmanTask): Promise<ChildMemory> {
    // Shared, not private: a child made without CLONE_VM (fork) keeps the words in common with
    // us, so that its CLONE_CHILD_CLEARTID clear reaches the helper waiting on our copy.
    const mapping = await task.mmap(ChildMemory.size, PROT.of(PROT.READ, PROT.WRITE), MAP.SHARED);
    try {
      for (const guard of LAYOUT.guards) await mapping.mprotect(PROT.NONE, guard, PAGE);
    } catch (e) {
      await mapping.munmap();
      throw e;
    }
    return new ChildMemory(mapping);
  }

  #at(offset: number): number {
    if (!this.mapping.mapped) throw new Error(`${this.mapping} was unmapped`);
    return this.mapping.address + offset;
  }

  /** The words' offset in our view. */
  get #words(): number {
    return LAYOUT.words - LAYOUT.topPage;
  }

  /** Writes the server or exec stub frame at the top of the main stack; returns the stack pointer. */
  mainFrame(fn: number, args: number[]): number {
    return this.#frame(LAYOUT.mainTop, fn, args);
  }

  /** Writes the futex helper's frame at the top of its stack; returns the stack pointer. */
  helperFrame(fn: number, args: number[]): number {
    return this.#frame(LAYOUT.helperTop, fn, args);
  }

  /** [trampoline, a1..a6, fn] at the 16-byte-aligned top below `top`. */
  #frame(top: number, fn: number, args: number[]): number {
    const offset = frameOffset(top);
    const bytes = frameBytes(native.trampolineAddress, fn, args);
    if (offset >= LAYOUT.topPage) bytes.copy(this.#view, offset - LAYOUT.topPage);
    else native.memWrite(this.#at(offset), bytes); // the helper's, rarely
    return this.#at(offset);
  }

  /** The address of the words. */
  protected get wordsAddress(): number {
    return this.#at(LAYOUT.words);
  }

  readCtid(): number {
    return this.#view.readInt32LE(this.#words + WORD.ctid);
  }
  readRobustWord(): number {
    return this.#view.readInt32LE(this.#words + WORD.robustWord);
  }
  /** Atomically sets the robust word to `desired` if it holds `expected`; says whether it did. */
  casRobustWord(expected: number, desired: number): boolean {
    const words = new Int32Array(this.#view.buffer, this.#view.byteOffset + this.#words + WORD.robustWord, 1);
    return Atomics.compareExchange(words, 0, expected, desired) === expected;
  }
  readPidfd(): number {
    return this.#view.readInt32LE(this.#words + WORD.pidfd);
  }
  readHelperPidfd(): number {
    return this.#view.readInt32LE(this.#words + WORD.helperPidfd);
  }
  readTid(): number {
    return this.#view.readInt32LE(this.#words + WORD.tid);
  }
  readResult(): number {
    return Number(this.#view.readBigInt64LE(this.#words + WORD.result));
  }

  /**
   * Sets the words for a new child: ctid 1, no pidfds, result 0, the full signal set, and `name`
   * (at most 15 bytes) as the name it starts with.
   */
  reset(name = ""): void {
    const words = this.#words;
    this.#view.fill(0, words, words + WORD.end);
    this.#view.writeInt32LE(1, words + WORD.ctid);
    this.#view.writeInt32LE(-1, words + WORD.pidfd);
    this.#view.writeInt32LE(-1, words + WORD.helperPidfd);
    this.#view.fill(0xff, words + WORD.masks, words + WORD.masks + 8);
    this.#view.write(name.slice(0, 15), words + WORD.childName, "latin1");
    robustListBytes(this.wordsAddress).copy(this.#view, words + WORD.robustHead);
  }
}

/** Where the frame for a stack whose top is at `top` starts: 16-byte aligned. */
export function frameOffset(top: number): number {
  return Math.floor((top - FRAME_SIZE) / 16) * 16;
}

/** The frame the trampoline pops: [trampoline, a1..a6, fn]. */
export function frameBytes(trampoline: number | bigint, fn: number | bigint, args: (number | bigint)[]): Buffer {
  const out = Buffer.alloc(FRAME_SIZE);
  for (const [i, word] of [trampoline, ...args, fn].entries()) out.writeBigInt64LE(BigInt(word), 8 * i);
  return out;
}

/**
 * Runs `f` with the calling thread named `name` (PR_SET_NAME; `saved` is 16 bytes of room for its
 * own name, put back after): a process cloned meanwhile starts with that name, before it runs a
 * single instruction. `f` must be synchronous.
 */
export function namedLike<T>(name: number, saved: number, f: () => T): T {
  const got = rawSyscall(SYS.prctl, gen.PR.GET_NAME, saved);
  if (isErrno(got)) throw new SyscallError(-got, "prctl");
  const set = rawSyscall(SYS.prctl, gen.PR.SET_NAME, name);
  if (isErrno(set)) throw new SyscallError(-set, "prctl");
  try {
    return f();
  } finally {
    rawSyscall(SYS.prctl, gen.PR.SET_NAME, saved);
  }
}

export function cloneRaw(flags: number, sp: number, ptid: number, ctid: number): number {
  const pid = rawSyscall(SYS.clone, flags >>> 0, sp, ptid, ctid, 0);
  if (isErrno(pid)) throw new SyscallError(-pid, "clone");
  return pid;
}

/**
 * Runs `f` with every signal blocked in this thread. `masks` is 16 bytes of our memory: the full
 * set, then room for the old mask. `f` must be synchronous.
 */
export function withSignalsBlocked<T>(masks: number, f: () => T): T {
  const size = 8;
  const ret = rawSyscall(SYS.rt_sigprocmask, gen.HowSIG.SETMASK, masks, masks + size, size);
  if (isErrno(ret)) throw new SyscallError(-ret, "rt_sigprocmask");
  try {
    return f();
  } finally {
    rawSyscall(SYS.rt_sigprocmask, gen.HowSIG.SETMASK, masks + size, 0, size);
  }
}
