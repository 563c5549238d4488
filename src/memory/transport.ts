// Memory transports: how bytes reach a task's memory.
//
// - Our own address space (the Node process, CLONE_VM children): a memcpy through a view of the
//   mapping; each mapping gets one ArrayBuffer over its memory (made by the addon, never freed by
//   V8), and reads and writes copy through it.
// - A child of ours in an address space of its own (a fork), while we have not reaped it: its
//   /proc/PID/mem, opened once while its pid was certainly its own and bound to its memory from
//   then on, read and written from Node synchronously (ProcMemGateway). Never a pid a process
//   reported about itself: in another pid namespace that number is another process.
// - Any other address space: the stream (StreamMemoryGateway), the bytes travel in the syscall
//   link itself, in order with the syscalls around them.
import { closeSync, openSync, readSync, writeSync } from "node:fs";
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

/**
 * The memory of a process through its /proc/PID/mem, opened once. The fd stays bound to the memory
 * the process had when it was opened (an exec or a reused pid later cannot redirect it), so the
 * only care needed is at the open: `open` takes a pid that is certainly the child's (one we made
 * and have not reaped) and a check that it still is afterwards (its pidfd still names a live
 * process: then the pid was not reused between the two).
 */
export class ProcMemGateway implements MemoryGateway {
  #fd: number | undefined;
  /** Processes using this memory: the fork, and its CLONE_VM children, which outlive its exec. */
  #users = 1;

  private constructor(fd: number) {
    this.#fd = fd;
  }

  /** One more process uses this memory (a CLONE_VM child of the fork). */
  retain(): void {
    this.#users++;
  }

  /** A process using this memory exec'd or exited; the last one closes the fd. */
  release(): void {
    if (--this.#users === 0) this.close();
  }

  /** Opens `pid`'s memory; undefined if that is refused (another user's, not dumpable) or `stillOurs` says no. */
  static open(pid: number, stillOurs: () => boolean): ProcMemGateway | undefined {
    let fd: number;
    try {
      fd = openSync(`/proc/${pid}/mem`, "r+");
    } catch {
      return undefined;
    }
    if (!stillOurs()) {
      closeSync(fd);
      return undefined;
    }
    return new ProcMemGateway(fd);
  }

  read(mapping: MemoryMapping, address: Address, length: number): Promise<Buffer> {
    try {
      const fd = this.#check(mapping);
      const out = Buffer.allocUnsafe(length);
      for (let done = 0; done < length; ) {
        const n = readSync(fd, out, done, length - done, address + done);
        if (n === 0) throw new Error(`reading 0x${(address + done).toString(16)} of ${mapping}: the memory is gone`);
        done += n;
      }
      return Promise.resolve(out);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  write(mapping: MemoryMapping, address: Address, bytes: Uint8Array): Promise<void> {
    try {
      const fd = this.#check(mapping);
      for (let done = 0; done < bytes.length; ) {
        const n = writeSync(fd, bytes, done, bytes.length - done, address + done);
        if (n === 0) throw new Error(`writing 0x${(address + done).toString(16)} of ${mapping}: the memory is gone`);
        done += n;
      }
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Lets go of the memory (the process exec'd or exited). */
  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  #check(mapping: MemoryMapping): number {
    if (!mapping.mapped) throw new Error(`${mapping} was unmapped`);
    if (this.#fd === undefined) throw new Error(`${mapping}: its process exec'd or exited`);
    return this.#fd;
  }
}
