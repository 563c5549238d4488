// Pointers: owning handles on memory in some task's address space.
//
// A pointer owns a piece of an allocation and knows its size, its type (as a serializer) and
// the task it belongs to, so syscalls never take a length from the user and a pointer cannot be
// used through a task in another address space. The classes carry typestate:
//   Pointer<T>          allocated, contents unknown (malloc)
//   WrittenPointer<T>   holds a value we wrote and know (ptr, write): what inputs require
//   ReadablePointer<T>  filled by the kernel, safe to read (syscall outputs)
//   LinearPointer<T>    holds resources (fds) and must be read exactly once
// Operations that change what a pointer means consume it and return new pointers: `write`,
// `split`, `merge`. A consumed or freed pointer throws UseAfterFreeError on use.
import { type AddressSpace, AddressSpaceMismatchError } from "../far.js";
import type { Address } from "../near/ids.js";
import type { SyscallInterface } from "../near/sysif.js";
import { UseAfterFreeError } from "./errors.js";
import type { MemoryMapping } from "./mapping.js";

/** Turns values of type T into bytes and back. The codecs themselves are in struct.ts. */
export interface Serializer<T> {
  /** The bytes `value` is in memory. */
  toBytes(value: T): Uint8Array;
  /** The value `bytes` hold (read from memory, exactly the pointer's size). */
  fromBytes(bytes: Buffer): T;
  /**
   * For values whose bytes hold addresses of their own parts (an argv laid out with its strings):
   * how many bytes `value` takes, and its bytes as written at `address`. `toBytes` is then not used.
   */
  placed?: {
    /** How many bytes `value` takes, its parts included. */
    size(value: T): number;
    /** `value`'s bytes as they must be at `address`, with the addresses of its parts filled in. */
    toBytesAt(value: T, address: number): Uint8Array;
  };
}

/** Moves bytes in and out of a task's memory (a memcpy for our own process). */
export interface MemoryGateway {
  /** Copies `length` bytes at `address`, which lies in `mapping`. */
  read(mapping: MemoryMapping, address: Address, length: number): Promise<Buffer>;
  /** Copies `bytes` to `address`, which lies in `mapping`. */
  write(mapping: MemoryMapping, address: Address, bytes: Uint8Array): Promise<void>;
}

/**
 * A block from the allocator. Pieces of one block (after `split`) share it; it returns to the
 * allocator when the last piece is freed.
 */
export interface Allocation {
  readonly mapping: MemoryMapping;
  /** Takes one more reference (a new piece). */
  retain(): void;
  /** Drops one reference now. */
  release(): void;
  /** Drops one reference at the allocator's next safe point (from a finalizer). */
  releaseSoon(): void;
}

/** What a pointer needs of the task that owns it. */
export interface PointerOwner {
  readonly addressSpace: AddressSpace;
}

/** A task a pointer is passed to a syscall through: its syscall interface holds the pointer's memory. */
export interface PointerBorrower extends PointerOwner {
  readonly sysif?: SyscallInterface;
}

/** A value that holds pointers (an iovec array, a msghdr): they are in use whenever it is. */
export interface HasPointers {
  /** The pointers this value's bytes name: lent to a syscall along with it. */
  pointers(): Iterable<Pointer<unknown>>;
}

/**
 * Memory in use by outstanding syscalls, per allocation: byte ranges, each holding a reference to
 * the allocation so that it cannot be reused, and writers waiting for their range to be free.
 */
interface Pins {
  ranges: Set<{ start: number; end: number }>;
  waiters: (() => void)[];
}
const pinned = new WeakMap<Allocation, Pins>();

function pin(allocation: Allocation, start: number, end: number): () => void {
  allocation.retain();
  let pins = pinned.get(allocation);
  if (!pins) {
    pins = { ranges: new Set(), waiters: [] };
    pinned.set(allocation, pins);
  }
  const range = { start, end };
  pins.ranges.add(range);
  const state = pins;
  return () => {
    state.ranges.delete(range);
    allocation.release();
    if (state.waiters.length === 0) return;
    const waiters = state.waiters;
    state.waiters = [];
    // A macrotask later: first the syscall method that used the memory finishes with the pointer
    // (it may consume it), then the writer sees what is left.
    setImmediate(() => {
      for (const wake of waiters) wake();
    });
  };
}

function isPinned(allocation: Allocation, start: number, end: number): Pins | undefined {
  const pins = pinned.get(allocation);
  if (!pins) return undefined;
  for (const r of pins.ranges) if (r.start < end && start < r.end) return pins;
  return undefined;
}

/** Frees, at the allocator's next safe point, the pieces of pointers that were dropped unfreed. */
const dropped = new FinalizationRegistry<Allocation>((allocation) => allocation.releaseSoon());

interface PointerParts<T> {
  task: PointerOwner;
  gateway: MemoryGateway;
  serializer: Serializer<T>;
  allocation: Allocation;
  address: Address;
  size: number;
}

