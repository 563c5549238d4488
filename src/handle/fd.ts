// File descriptor handles, and what each fd table knows about its numbers.
//
// A handle is an fd number seen through one task. Several handles may name one fd: the same
// number through tasks that share a table (CLONE_FILES), or several handles in one task. For each
// number it knows, a table keeps an entry:
//   - the open file the number names, as an identity. A table copied by clone (or unshare of
//     CLONE_FILES) names the same files at the same numbers, so `inheritFd` can tell the copy of a
//     parent's fd from a number reused since; a number given a new fd gets a new identity.
//   - the live handles, per task (so that unshare can move one task's handles to its new table).
//   - whether the library owns the number. It owns what it made (syscall results, and their copies
//     made by clone). A number it did not make (`fdAt`: Node's stdio, an fd from node:fs) is
//     borrowed, as rustix's BorrowedFd: dropping its handles never closes it. `takeOwnership` and
//     `release` move ownership explicitly.
// An owned fd whose handles were all dropped without being closed is noticed by a finalizer, which
// only queues its number; the task closes queued numbers at its next fd-creating call
// (`collectGarbage`), if no handle to that number was made meanwhile. Until then the number stays
// open, so the kernel cannot reuse it under a handle.
import { FDTable, FDTableMismatchError } from "../far.js";
import { SyscallError, SyscallSendError } from "../near/errors.js";
import type { Fd } from "../near/ids.js";
import * as raw from "../near/syscalls.js";
import { ClosedFileDescriptorError } from "./errors.js";
import type { BaseTask } from "./task.js";

/** The open file an fd number names, as an identity (see the file comment): a serial number. */
type OpenFile = number;
let nextOpenFile = 1;
const newOpenFile = (): OpenFile => nextOpenFile++;

/**
 * A task's place in the fd tables: the table it uses now. Handles count under it, and the finalizer
 * names it rather than the task, so that no record of ours keeps a dropped task alive.
 */
export class FdHolder {
  constructor(public table: FileDescriptorTable) {}
}

interface Entry {
  file: OpenFile;
  owned: boolean;
  /** The table's version when `file` and `owned` took these values (0: as inherited). */
  since: number;
  /** Live handles, in all. */
  count: number;
  /**
   * Whose they are: one task's (nearly always; then it holds all `count`), or, in a table that
   * tasks share (CLONE_FILES), a count per task.
   */
  holders: FdHolder | Map<FdHolder, number> | undefined;
}

function entry(file: OpenFile, owned: boolean, since = 0): Entry {
  return { file, owned, since, count: 0, holders: undefined };
}

/** What a number named in a table before a change: kept while copies made before it may ask. */
interface Past {
  file: OpenFile;
  owned: boolean;
  since: number;
  until: number;
}

/** The table a copy was made of, and that table's version then. */
interface Base {
  table: FileDescriptorTable;
  version: number;
}

/** Copies that still read through their base: when one is collected, its base stops keeping history for it. */
const lazyCopies = new FinalizationRegistry<FileDescriptorTable>((base) => base.copyGone());

/** How many of `e`'s handles belong to `holder`. */
function countOf(e: Entry, holder: FdHolder): number {
  return e.holders instanceof Map ? (e.holders.get(holder) ?? 0) : e.holders === holder ? e.count : 0;
}

function addHolder(e: Entry, holder: FdHolder, n: number): void {
  if (e.holders === undefined || e.holders === holder) {
    e.holders = holder;
  } else {
    if (!(e.holders instanceof Map)) e.holders = new Map([[e.holders, e.count]]);
    e.holders.set(holder, (e.holders.get(holder) ?? 0) + n);
  }
  e.count += n;
}

function removeHolder(e: Entry, holder: FdHolder, n: number): void {
  const mine = countOf(e, holder);
  const taken = Math.min(mine, n);
  e.count = Math.max(0, e.count - n);
  if (e.holders instanceof Map) {
    if (mine - taken > 0) e.holders.set(holder, mine - taken);
    else e.holders.delete(holder);
  } else if (e.count === 0) {
    e.holders = undefined;
  }
}

/** An fd table: what we know of its numbers, and the live handles to each. */
export class FileDescriptorTable extends FDTable {
  readonly #entries = new Map<number, Entry>();
  #dropped: number[] = [];
  /**
   * Hears when an fd becomes ours to close (`true`) and stops being so (`false`: closed, given
   * away): for a worker, whose fds the addon closes when it ends, since no JavaScript runs then.
   */
  onOwned?: (n: number, owned: boolean) => void;
  /**
   * A copy starts empty and reads what it does not know yet from the table it is a copy of, as that
   * table was then: copying every entry at each clone made 1000 children of a process with 3000 fds
   * cost O(n^2) in time and memory. The base keeps what its numbers named before each later change
   * (`#past`) for as long as such copies live.
   */
  #base: Base | undefined;
  /** Numbers closed here that the base still names. */
  #removed: Set<number> | undefined;
  #version = 0;
  #copies = 0;
  /** The version the newest lazy copy of this table was made at: later entries no copy can see. */
  #lastCopy = 0;
  #past: Map<number, Past[]> | undefined;

