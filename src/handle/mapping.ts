// A memory mapping in some task's address space: the unit the allocator carves pointers from.
import type { AddressSpace } from "../far.js";
import type { Flag } from "../near/flags.js";
import type { Address } from "../near/ids.js";
import * as raw from "../near/syscalls.js";
import type { SyscallInterface } from "../near/sysif.js";

/** What a mapping needs of the task that made it. */
export interface MappingOwner {
  readonly sysif: SyscallInterface;
  readonly addressSpace: AddressSpace;
}

/** `mmap(2)`'s result: `length` bytes at `address`, unmapped once by `munmap()`. */
export class MemoryMapping {
  #mapped = true;
  /** @internal Mappings come from `mmap` (and the allocator's arenas). */
  constructor(
    /** The task whose address space holds the mapping; munmap and friends are made through it. */
    readonly task: MappingOwner,
    /** Where the mapping starts. */
    readonly address: Address,
    /** Its length in bytes, as asked of mmap. */
    readonly length: number,
  ) {}

  /** Whether the mapping is still there (`munmap()` not called yet). */
  get mapped(): boolean {
    return this.#mapped;
  }

  /**
   * `int munmap(void *addr, size_t length)`: remove the mapping.
   * @see https://man7.org/linux/man-pages/man2/munmap.2.html
   */
  async munmap(): Promise<void> {
    if (!this.#mapped) return;
    this.#mapped = false;
    await raw.munmap(this.task.sysif, this.address, this.length);
  }

  /**
   * `int mprotect(void *addr, size_t len, int prot)`, as `mprotect(addr + offset, length, prot)`:
   * change the protection of whole pages of the mapping (all of it by default).
   * @see https://man7.org/linux/man-pages/man2/mprotect.2.html
   */
  async mprotect(prot: Flag<"PROT">, offset = 0, length = this.length - offset): Promise<void> {
    if (!this.#mapped) throw new Error(`${this} was unmapped`);
    if (![offset, length].every(Number.isSafeInteger) || offset < 0 || length < 0 || offset + length > this.length) {
      throw new RangeError(`mprotect: [${offset}, ${offset + length}) is not inside ${this}`);
    }
    await raw.mprotect(this.task.sysif, (this.address + offset) as Address, length, prot);
  }

  /**
   * `int madvise(void *addr, size_t length, int advice)`: advise the kernel about the whole mapping.
   * @see https://man7.org/linux/man-pages/man2/madvise.2.html
   */
  async madvise(advice: Flag<"MADV">): Promise<void> {
    await raw.madvise(this.task.sysif, this.address, this.length, advice);
  }

  /** For messages: `MemoryMapping(0x7f..., 4096)`. */
  toString(): string {
    return `MemoryMapping(0x${this.address.toString(16)}, ${this.length})`;
  }
}
