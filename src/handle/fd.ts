// File descriptor handles, and the bookkeeping of which handles exist for each fd number.
//
// A handle is an fd number seen through one task. Several handles may name one fd (the same
// number through tasks that share a table); the fd is closed when the last of them is closed or
// invalidated. A handle dropped without closing is noticed by a finalizer, which only queues its
// number; the task closes queued numbers at its next fd-creating call (`collectGarbage`), once no
// handle to that number is left. Until then the number stays open, so the kernel cannot reuse it.
import { FDTable, FDTableMismatchError } from "../far.js";
import { SyscallError } from "../near/errors.js";
import type { Fd } from "../near/ids.js";
import * as raw from "../near/syscalls.js";
import { ClosedFileDescriptorError } from "./errors.js";
import type { BaseTask } from "./task.js";

/** An fd table and the live handles to each of its fd numbers. */
export class FileDescriptorTable extends FDTable {
  readonly #handles = new Map<number, number>();
  #dropped: number[] = [];
  /**
   * The table this one was copied from at clone, the numbers that had handles there then, and the
   * serial of the last handle made before: a handle made later names a number the parent reused.
   */
  readonly #parent: FileDescriptorTable | undefined;
  readonly #inherited: ReadonlySet<number>;
  readonly #cloneSerial: number;

  /** A table; when `parent` is given, a copy of it made by clone (without CLONE_FILES). */
  constructor(creatorPid: number, parent?: FileDescriptorTable) {
    super(creatorPid);
    this.#parent = parent;
    this.#inherited = new Set(parent ? parent.#handles.keys() : []);
    this.#cloneSerial = nextSerial;
  }

  /** Whether the fd `handle` names was copied into this table (the handle existed at the clone). */
  inheritedFrom(table: FileDescriptorTable, n: number, serial: number): boolean {
    if (this.#parent === undefined || !this.#inherited.has(n) || serial >= this.#cloneSerial) return false;
    return table === this.#parent || this.#parent.inheritedFrom(table, n, serial);
  }

  /** Counts a new handle to fd `n`. */
  add(handle: BaseFileDescriptor): void {
    const n = handle.near;
    this.#handles.set(n, (this.#handles.get(n) ?? 0) + 1);
    finalizer.register(handle, { table: this, n }, handle);
  }

  /** Uncounts a handle that was closed or invalidated; returns how many handles to `n` remain. */
  remove(handle: BaseFileDescriptor): number {
    finalizer.unregister(handle);
    return this.#uncount(handle.near);
  }

  /** The fd numbers that have live handles, ascending. */
  liveNumbers(): number[] {
    return [...this.#handles.keys()].sort((a, b) => a - b);
  }

  /** How many live handles name fd `n` in this table. */
  handleCount(n: number): number {
    return this.#handles.get(n) ?? 0;
  }

  /** The fd numbers whose last handle was garbage-collected, emptied by the call. */
  takeDropped(): number[] {
    const dropped = this.#dropped.filter((n) => this.handleCount(n) === 0);
    this.#dropped = [];
    return dropped;
  }

  /** Called by the finalizer for a handle that was dropped while still valid. */
  collected(n: number): void {
    if (this.#uncount(n) === 0) this.#dropped.push(n);
  }

  #uncount(n: number): number {
    const left = (this.#handles.get(n) ?? 1) - 1;
    if (left > 0) this.#handles.set(n, left);
    else this.#handles.delete(n);
    return left;
  }
}

/** Handles are numbered in the order they are made (see FileDescriptorTable.inheritedFrom). */
let nextSerial = 0;

const finalizer = new FinalizationRegistry<{ table: FileDescriptorTable; n: number }>(({ table, n }) =>
  table.collected(n),
);

/**
 * An fd number in some task's fd table. The syscall methods of the header modules are composed
 * onto `FileDescriptor`; this base class holds validity and ownership.
 */
export class BaseFileDescriptor {
  readonly task: BaseTask;
  readonly near: Fd;
  /** When this handle was made, relative to others (for inheritance checks). */
  readonly serial = nextSerial++;
  #valid = true;

  /** Internal: handles come from syscalls (`task.makeFd`) and `forTask`/`inherit`. */
  constructor(task: BaseTask, near: Fd) {
    this.task = task;
    this.near = near;
    task.fdTable.add(this);
  }

  /** Whether this handle can still be used. */
  get valid(): boolean {
    return this.#valid;
  }

  /** Throws unless this handle is valid. */
  validate(): void {
    if (!this.#valid) throw new ClosedFileDescriptorError(`${this} was closed or invalidated`);
  }

  /** The raw fd number for a syscall made through `task`: validates and checks the fd table. */
  borrow(task: BaseTask): Fd {
    this.validate();
    if (task.fdTable !== this.task.fdTable) {
      throw new FDTableMismatchError(`${this}`, this.task.fdTable, task.fdTable);
    }
    return this.near;
  }

  /** Whether no other valid handle names this fd in its table. */
  isOnlyHandle(): boolean {
    this.validate();
    return this.task.fdTable.handleCount(this.near) === 1;
  }

  /**
   * `close(fd)`: close the fd. Throws if other handles still name it (invalidate this one with
   * `invalidate()` instead, and the last one closes it).
   * @see https://man7.org/linux/man-pages/man2/close.2.html
   */
  async close(): Promise<void> {
    if (!this.isOnlyHandle()) {
      throw new Error(`${this}: other handles to this fd exist; use invalidate() to drop this one`);
    }
    await this.invalidate();
  }

  /** Makes this handle unusable, and closes the fd if this was its last handle. */
  async invalidate(): Promise<void> {
    if (!this.#valid) return;
    this.#valid = false;
    if (this.task.fdTable.remove(this) > 0) return;
    try {
      await raw.close(this.task.sysif, this.near);
    } catch (e) {
      throw e instanceof SyscallError ? e.annotate({ fd: this.near }) : e;
    }
  }

  /**
   * Gives up this handle without closing the fd, and returns its number: for handing the fd to
   * code outside the library (a `net.Socket`), which then owns it. Refuses while other handles
   * name the fd, since they would outlive it.
   */
  release(): number {
    if (!this.isOnlyHandle()) throw new Error(`${this}: other handles to this fd exist; cannot give it away`);
    this.#valid = false;
    this.task.fdTable.remove(this);
    return this.near;
  }

  /** A handle to this fd's copy in `task`, whose fd table was copied from this one by clone. */
  inherit<T extends BaseTask>(task: T): T["_fd"] {
    return task.inheritFd(this);
  }

  /** A handle to the same fd through another task that shares this fd table. */
  forTask<T extends BaseTask>(task: T): T["_fd"] {
    this.borrow(task);
    return task.makeFd(this.near);
  }

  /** The path of this fd in `/proc`, for programs that take paths: `/proc/<pid>/fd/<n>`. */
  asProcPath(): string {
    this.validate();
    return `/proc/${this.task.pid}/fd/${this.near}`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.invalidate();
  }

  toString(): string {
    return `FileDescriptor(${this.near}, pid ${this.task.pid}${this.#valid ? "" : ", invalid"})`;
  }
}