  /** A table; with `copyOf`, the copy of that table the kernel made (clone, unshare): the same files. */
  constructor(creatorPid: number, copyOf?: FileDescriptorTable) {
    super(creatorPid);
    if (copyOf) {
      // A copy of a copy: the middle one takes its own entries first (its base may go on changing).
      copyOf.#flatten();
      this.#base = { table: copyOf, version: copyOf.#version };
      copyOf.#copies++;
      copyOf.#lastCopy = copyOf.#version;
      lazyCopies.register(this, copyOf, this);
    }
  }

  /** Internal: a lazy copy of this table was collected (or stopped reading through it). */
  copyGone(): void {
    if (--this.#copies === 0) this.#past = undefined;
  }

  /** Stops reading through the base (every entry wanted was taken: see #flatten). */
  #detach(): void {
    const base = this.#base;
    if (!base) return;
    this.#base = undefined;
    this.#removed = undefined;
    lazyCopies.unregister(this);
    base.table.copyGone();
  }

  /** The entry for `n`, taken from the base (as it was at the copy) the first time. */
  #get(n: number): Entry | undefined {
    const own = this.#entries.get(n);
    if (own || !this.#base || this.#removed?.has(n)) return own;
    const then = this.#base.table.#at(n, this.#base.version);
    if (!then) return undefined;
    const e = entry(then.file, then.owned);
    this.#entries.set(n, e);
    return e;
  }

