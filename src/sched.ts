/**
 * `<sched.h>`: namespaces and CPU affinity: unshare, setns, sched_setaffinity, sched_getaffinity;
 * the clone flags (clone itself is Thread.clone, src/tasks/clone.ts).
 *
 * ```js
 * await child.task.unshare(CLONE.of(CLONE.NEWNS, CLONE.NEWUTS));
 * await child.task.schedSetaffinity(0, await child.ptr(new CpuSet([0])));
 * ```
 *
 * @module rsyscall/sched
 */
import { checkInt, checkPointer, withContext } from "./args.js";
import { MountNamespace, PidNamespace } from "./far.js";
import * as gen from "./gen/constants.js";
import * as layouts from "./gen/layouts.js";
import { BaseFileDescriptor } from "./handle/fd.js";
import type { Pointer, ReadablePointer, WrittenPointer } from "./handle/pointer.js";
import { BaseTask } from "./handle/task.js";
import { type Flag, family } from "./near/flags.js";
import { asPid } from "./near/ids.js";
import { LocalSyscall } from "./near/local.js";
import * as raw from "./near/syscalls.js";
import type { Serializer } from "./struct.js";

/** clone and unshare flags: `CLONE_NEWUSER` is `CLONE.NEWUSER`. */
export const CLONE = family("CLONE", gen.CLONE);
/** clone flags, one or several joined with `CLONE.of`. */
export type CLONE = Flag<"CLONE">;

const CPU_SET_SIZE = layouts.cpu_set_t.size;

/** `cpu_set_t`: a set of CPU numbers (0 to 1023). */
export class CpuSet extends Set<number> {
  /** Its size in bytes, always the same: `malloc(CpuSet)` needs no size. */
  static readonly sizeof = CPU_SET_SIZE;
  constructor(cpus: Iterable<number> = []) {
    super();
    for (const cpu of cpus) {
      if (!Number.isInteger(cpu) || cpu < 0 || cpu >= CPU_SET_SIZE * 8) throw new TypeError(`not a CPU number: ${cpu}`);
      this.add(cpu);
    }
  }

  /** The serializer `malloc(CpuSet)` uses: how its bytes become a CpuSet and back. */
  static getSerializer(): Serializer<CpuSet> {
    return {
      toBytes(set) {
        const b = Buffer.alloc(CPU_SET_SIZE);
        for (const cpu of set) b[cpu >> 3] = (b[cpu >> 3] ?? 0) | (1 << (cpu & 7));
        return b;
      },
      fromBytes(bytes) {
        const set = new CpuSet();
        for (let cpu = 0; cpu < Math.min(bytes.length, CPU_SET_SIZE) * 8; cpu++)
          if ((bytes[cpu >> 3] ?? 0) & (1 << (cpu & 7))) set.add(cpu);
        return set;
      },
    };
  }
}

/**
 * The `<sched.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.unshare(...)`.
 */
export class SchedTask extends BaseTask {
  /**
   * `int unshare(int flags)`: move this process into new namespaces (`CLONE.NEWNS`, `NEWUTS`,
   * `NEWNET`, ...), or stop sharing what it shared. The task's namespace identities follow: with
   * `CLONE.FILES` it gets a copy of its fd table, a new identity, and its handles move there. The
   * Node process may not unshare `CLONE.FILES`: only its main thread would move, away from the fd
   * table libuv's threads keep using.
   * @see https://man7.org/linux/man-pages/man2/unshare.2.html
   */
  async unshare(flags: CLONE): Promise<void> {
    checkInt("flags", flags);
    if (flags & CLONE.FILES && this.sysif instanceof LocalSyscall) {
      throw new TypeError(
        "unshare: CLONE.FILES would give Node's main thread an fd table of its own, apart from libuv's threads",
      );
    }
    await raw.unshare(this.sysif, flags);
    if (flags & CLONE.NEWNS) this.mountns = new MountNamespace(this.pid);
    if (flags & CLONE.NEWPID) this.pidnsForChildren = new PidNamespace(this.pid);
    if (flags & CLONE.FILES) this.tookCopyOfFdTable();
  }

  /**
   * `int sched_setaffinity(pid_t pid, size_t cpusetsize, const cpu_set_t *mask)`, as
   * `sched_setaffinity(pid, sizeof(cpu_set_t), mask)`: the CPUs `pid` (0: this process) may run on.
   * @see https://man7.org/linux/man-pages/man2/sched_setaffinity.2.html
   */
  async schedSetaffinity(pid: number, mask: WrittenPointer<CpuSet>): Promise<void> {
    checkInt("pid", pid);
    checkPointer("mask", mask, true);
    await raw.sched_setaffinity(this.sysif, asPid(pid), mask.size(), mask.borrow(this));
  }

  /**
   * `int sched_getaffinity(pid_t pid, size_t cpusetsize, cpu_set_t *mask)`, as
   * `sched_getaffinity(pid, sizeof(cpu_set_t), mask)`: the CPUs `pid` (0: this process) may run on.
   * @see https://man7.org/linux/man-pages/man2/sched_getaffinity.2.html
   */
  async schedGetaffinity(pid: number, mask: Pointer<CpuSet>): Promise<ReadablePointer<CpuSet>> {
    checkInt("pid", pid);
    checkPointer("mask", mask);
    const n = await raw.sched_getaffinity(this.sysif, asPid(pid), mask.size(), mask.borrow(this));
    return mask.readableSplit(n)[0];
  }
}

/**
 * The `<sched.h>` syscalls made on an fd.
 * Composed onto every {@link rsyscall!FileDescriptor}: call them as `fd.setns(...)`.
 */
export class SchedFileDescriptor extends BaseFileDescriptor {
  /**
   * `int setns(int fd, int nstype)`: move the task into the namespace this fd (from
   * /proc/<pid>/ns/*) names; `nstype` 0 accepts any kind.
   * @see https://man7.org/linux/man-pages/man2/setns.2.html
   */
  async setns(nstype: CLONE = 0 as CLONE): Promise<void> {
    checkInt("nstype", nstype);
    const task = this.task;
    await withContext(raw.setns(task.sysif, this.borrow(task), nstype), { fd: this.near });
    if (nstype & CLONE.NEWNS) task.mountns = new MountNamespace(task.pid);
  }
}
