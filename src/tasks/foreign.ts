// What cloning needs from a parent in an address space other than Node's (a forked child, a
// process running the rsyscall-server program): the child's memory mapped in that parent and
// written through its memory transport, and a futex helper started there, whose pidfd the parent
// passes to us to watch (or, where fds cannot cross, watches in its own epoller: watchChildOf).
// The clone itself is in src/tasks/clone.ts.
import { AsyncFileDescriptor } from "../epoller.js";
import * as gen from "../gen/constants.js";
import type { MemoryMapping } from "../handle/mapping.js";
import { AsyncChildProcess } from "../monitor.js";
import { asAddress, asFd } from "../near/ids.js";
import * as raw from "../near/syscalls.js";
import { MAP, PROT } from "../sys/mman.js";
import type { FileDescriptor } from "../task.js";
import type { Thread } from "../thread.js";
import { type ConnectedThread, canPass } from "./connected.js";
import type { Entries } from "./entries.js";
import { ChildWords, frameBytes, frameOffset, LAYOUT, robustListBytes, WORD } from "./frame.js";
import { type ExecOrExitWord, killAndReapNow } from "./helper.js";

/**
 * A child's memory (the layout of ChildMemory: two stacks with guard pages, and the words) mapped
 * in a parent of another address space. Shared, so that a child forked from that parent keeps the
 * words in common with it, and its CLONE_CHILD_CLEARTID clear reaches the helper.
 */
export class ForeignChildMemory extends ChildWords {
  private constructor(
    readonly parent: ConnectedThread,
    readonly mapping: MemoryMapping,
  ) {
    super();
  }

  static async map(parent: ConnectedThread): Promise<ForeignChildMemory> {
    const mapping = await parent.task.mmap(LAYOUT.size, PROT.of(PROT.READ, PROT.WRITE), MAP.SHARED);
    try {
      for (const guard of LAYOUT.guards) await mapping.mprotect(PROT.NONE, guard, LAYOUT.page);
      const memory = new ForeignChildMemory(parent, mapping);
      await memory.#write(LAYOUT.words, initialWords(mapping.address + LAYOUT.words));
      return memory;
    } catch (e) {
      await mapping.munmap().catch(() => {});
      throw e;
    }
  }

  #write(offset: number, bytes: Buffer): Promise<void> {
    return this.parent.ram.gateway.write(this.mapping, asAddress(this.mapping.address + offset), bytes);
  }

  async #readInt32(offset: number): Promise<number> {
    const address = asAddress(this.mapping.address + LAYOUT.words + offset);
    return (await this.parent.ram.gateway.read(this.mapping, address, 4)).readInt32LE(0);
  }

  async #frame(top: number, entries: Entries, fn: number, args: number[]): Promise<number> {
    const offset = frameOffset(top);
    await this.#write(offset, frameBytes(entries.trampoline, fn, args));
    return this.mapping.address + offset;
  }

  /** Writes the server's frame at the top of the main stack; returns the stack pointer. */
  mainFrame(entries: Entries, args: number[]): Promise<number> {
    return this.#frame(LAYOUT.mainTop, entries, entries.server, args);
  }

  /** Writes the futex helper's frame; returns the stack pointer. */
  helperFrame(entries: Entries, args: number[]): Promise<number> {
    return this.#frame(LAYOUT.helperTop, entries, entries.futexHelper, args);
  }

  protected get wordsAddress(): number {
    return this.mapping.address + LAYOUT.words;
  }
  readCtid(): Promise<number> {
    return this.#readInt32(WORD.ctid);
  }
  readRobustWord(): Promise<number> {
    return this.#readInt32(WORD.robustWord);
  }
  readPidfd(): Promise<number> {
    return this.#readInt32(WORD.pidfd);
  }
  readHelperPidfd(): Promise<number> {
    return this.#readInt32(WORD.helperPidfd);
  }

  /** Unmaps it, once nothing runs on it; a parent that went away took it along. */
  async release(): Promise<void> {
    await this.mapping.munmap().catch(() => {});
  }
}

/** The words as a new child needs them: ctid 1, no pidfds yet, an empty robust word. */
function initialWords(base: number): Buffer {
  const words = Buffer.alloc(WORD.end);
  words.writeInt32LE(1, WORD.ctid);
  words.writeInt32LE(-1, WORD.pidfd);
  words.writeInt32LE(-1, WORD.helperPidfd);
  robustListBytes(base).copy(words, WORD.robustHead);
  return words;
}

const HELPER_FLAGS = gen.CLONE.VM | gen.CLONE.FILES | gen.CLONE.PIDFD | gen.SIG.CHLD;

/**
 * Starts a futex helper for `memory`'s word in `parent` (a CLONE_VM | CLONE_FILES child of it);
 * the parent passes us a copy of its pidfd, and reaps it. `parentPid` is the parent's pid as the
 * helper will see it (0 if the helper is in a pid namespace the parent is not in).
 */
export async function startForeignHelper(
  parent: ConnectedThread,
  root: Thread,
  memory: ForeignChildMemory,
  entries: Entries,
  parentPid: number,
  word: ExecOrExitWord,
): Promise<AsyncChildProcess> {
  // Reset to "none" first: a stale number from a helper before this one must not be taken for its.
  await memory.parent.ram.gateway.write(
    memory.mapping,
    asAddress(memory.helperPidfdOut),
    Buffer.from(new Int32Array([-1]).buffer),
  );
  const sp = await memory.helperFrame(entries, [word.address, word.val, parentPid, 0, 0, 0]);
  const pid = await raw.clone(parent.task.sysif, HELPER_FLAGS, asAddress(sp), asAddress(memory.helperPidfdOut), 0, 0);
  const theirs = parent.task.makeFd(asFd(await memory.readHelperPidfd()));
  try {
    return await watchChildOf(parent, root, pid, theirs, false);
  } catch (e) {
    await killAndReapNow(theirs);
    throw e;
  }
}

/**
 * The AsyncChildProcess of a child of `parent` (another address space) whose pidfd `theirs` the
 * parent holds: watched through a copy passed to us where fds can cross (`kept` hears of it), else
 * in the parent's own epoller (a remote host's children are watched there).
 */
export async function watchChildOf(
  parent: ConnectedThread,
  root: Thread,
  pid: number,
  theirs: FileDescriptor,
  server: boolean,
  kept?: (ours: FileDescriptor) => void,
): Promise<AsyncChildProcess> {
  if (!canPass(parent)) {
    return new AsyncChildProcess(pid, await AsyncFileDescriptor.make(parent.epoller, parent.ram, theirs), parent.ram, {
      server,
    });
  }
  const [ours] = (await parent.passToRoot([theirs])) as [FileDescriptor];
  kept?.(ours);
  return new AsyncChildProcess(pid, await AsyncFileDescriptor.make(root.epoller, root.ram, ours), parent.ram, {
    parentPidfd: theirs,
    server,
  });
}