  /** Gives `n` a new entry of this table's own (a number closed here may name something again). */
  #set(n: number, e: Entry): void {
    this.#removed?.delete(n);
    this.#entries.set(n, e);
  }

  /** What `n` named at `version` of this table. */
  #at(n: number, version: number): { file: OpenFile; owned: boolean } | undefined {
    const now = this.#get(n);
    if (now && now.since <= version) return now;
    return this.#past?.get(n)?.find((p) => p.since <= version && version < p.until);
  }

  /** Takes every entry the base still names here: before iterating, or before being copied. */
  #flatten(): void {
    const base = this.#base;
    if (!base) return;
    for (const n of base.table.#numbers()) this.#get(n);
    this.#detach();
  }

  /** Every number this table may name (or named, for copies made before). */
  #numbers(): Set<number> {
    const numbers = new Set(this.#entries.keys());
    for (const n of this.#past?.keys() ?? []) numbers.add(n);
    if (this.#base) for (const n of this.#base.table.#numbers()) if (!this.#removed?.has(n)) numbers.add(n);
    return numbers;
  }

  /** Before `n`'s file or ownership changes: copies made before may still need the old ones. */
  #changing(n: number, e: Entry | undefined): number {
    const version = ++this.#version;
    // Only an entry some live copy may still ask about: one older than the newest copy.
    if (e && this.#copies > 0 && e.since <= this.#lastCopy) {
      this.#past ??= new Map();
      const past = this.#past.get(n) ?? [];
      past.push({ file: e.file, owned: e.owned, since: e.since, until: version });
      this.#past.set(n, past);
    }
    return version;
  }

  /** Internal: fd `n` was just made by a syscall: a new open file, ours. */
  fresh(n: number): void {
    const old = this.#get(n);
    // Handles left on the number are borrowed ones whose fd was closed behind our back.
    const fresh = entry(newOpenFile(), true, this.#changing(n, old));
    if (old) {
      fresh.count = old.count;
      fresh.holders = old.holders;
    }
    this.#set(n, fresh);
    this.onOwned?.(n, true);
  }

  /** Internal: an entry for `n`, borrowed if the number is new to us. */
  known(n: number): void {
    if (!this.#get(n)) this.#set(n, entry(newOpenFile(), false, this.#changing(n, undefined)));
  }

  /** Internal: fd `n` now names another open file (dup2 onto it). */
  replaced(n: number): void {
    const entry = this.#get(n);
    if (!entry) return;
    entry.since = this.#changing(n, entry);
    entry.file = newOpenFile();
  }

  /** Internal: fds in [first, last] without handles were closed (close_range). */
  closedRange(first: number, last: number): void {
    this.#flatten();
    for (const [n, e] of this.#entries) if (n >= first && n <= last && e.count === 0) this.#forget(n);
  }

  /** Whether fd `n` of this table and fd `n` of `other` are the same open file (one copied from the other). */
  sameFile(n: number, other: FileDescriptorTable): boolean {
    const file = this.#get(n)?.file;
    return file !== undefined && file === other.#get(n)?.file;
  }

  /** The identity of the open file fd `n` names (the same in copies of this table), if we know it. */
  fileAt(n: number): number | undefined {
    return this.#get(n)?.file;
  }

  /** Whether the library owns fd `n` (see the file comment). */
  owns(n: number): boolean {
    return this.#get(n)?.owned ?? false;
  }

  /** Internal: the library owns fd `n` from now on, or no longer. */
  setOwned(n: number, owned: boolean): void {
    const entry = this.#get(n);
    if (!entry) return;
    entry.since = this.#changing(n, entry);
    entry.owned = owned;
    this.onOwned?.(n, owned);
  }

  /** Forgets fd `n`: it was closed. */
  #forget(n: number): void {
    const e = this.#get(n);
    this.#changing(n, e);
    this.#entries.delete(n);
    if (this.#base) (this.#removed ??= new Set()).add(n);
    if (e?.owned) this.onOwned?.(n, false);
  }

  /** Counts a new handle to fd `n`, whose entry exists. */
  add(handle: BaseFileDescriptor): void {
    const e = this.#get(handle.near);
    if (!e) throw new Error(`${this}: no entry for fd ${handle.near}`);
    const holder = handle.task.fdHolder;
    addHolder(e, holder, 1);
    finalizer.register(handle, { holder, n: handle.near }, handle);
  }

  /**
   * Uncounts a handle that was closed or invalidated; returns how many handles to its fd remain.
   * With `closing`, the caller closes the fd now (the last handle): the number is forgotten.
   */
  remove(handle: BaseFileDescriptor): number {
    finalizer.unregister(handle);
    return this.#uncount(handle.task.fdHolder, handle.near);
  }

  /** Internal: the caller is closing fd `n`, which has no handle left: forget the number. */
  closing(n: number): void {
    if (this.#get(n)?.count === 0) this.#forget(n);
  }

  /** Internal: fd `n` could not be closed through its task (gone): close it at the next collection. */
  orphaned(n: number): void {
    if (!this.#get(n)) {
      this.#set(n, entry(newOpenFile(), true, this.#changing(n, undefined)));
      this.onOwned?.(n, true);
    }
    this.#dropped.push(n);
  }

  /** Moves `holder`'s handles to `into`, a copy of this table its task now uses (unshare(CLONE_FILES)). */
  moveHolder(holder: FdHolder, into: FileDescriptorTable): void {
    for (const [n, e] of this.#entries) {
      const count = countOf(e, holder);
      if (!count) continue;
      removeHolder(e, holder, count);
      const target = into.#get(n);
      if (target) addHolder(target, holder, count);
    }
  }

  /** The fd numbers that have live handles, ascending. */
  liveNumbers(): number[] {
    const live: number[] = [];
    for (const [n, e] of this.#entries) if (e.count > 0) live.push(n);
    return live.sort((a, b) => a - b);
  }

  /** How many live handles name fd `n` in this table. */
  handleCount(n: number): number {
    return this.#entries.get(n)?.count ?? 0;
  }

  /** Who keeps fds open for the table itself, apart from any task (see keepOpen). */
  readonly #keeper = new FdHolder(this);

  /**
   * Internal: keeps fd `n` open without a handle of any task: for an fd that belongs to the table
   * rather than to one of its tasks (a child's end of its link, in a table it shares with us), which
   * a task moving to a table of its own must not take along.
   */
  keepOpen(n: number): void {
    const e = this.#get(n);
    if (e) addHolder(e, this.#keeper, 1);
  }

  /** Internal: undoes keepOpen; once no handle is left either, the next collection closes it. */
  releaseKept(n: number): void {
    this.collected(this.#keeper, n);
  }

  /** Owned fd numbers whose last handle was garbage-collected, and have none now; emptied by the call. */
  takeDropped(): number[] {
    const dropped = this.#dropped.filter((n) => this.handleCount(n) === 0 && this.owns(n));
    this.#dropped = [];
    for (const n of dropped) this.#forget(n);
    return dropped;
  }

  /** Called by the finalizer for a handle that was dropped while still valid. */
  collected(holder: FdHolder, n: number): void {
    if (this.#uncount(holder, n) === 0 && this.owns(n)) this.#dropped.push(n);
  }

  #uncount(holder: FdHolder, n: number): number {
    const e = this.#get(n);
    if (!e) return 0;
    removeHolder(e, holder, 1);
    return e.count;
  }
}

const finalizer = new FinalizationRegistry<{ holder: FdHolder; n: number }>(({ holder, n }) =>
  holder.table.collected(holder, n),
);

/** Hears that a handle was closed, invalidated or released. */
export interface InvalidationListener {
  handleInvalidated(fd: BaseFileDescriptor): void;
}

/**
 * An fd number in some task's fd table. The syscall methods of the header modules are composed
 * onto `FileDescriptor`; this base class holds validity and ownership.
 */
export class BaseFileDescriptor {
  /** The task this handle reaches the fd through: its syscalls on the fd are made there. */
  readonly task: BaseTask;
  /** The fd number, in `task`'s fd table: what the kernel sees. */
  readonly near: Fd;
  #valid = true;
  /** Who hears of this handle's end: nobody, one listener (nearly always), or several. */
  #listeners: InvalidationListener | InvalidationListener[] | undefined;

  /**
   * Internal: handles come from syscalls (`task.makeFd`), `fdAt`, `forTask` and `inheritFd`.
   * @internal
   */
  constructor(task: BaseTask, near: Fd) {
    this.task = task;
    this.near = near;
    task.fdTable.add(this);
  }

  /** Whether this handle can still be used. */
  get valid(): boolean {
    return this.#valid;
  }

  /** Whether the library owns this fd: it is closed once every handle to it is dropped. */
  get owned(): boolean {
    return this.task.fdTable.owns(this.near);
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
   * `int close(int fd)`: close the fd, owned or borrowed. Throws if other handles still name it
   * (invalidate this one with `invalidate()` instead, and the last one closes it).
   * @see https://man7.org/linux/man-pages/man2/close.2.html
   */
  async close(): Promise<void> {
    if (!this.isOnlyHandle()) {
      throw new Error(`${this}: other handles to this fd exist; use invalidate() to drop this one`);
    }
    await this.#drop(true);
  }

  /** Makes this handle unusable, and closes the fd if this was its last handle and the fd is owned. */
  async invalidate(): Promise<void> {
    await this.#drop(this.owned);
  }

  async #drop(closeIfLast: boolean): Promise<void> {
    if (!this.#valid) return;
    this.#invalidated();
    const table = this.task.fdTable;
    if (table.remove(this) > 0 || !closeIfLast) return;
    table.closing(this.near);
    try {
      await raw.close(this.task.sysif, this.near);
    } catch (e) {
      // Not sent: the task is gone. Another task sharing the table (CLONE_FILES) closes it at its
      // next collection; a table nobody else uses went away with the task.
      if (e instanceof SyscallSendError) table.orphaned(this.near);
      else throw e instanceof SyscallError ? e.annotate({ fd: this.near }) : e;
    }
  }

  /**
   * Makes the library the owner of this fd: once every handle to it is dropped, the collector
   * closes it. For an fd you were handed (from node:fs, another library) that nobody else closes.
   * Returns this handle.
   */
  takeOwnership(): this {
    this.validate();
    this.task.fdTable.setOwned(this.near, true);
    return this;
  }

  /**
   * Gives up this handle without closing the fd, and returns its number: for handing the fd to
   * code outside the library (a `net.Socket`), which then owns it. Refuses while other handles
   * name the fd, since they would outlive it.
   */
  release(): number {
    if (!this.isOnlyHandle()) throw new Error(`${this}: other handles to this fd exist; cannot give it away`);
    this.#invalidated();
    this.task.fdTable.remove(this);
    this.task.fdTable.setOwned(this.near, false);
    return this.near;
  }

  /**
   * Internal: tells `listener` once this handle is closed, invalidated or released (an AFD's waiters).
   * @internal
   */
  onInvalidate(listener: InvalidationListener): void {
    if (!this.#valid) listener.handleInvalidated(this);
    else if (this.#listeners === undefined) this.#listeners = listener;
    else if (Array.isArray(this.#listeners)) this.#listeners.push(listener);
    else this.#listeners = [this.#listeners, listener];
  }

  #invalidated(): void {
    this.#valid = false;
    const listeners = this.#listeners;
    this.#listeners = undefined;
    if (Array.isArray(listeners)) for (const l of listeners) l.handleInvalidated(this);
    else listeners?.handleInvalidated(this);
  }

  /** A handle to this fd's copy in `task`, whose fd table was copied from this one by clone. */
  inherit<T extends BaseTask>(task: T): T["_fd"] {
    return task.inheritFd(this);
  }

  /** A handle to the same fd through another task that shares this fd table. */
  forTask<T extends BaseTask>(task: T): T["_fd"] {
    this.borrow(task);
    return task.fdAt(this.near);
  }

  /** The path of this fd in `/proc`, for programs that take paths: `/proc/<pid>/fd/<n>`. */
  asProcPath(): string {
    this.validate();
    return `/proc/${this.task.pid}/fd/${this.near}`;
  }

  /** For `await using`: `invalidate()`, so the fd is closed with its last handle. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.invalidate();
  }

  /** For messages: `FileDescriptor(5, pid 1234)`, with `invalid` once closed. */
  toString(): string {
    return `FileDescriptor(${this.near}, pid ${this.task.pid}${this.#valid ? "" : ", invalid"})`;
  }
}