/**
 * Memory in some task's address space for a value of type T, owned by this handle: from `malloc`
 * (contents unknown), `ptr` or a syscall. Syscalls take its address and size from it, so neither
 * comes from the caller, after checking it is in their task's address space. The subclasses say
 * what is known of the contents (WrittenPointer, ReadablePointer, LinearPointer). Freed by
 * `free()`, or by the collector once dropped.
 */
export class Pointer<T> {
  /** The task whose memory this is: any task in the same address space may use it. */
  readonly task: PointerOwner;
  /** How a T becomes the bytes here and back. */
  readonly serializer: Serializer<T>;
  protected readonly gateway: MemoryGateway;
  protected readonly allocation: Allocation;
  readonly #address: Address;
  readonly #size: number;
  #valid = true;

  /**
   * Internal: pointers come from `malloc`, `ptr` and syscalls. Takes over one allocation reference.
   * @internal
   */
  constructor(parts: PointerParts<T>) {
    this.task = parts.task;
    this.gateway = parts.gateway;
    this.serializer = parts.serializer;
    this.allocation = parts.allocation;
    this.#address = parts.address;
    this.#size = parts.size;
    dropped.register(this, parts.allocation, this);
  }

  /** Whether this pointer can still be used (not freed, not consumed). */
  get valid(): boolean {
    return this.#valid;
  }

  /** The raw address, for syscalls. Throws if the pointer was freed or consumed. */
  get near(): Address {
    this.validate();
    return this.#address;
  }

  /** The size in bytes; this is what syscalls pass as the length. */
  size(): number {
    return this.#size;
  }

