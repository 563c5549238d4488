// The allocator: memory for pointers, carved out of mmap'd arenas so that a small allocation
// costs no syscall.
//
// Sizes up to 64 KiB are rounded up to a power of two (at least 16 bytes) and served from a free
// list per size, refilled from the current 1 MiB arena by a bump pointer. Freed blocks go back
// on their list, so a steady allocate/free pattern keeps memory flat. Larger requests get a
// mapping of their own, unmapped when freed. Blocks are 16-byte aligned. Memory is never in a
// V8 Buffer: a child sharing our address space may use it while V8 would have moved or freed it.
//
// One allocator serves an address space; every task in that address space may allocate from it. It
// maps and unmaps through one task of that address space chosen when it is made (for our own, the
// Node process), never through whichever task asked: a child that asked may have exec'd since.
import { MAP, PROT } from "../gen/constants.js";
import { MemoryMapping } from "../handle/mapping.js";
import type { Allocation, PointerOwner } from "../handle/pointer.js";
import { type Address, asAddress } from "../near/ids.js";
import * as raw from "../near/syscalls.js";
import type { SyscallInterface } from "../near/sysif.js";

const MIN_CLASS = 4; // 16 bytes
const MAX_CLASS = 16; // 64 KiB
const ARENA_SIZE = 1 << 20;
const PAGE_SIZE = 4096;
const ALIGNMENT = 16;

/** What the allocator needs of a task to map memory. */
export interface MappingTask extends PointerOwner {
  readonly sysif: SyscallInterface;
}

/** How an allocator gets memory, when not with a plain anonymous mmap (see SharedWindowGateway). */
export interface Mapper {
  map(length: number): Promise<MemoryMapping>;
  unmap(mapping: MemoryMapping): Promise<void>;
}

/** A block of memory; see Allocation. Recycled block objects are reused, to keep garbage low. */
export class Block implements Allocation {
  #refs = 1;
  constructor(
    readonly allocator: Allocator,
    readonly mapping: MemoryMapping,
    readonly address: Address,
    readonly capacity: number,
    /** log2 of the size class, or -1 for a block with a mapping of its own. */
    readonly sizeClass: number,
  ) {}

  get freed(): boolean {
    return this.#refs === 0;
  }

  retain(): void {
    this.#refs++;
  }

  release(): void {
    if (this.#refs <= 0) throw new Error(`${this} released more often than retained`);
    if (--this.#refs === 0) this.allocator.recycle(this);
  }

  releaseSoon(): void {
    this.allocator.releaseSoon(this);
  }

  /** Internal: a recycled block handed out again. */
  reuse(): this {
    this.#refs = 1;
    return this;
  }

  toString(): string {
    return `Block(0x${this.address.toString(16)}, ${this.capacity})`;
  }
}

export class Allocator {
  /**
   * `task` maps and unmaps this allocator's memory; it must live as long as the address space.
   * `onMapping` hears of each mapping made (`true`) and unmapped (`false`); arenas are never
   * unmapped by the allocator, a large block's mapping is when the block is freed.
   */
  constructor(
    readonly task: MappingTask,
    private readonly onMapping?: (mapping: MemoryMapping, mapped: boolean) => void,
    /** Maps and unmaps instead of an anonymous mmap through `task`. */
    private readonly mapper?: Mapper,
  ) {}

  readonly #free: Block[][] = Array.from({ length: MAX_CLASS + 1 }, () => []);
  #arena: MemoryMapping | undefined;
  #arenaUsed = 0;
  #pendingRelease: Block[] = [];
  /** The arena being mapped, if any: allocations that miss meanwhile wait for it instead of mapping their own. */
  #refill: Promise<void> | undefined;
  /** All arenas ever mapped; they live as long as the address space. */
  readonly arenas: MemoryMapping[] = [];

  /**
   * Allocates at least `size` bytes, mapping more memory through `task` when needed. Allocations
   * that miss while an arena is being mapped share that arena.
   */
  async malloc(size: number): Promise<Block> {
    if (sizeClass(size) < 0) {
      const length = roundUp(size, PAGE_SIZE);
      const mapping = await this.#map(length);
      this.onMapping?.(mapping, true);
      return new Block(this, mapping, mapping.address, length, -1);
    }
    for (;;) {
      const block = this.allocateNow(size);
      if (block) return block;
      if (!this.#refill) {
        this.#refill = this.#mapArena().finally(() => {
          this.#refill = undefined;
        });
      }
      await this.#refill;
    }
  }

  /**
   * Allocates from memory already mapped, without a syscall; undefined when that is not enough.
   * Also the safe point where blocks dropped by finalizers are recycled.
   */
  allocateNow(size: number): Block | undefined {
    if (this.#pendingRelease.length) this.#drainPending();
    const cls = sizeClass(size);
    if (cls < 0) return undefined;
    const reused = this.#free[cls]?.pop();
    if (reused) return reused.reuse();
    const capacity = 1 << cls;
    const arena = this.#arena;
    if (!arena || this.#arenaUsed + capacity > arena.length) return undefined;
    const block = new Block(this, arena, asAddress(arena.address + this.#arenaUsed), capacity, cls);
    this.#arenaUsed += Math.max(capacity, ALIGNMENT);
    return block;
  }

  /** Internal: returns a block whose last reference was dropped. */
  recycle(block: Block): void {
    if (block.sizeClass < 0) {
      // A large block owns its mapping; nothing awaits this, so report failures loudly.
      this.onMapping?.(block.mapping, false);
      (this.mapper ? this.mapper.unmap(block.mapping) : block.mapping.munmap()).catch((e: unknown) => {
        queueMicrotask(() => {
          throw e;
        });
      });
      return;
    }
    this.#free[block.sizeClass]?.push(block);
  }

  /** Internal: queues a release from a finalizer; done at the next allocation. */
  releaseSoon(block: Block): void {
    this.#pendingRelease.push(block);
  }

  #map(length: number): Promise<MemoryMapping> {
    return this.mapper ? this.mapper.map(length) : mapAnonymous(this.task, length);
  }

  async #mapArena(): Promise<void> {
    const arena = await this.#map(ARENA_SIZE);
    this.arenas.push(arena);
    this.onMapping?.(arena, true);
    this.#arena = arena;
    this.#arenaUsed = 0;
  }

  #drainPending(): void {
    const pending = this.#pendingRelease;
    this.#pendingRelease = [];
    for (const block of pending) block.release();
  }
}

function sizeClass(size: number): number {
  if (size > 1 << MAX_CLASS) return -1;
  let cls = MIN_CLASS;
  while (1 << cls < size) cls++;
  return cls;
}

function roundUp(n: number, to: number): number {
  return Math.max(to, Math.ceil(n / to) * to);
}

async function mapAnonymous(task: MappingTask, length: number): Promise<MemoryMapping> {
  const address = await raw.mmap(task.sysif, 0, length, PROT.READ | PROT.WRITE, MAP.PRIVATE | MAP.ANONYMOUS, -1, 0);
  return new MemoryMapping(task, address, length);
}
