// The base of `Task`: one process we can make syscalls in, and the namespaces it is in. The
// syscall methods of the header modules are composed onto `Task` (see src/task.ts).
import { type AddressSpace, FDTableMismatchError, type MountNamespace, type PidNamespace } from "../far.js";
import { asFd, type Fd, type Pid } from "../near/ids.js";
import * as raw from "../near/syscalls.js";
import type { SyscallInterface } from "../near/sysif.js";
import { BaseFileDescriptor, FdHolder, FileDescriptorTable } from "./fd.js";

/** The namespaces a new task starts in. */
export interface TaskNamespaces {
  fdTable: FileDescriptorTable;
  addressSpace: AddressSpace;
  pidns: PidNamespace;
  mountns: MountNamespace;
}

export class BaseTask implements TaskNamespaces {
  /**
   * The handle class this task makes: methods that return new fds are typed `this["_fd"]`, so
   * the composed `Task` returns the composed `FileDescriptor`. Type-level only.
   * @internal
   */
  declare readonly _fd: BaseFileDescriptor;

  /**
   * How syscalls reach this process: the addon for the Node process, a link for every other. The
   * methods use it; `task.sysif.syscall(SYS.x, ...)` makes a syscall that has no method yet.
   */
  sysif: SyscallInterface;
  /** This process's id, in the pid namespace of the process that made it. */
  readonly pid: Pid;
  /**
   * Which fd table this task uses, in an object its handles can name without naming the task.
   * @internal
   */
  readonly fdHolder: FdHolder;
  /** The address space this process's memory is in: pointers are checked against it before use. */
  addressSpace: AddressSpace;
  /** The pid namespace this process is in. */
  pidns: PidNamespace;
  /** The pid namespace its children are made in: its own, unless it unshared CLONE_NEWPID. */
  pidnsForChildren: PidNamespace;
  /** The mount namespace this process is in: what its paths name. */
  mountns: MountNamespace;

  /** @internal Tasks are made by the library: `localThread.task`, and each thread's `task`. */
  constructor(sysif: SyscallInterface, pid: Pid, namespaces: TaskNamespaces) {
    this.sysif = sysif;
    this.pid = pid;
    this.fdHolder = new FdHolder(namespaces.fdTable);
    this.addressSpace = namespaces.addressSpace;
    this.pidns = namespaces.pidns;
    this.pidnsForChildren = namespaces.pidns;
    this.mountns = namespaces.mountns;
  }

  /** The fd table this task uses (it changes at unshare(CLONE_FILES)). */
  get fdTable(): FileDescriptorTable {
    return this.fdHolder.table;
  }

  /** @internal */
  set fdTable(table: FileDescriptorTable) {
    this.fdHolder.table = table;
  }

  /** Internal: a handle object of this task's class for fd `n`, whose entry exists in the table. */
  protected newHandle(n: Fd): this["_fd"] {
    return new BaseFileDescriptor(this, n);
  }

  /** Makes a handle for fd number `n` of this task's table, one the kernel just made for us (we own it). */
  makeFd(n: Fd): this["_fd"] {
    this.fdTable.fresh(n);
    return this.newHandle(n);
  }

  /**
   * A handle for fd number `n` of this task's table, whatever it names now (or nothing yet): the
   * way to say "fd 5" as the target of `dup2`, or to use an fd opened outside the library. Unless
   * the library made that fd, the handle is borrowed: dropping it never closes the number
   * (`takeOwnership` changes that); `close()` still does.
   */
  fdAt(n: number): this["_fd"] {
    if (!Number.isInteger(n) || n < 0 || n > 2 ** 31 - 1) throw new TypeError(`fdAt: not an fd number: ${n}`);
    this.fdTable.known(n);
    return this.newHandle(asFd(n));
  }

  /**
   * A handle to this task's copy of `fd`, a handle of a task whose table this one was copied from
   * (by clone, maybe through other clones): the same open file at the same number. Throws unless
   * `fd` names that file in both tables still (a number closed and reused on either side since is
   * refused).
   */
  inheritFd(fd: BaseFileDescriptor): this["_fd"] {
    fd.validate();
    if (!this.fdTable.sameFile(fd.near, fd.task.fdTable)) {
      throw new FDTableMismatchError(`${fd} (not inherited)`, fd.task.fdTable, this.fdTable);
    }
    return this.newHandle(fd.near);
  }

  /**
   * Internal: this task moved to a copy of its fd table (unshare(CLONE_FILES)): the table gets a
   * new identity, and this task's handles move to it, while other tasks that shared the old one
   * keep it.
   * @internal
   */
  tookCopyOfFdTable(): void {
    const copy = new FileDescriptorTable(this.pid, this.fdTable);
    this.fdTable.moveHolder(this.fdHolder, copy);
    this.fdTable = copy;
  }

  /**
   * Closes the fds of this task's table whose handles were all dropped without being closed.
   * Runs before every fd-creating syscall; call it directly to reclaim fds sooner.
   */
  collectGarbage(): void {
    for (const n of this.fdTable.takeDropped()) {
      // Nobody can observe this close's outcome: the fd has no handle left.
      raw.close(this.sysif, n as Fd).catch(() => {});
    }
  }

  /** For messages: `Task(pid 1234)`. */
  toString(): string {
    return `Task(pid ${this.pid})`;
  }
}