  /** Reads and deserializes the value at this pointer. */
  async read(): Promise<T> {
    this.validate();
    return this.serializer.fromBytes(await this.gateway.read(this.allocation.mapping, this.#address, this.#size));
  }

  /**
   * Writes `value` here, consuming this pointer; returns a pointer that knows the value. Waits
   * first for outstanding syscalls that use this memory to complete (see `borrow`), so a syscall
   * already queued sees the bytes it was queued with.
   */
  async write(value: T): Promise<WrittenPointer<T>> {
    this.validate();
    const placed = this.serializer.placed;
    const bytes = placed ? placed.toBytesAt(value, this.#address) : this.serializer.toBytes(value);
    if (bytes.length > this.#size) {
      throw new RangeError(`value takes ${bytes.length} bytes but this pointer has ${this.#size}`);
    }
    const end = this.#address + this.#size;
    for (let pins = isPinned(this.allocation, this.#address, end); pins; ) {
      const waiting = pins;
      await new Promise<void>((resolve) => waiting.waiters.push(resolve));
      this.validate();
      pins = isPinned(this.allocation, this.#address, end);
    }
    await this.gateway.write(this.allocation.mapping, this.#address, bytes);
    return new WrittenPointer(this.consume(), value);
  }

  /**
   * Internal: the first `length` bytes as they are, in a new Buffer (no serializer; for memory its
   * one user reuses, such as an AsyncFileDescriptor's scratch).
   * @internal
   */
  readBytes(length: number): Promise<Buffer> {
    this.validate();
    if (length > this.#size) throw new RangeError(`readBytes: ${length} bytes from a pointer of ${this.#size}`);
    return this.gateway.read(this.allocation.mapping, this.#address, length);
  }

  /**
   * Internal: stores `bytes` at the start without consuming the pointer (see readBytes).
   * @internal
   */
  storeBytes(bytes: Uint8Array): Promise<void> {
    this.validate();
    if (bytes.length > this.#size) throw new RangeError(`storeBytes: ${bytes.length} bytes into ${this.#size}`);
    return this.gateway.write(this.allocation.mapping, this.#address, bytes);
  }

  /** Splits into the first `size` bytes and the rest, consuming this pointer. */
  split(size: number): [Pointer<T>, Pointer<T>] {
    const [first, rest] = this.splitParts(size);
    return [new Pointer(first), new Pointer(rest)];
  }

  /** Like `split`, with the first part marked as initialized (the kernel filled it). */
  readableSplit(size: number): [ReadablePointer<T>, Pointer<T>] {
    const [first, rest] = this.splitParts(size);
    return [new ReadablePointer(first), new Pointer(rest)];
  }

  /** Joins this pointer with the piece that follows it (from `split`), consuming both. */
  merge(next: Pointer<T>): Pointer<T> {
    this.validate();
    next.validate();
    if (next.allocation !== this.allocation || next.#address !== this.#address + this.#size) {
      throw new RangeError("merge: the pointers are not adjacent pieces of one allocation");
    }
    const size = this.#size + next.#size;
    const parts = this.consume();
    next.consume();
    this.allocation.release();
    return new Pointer({ ...parts, size });
  }

  /** Marks the whole pointer as filled by the kernel, consuming it; for syscall methods. */
  filled(): ReadablePointer<T> {
    return new ReadablePointer(this.consume());
  }

  /** See the module function `linearize`. */
  static linearize<T>(ptr: Pointer<T>): LinearPointer<T> {
    return new LinearPointer(ptr.consume());
  }

  /** Treats the contents as initialized without proof (for ioctl-like calls). */
  unsafe(): ReadablePointer<T> {
    return new ReadablePointer(this.consume());
  }

  /** Releases the memory now. Freeing a freed or consumed pointer does nothing. */
  free(): void {
    if (!this.#valid) return;
    this.#valid = false;
    dropped.unregister(this);
    this.allocation.release();
  }

  /** For `using`: `free()`. */
  [Symbol.dispose](): void {
    this.free();
  }

  /** Throws unless `task` is in the address space this memory lives in. */
  checkAddressSpace(task: PointerOwner): void {
    if (task.addressSpace !== this.task.addressSpace) {
      throw new AddressSpaceMismatchError(`pointer ${this}`, this.task.addressSpace, task.addressSpace);
    }
  }

  /** The raw address in `task`'s address space: validates and checks the address space. */
  addressIn(task: PointerOwner): Address {
    this.validate();
    this.checkAddressSpace(task);
    return this.#address;
  }

  /**
   * The raw address for a syscall made through `task`, right now: validates, checks the address
   * space, and lends the memory (and the pointers a written value holds) to that syscall. Until it
   * completes the memory is not reused, even if this pointer is freed, and `write` waits.
   */
  borrow(task: PointerBorrower): Address {
    const address = this.addressIn(task);
    const sysif = task.sysif;
    if (sysif?.holdUntilNextCompletes) this.#lend(sysif, new Set());
    return address;
  }

  #lend(sysif: SyscallInterface, seen: Set<Pointer<unknown>>): void {
    if (seen.has(this)) return;
    seen.add(this);
    sysif.holdUntilNextCompletes?.(pin(this.allocation, this.#address, this.#address + this.#size));
    const value = (this as Pointer<unknown> as Partial<WrittenPointer<unknown>>).value;
    const nested = (value as Partial<HasPointers> | undefined)?.pointers;
    if (typeof nested === "function") {
      for (const p of nested.call(value)) if (p.valid) p.#lend(sysif, seen);
    }
  }

  /** For messages: the class, address and size, `invalid` once freed or consumed. */
  toString(): string {
    const state = this.#valid ? "" : ", invalid";
    return `${this.constructor.name}(0x${this.#address.toString(16)}, ${this.#size}${state})`;
  }

  protected validate(): void {
    if (!this.#valid) throw new UseAfterFreeError(`${this} was freed or consumed`);
  }

  /** Invalidates this pointer and hands its allocation reference to the caller. */
  protected consume(): PointerParts<T> {
    this.validate();
    this.#valid = false;
    dropped.unregister(this);
    return {
      task: this.task,
      gateway: this.gateway,
      serializer: this.serializer,
      allocation: this.allocation,
      address: this.#address,
      size: this.#size,
    };
  }

  private splitParts(size: number): [PointerParts<T>, PointerParts<T>] {
    if (!Number.isInteger(size) || size < 0 || size > this.#size) {
      throw new RangeError(`split(${size}) of a ${this.#size}-byte pointer`);
    }
    const parts = this.consume();
    this.allocation.retain();
    return [
      { ...parts, size },
      { ...parts, address: (parts.address + size) as Address, size: parts.size - size },
    ];
  }
}

/** A pointer to memory holding a value we wrote and still know: `value`. */
export class WrittenPointer<T> extends Pointer<T> {
  /** @internal Written pointers come from `ptr` and `write`. */
  constructor(
    parts: PointerParts<T>,
    /** The value written here, as it was given (no read needed). */
    readonly value: T,
  ) {
    super(parts);
  }
}

/** A pointer to memory the kernel initialized: safe to read. */
export class ReadablePointer<T> extends Pointer<T> {
  declare private readonly readableBrand: never;
}

/**
 * A pointer to memory holding resources (file descriptor numbers the kernel just made): it must
 * be read exactly once, since reading makes the handles. A second read throws.
 */
export class LinearPointer<T> extends ReadablePointer<T> {
  declare private readonly linearBrand: never;
  #read = false;

  override async read(): Promise<T> {
    if (this.#read) throw new UseAfterFreeError(`${this} was already read; its resources have handles`);
    this.#read = true;
    return super.read();
  }
}

/** Makes a pointer from its parts; for the memory layer. */
export function makePointer<T>(parts: PointerParts<T>): Pointer<T> {
  return new Pointer(parts);
}

/** Makes a written pointer from its parts; for the memory layer. */
export function makeWrittenPointer<T>(parts: PointerParts<T>, value: T): WrittenPointer<T> {
  return new WrittenPointer(parts, value);
}

/** Reinterprets a pointer as the output of a syscall that filled it with resources, consuming it. */
export function linearize<T>(ptr: Pointer<T>): LinearPointer<T> {
  return Pointer.linearize(ptr);
}

export type { PointerParts };
