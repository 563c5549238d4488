// Memory transports: how bytes reach a task's memory.
//
// - Our own address space (the Node process, CLONE_VM children): a memcpy through a view of the
//   mapping; each mapping gets one ArrayBuffer over its memory (made by the addon, never freed by
//   V8), and reads and writes copy through it.
// - A child we forked (an address space of its own): a window of memfds mapped both there and
//   here (SharedWindowGateway), so a copy is a memcpy and no pid is ever aimed at. (A pid a
//   process reported about itself would name another process in another pid namespace; even our
//   own child's pid names the program it exec'd, or whoever took the pid after it was reaped.)
// - Any other address space: the stream (StreamMemoryGateway), the bytes travel in the syscall
//   link itself, in order with the syscalls around them.
import type { MemoryMapping } from "../handle/mapping.js";
import type { MemoryGateway } from "../handle/pointer.js";
import { native } from "../native.js";
import { SyscallSendError } from "../near/errors.js";
import type { Address } from "../near/ids.js";
import { isMemoryLink, type MemoryLink, type SyscallInterface } from "../near/sysif.js";
import type { Mapper } from "./allocator.js";

export class LocalMemoryGateway implements MemoryGateway {
  readonly #views = new WeakMap<MemoryMapping, Buffer>();

  read(mapping: MemoryMapping, address: Address, length: number): Promise<Buffer> {
    const view = this.#view(mapping);
    const start = address - mapping.address;
    const out = Buffer.allocUnsafe(length);
    view.copy(out, 0, start, start + length);
    return Promise.resolve(out);
  }

  write(mapping: MemoryMapping, address: Address, bytes: Uint8Array): Promise<void> {
    this.#view(mapping).set(bytes, address - mapping.address);
    return Promise.resolve();
  }

  #view(mapping: MemoryMapping): Buffer {
    if (!mapping.mapped) throw new Error(`${mapping} was unmapped`);
    let view = this.#views.get(mapping);
    if (!view) {
      view = Buffer.from(native.view(mapping.address, mapping.length));
      this.#views.set(mapping, view);
    }
    return view;
  }
}

/** The one gateway for our own address space. */
export const localMemory = new LocalMemoryGateway();

/**
 * Memory of a process in another address space, moved through its syscall link: a write is
 * queued like a syscall (it is done before any syscall made after it, and costs no round trip of
 * its own); a read waits for its bytes. The link is the task's current one (a persistent thread's
 * changes when it reconnects).
 */
export class StreamMemoryGateway implements MemoryGateway {
  constructor(private readonly task: { readonly sysif: SyscallInterface }) {}

  read(mapping: MemoryMapping, address: Address, length: number): Promise<Buffer> {
    try {
      return this.#link(mapping).readMemory(address, length);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  write(mapping: MemoryMapping, address: Address, bytes: Uint8Array): Promise<void> {
    try {
      this.#link(mapping).writeMemory(address, bytes);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #link(mapping: MemoryMapping): MemoryLink {
    if (!mapping.mapped) throw new Error(`${mapping} was unmapped`);
    const sysif = this.task.sysif;
    if (!isMemoryLink(sysif)) throw new TypeError(`${this.task} has no link memory can travel over`);
    return sysif;
  }
}

/** Both sides of a window: a mapping in the other process, and one here of the same memory. */
export interface WindowPair {
  remote: MemoryMapping;
  local: MemoryMapping;
}

/**
 * The memory of a forked child through a window: every arena its allocator uses is a memfd mapped
 * both there and here (MAP_SHARED), so a read or write is a memcpy on our side. No pid is involved:
 * nothing can reach a process that took the pid after this one was reaped, nor the program it
 * exec'd (exec drops its side of the window; ours stays until `release`). Memory the child had
 * before (its copy of ours, mappings it made itself) is not in the window: pointers never lie
 * there.
 */
export class SharedWindowGateway implements MemoryGateway, Mapper {
  readonly #set: WindowSet;

  /**
   * `mapBoth(length)` makes a new window of `length` bytes (a memfd mapped in both); `fallback`
   * reaches the rest of the process's memory (mappings made otherwise).
   */
  constructor(
    private readonly mapBoth: (length: number) => Promise<WindowPair>,
    private readonly fallback: MemoryGateway,
    set?: WindowSet,
  ) {
    this.#set = set ?? { windows: new Map(), users: 1 };
  }

  /** The same windows, for a process sharing this memory (a CLONE_VM child), with its own fallback. */
  sharing(fallback: MemoryGateway): SharedWindowGateway {
    this.#set.users++;
    return new SharedWindowGateway(this.mapBoth, fallback, this.#set);
  }

  async map(length: number): Promise<MemoryMapping> {
    // As any call to a process that is gone: it was not made.
    if (this.#set.users === 0) throw new SyscallSendError("mmap", "the process of this memory exec'd or exited");
    const { remote, local } = await this.mapBoth(length);
    this.#set.windows.set(remote.address, { local, view: Buffer.from(native.view(local.address, local.length)) });
    return remote;
  }

  async unmap(remote: MemoryMapping): Promise<void> {
    const window = this.#set.windows.get(remote.address);
    this.#set.windows.delete(remote.address);
    // Its side may be gone with it; ours is ours to unmap.
    await remote.munmap().catch(() => {});
    await window?.local.munmap();
  }

  read(mapping: MemoryMapping, address: Address, length: number): Promise<Buffer> {
    try {
      const view = this.#view(mapping);
      if (!view) return this.fallback.read(mapping, address, length);
      const start = address - mapping.address;
      const out = Buffer.allocUnsafe(length);
      view.copy(out, 0, start, start + length);
      return Promise.resolve(out);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  write(mapping: MemoryMapping, address: Address, bytes: Uint8Array): Promise<void> {
    try {
      const view = this.#view(mapping);
      if (!view) return this.fallback.write(mapping, address, bytes);
      view.set(bytes, address - mapping.address);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** A process using this memory exec'd or exited; with the last one, our side of every window goes. */
  release(): void {
    releaseSet(this.#set);
  }

  /**
   * `release`, as a function that holds only the windows: for whoever outlives the thread's task
   * (this gateway holds what makes windows, and through it the task).
   */
  releaser(): () => void {
    const set = this.#set;
    return () => releaseSet(set);
  }

  /** Our view of `mapping` if it is a window; undefined for the fallback to handle. */
  #view(mapping: MemoryMapping): Buffer | undefined {
    if (!mapping.mapped) throw new Error(`${mapping} was unmapped`);
    if (this.#set.users === 0) throw new Error(`${mapping}: its process exec'd or exited`);
    return this.#set.windows.get(mapping.address)?.view;
  }
}

function releaseSet(set: WindowSet): void {
  if (set.users === 0 || --set.users > 0) return;
  for (const { local } of set.windows.values()) void local.munmap().catch(() => {});
  set.windows.clear();
}

/**
 * The windows of one address space, by their address there, and how many processes use it. Only
 * our side is kept: a release outlives the process's task, which its mappings would hold.
 */
interface WindowSet {
  windows: Map<number, { local: MemoryMapping; view: Buffer }>;
  users: number;
}
