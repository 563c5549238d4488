// Memory transports: how bytes reach a task's memory.
//
// - Our own address space (the Node process, CLONE_VM children): a memcpy through a view of the
//   mapping; each mapping gets one ArrayBuffer over its memory (made by the addon, never freed by
//   V8), and reads and writes copy through it.
// - Any other address space: the stream (StreamMemoryGateway), the bytes travel in the syscall
//   link itself, in order with the syscalls around them.
import type { MemoryMapping } from "../handle/mapping.js";
import type { MemoryGateway } from "../handle/pointer.js";
import { native } from "../native.js";
import type { Address } from "../near/ids.js";
import { isMemoryLink, type MemoryLink, type SyscallInterface } from "../near/sysif.js";

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
