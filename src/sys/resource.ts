/**
 * `<sys/resource.h>`: resource limits and priorities: prlimit64, getpriority, setpriority.
 *
 * ```js
 * const old = await thr.task.prlimit(RLIMIT.NOFILE, await thr.ptr(new Rlimit(1024, 4096)), await thr.malloc(Rlimit));
 * ```
 *
 * @module rsyscall/sys/resource
 */
import { checkInt, checkPointer } from "../args.js";
import * as gen from "../gen/constants.js";
import * as layouts from "../gen/layouts.js";
import type { Pointer, ReadablePointer, WrittenPointer } from "../handle/pointer.js";
import { BaseTask } from "../handle/task.js";
import { type Flag, family } from "../near/flags.js";
import { asPid } from "../near/ids.js";
import * as raw from "../near/syscalls.js";
import { type Serializer, StructReader, StructWriter } from "../struct.js";

/** Resources prlimit limits: `RLIMIT_NOFILE` is `RLIMIT.NOFILE`. */
export const RLIMIT = family("RLIMIT", gen.RLIMIT);
/** A resource, for prlimit. */
export type RLIMIT = Flag<"RLIMIT">;
/** What getpriority and setpriority's `who` names: `PRIO_PROCESS` is `PRIO.PROCESS`. */
export const PRIO = family("PRIO", gen.PRIO);
/** A `which` for getpriority and setpriority. */
export type PRIO = Flag<"PRIO">;

/** RLIM_INFINITY: no limit. */
export const RLIM_INFINITY = 2n ** 64n - 1n;

/** `struct rlimit64`: the soft and hard limits (bigints; RLIM_INFINITY for none). */
export class Rlimit {
  /** Its size in bytes, always the same: `malloc(Rlimit)` needs no size. */
  static readonly sizeof = layouts.rlimit64.size;
  /** `rlim_cur`: the soft limit, the one enforced. */
  readonly cur: bigint;
  /** `rlim_max`: the hard limit, the ceiling for the soft one. */
  readonly max: bigint;
  constructor(cur: bigint | number, max: bigint | number) {
    this.cur = BigInt(cur);
    this.max = BigInt(max);
  }

  /** The serializer `malloc(Rlimit)` uses: how its bytes become a Rlimit and back. */
  static getSerializer(): Serializer<Rlimit> {
    return {
      toBytes: (r) => new StructWriter(layouts.rlimit64).uint("rlim_cur", r.cur).uint("rlim_max", r.max).bytes,
      fromBytes(bytes) {
        const r = new StructReader(bytes, layouts.rlimit64);
        return new Rlimit(r.big("rlim_cur"), r.big("rlim_max"));
      },
    };
  }
}

/**
 * The `<sys/resource.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.prlimit(...)`.
 */
export class ResourceTask extends BaseTask {
  /**
   * `int prlimit(pid_t pid, int resource, const struct rlimit *new_limit, struct rlimit *old_limit)`,
   * as `prlimit64(pid, resource, new_limit, old_limit)`: set (with `newLimit`) and/or read (into
   * `oldLimit`) a limit of `pid` (0: this process). Returns `oldLimit`, filled, when given.
   * @see https://man7.org/linux/man-pages/man2/prlimit.2.html
   */
  async prlimit(
    resource: RLIMIT,
    newLimit: WrittenPointer<Rlimit> | undefined,
    oldLimit?: Pointer<Rlimit>,
    pid = 0,
  ): Promise<ReadablePointer<Rlimit> | undefined> {
    checkInt("resource", resource);
    checkInt("pid", pid);
    if (newLimit !== undefined) checkPointer("newLimit", newLimit, true);
    if (oldLimit !== undefined) checkPointer("oldLimit", oldLimit);
    await raw.prlimit64(
      this.sysif,
      asPid(pid),
      resource,
      newLimit ? newLimit.borrow(this) : 0,
      oldLimit ? oldLimit.borrow(this) : 0,
    );
    return oldLimit?.filled();
  }

  /**
   * `int getpriority(int which, id_t who)`: the nice value (-20..19) of a process, group or user
   * (who 0: ours).
   * @see https://man7.org/linux/man-pages/man2/getpriority.2.html
   */
  async getpriority(which: PRIO, who = 0): Promise<number> {
    checkInt("which", which);
    checkInt("who", who);
    // The raw syscall returns 20 - nice, so that it is never negative.
    return 20 - (await raw.getpriority(this.sysif, which, who));
  }

  /**
   * `int setpriority(int which, id_t who, int prio)`: set the nice value.
   * @see https://man7.org/linux/man-pages/man2/setpriority.2.html
   */
  async setpriority(which: PRIO, who: number, prio: number): Promise<void> {
    checkInt("which", which);
    checkInt("who", who);
    checkInt("prio", prio);
    await raw.setpriority(this.sysif, which, who, prio);
  }
}
