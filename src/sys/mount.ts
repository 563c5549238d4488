/**
 * `<sys/mount.h>`: mount and umount2.
 *
 * ```js
 * await child.mount("/proc", "/mnt/proc", "", MS.BIND, "");   // Thread.mount allocates the strings
 * ```
 *
 * @module rsyscall/sys/mount
 */
import { checkInt, checkPath, pathOf, withContext } from "../args.js";
import type { PathPointer } from "../fcntl.js";
import * as gen from "../gen/constants.js";
import { BaseTask } from "../handle/task.js";
import { type Flag, family } from "../near/flags.js";
import * as raw from "../near/syscalls.js";

/** mount flags: `MS_BIND` is `MS.BIND`. */
export const MS = family("MS", gen.MS);
/** mount flags, one or several joined with `MS.of`. */
export type MS = Flag<"MS">;
/** umount2 flags: `MNT_DETACH` is `MNT.DETACH`, `UMOUNT_NOFOLLOW` is `MNT.UMOUNT_NOFOLLOW`. */
export const MNT = family("MNT", gen.MNT);
/** umount2 flags, one or several joined with `MNT.of`. */
export type MNT = Flag<"MNT">;

/**
 * The `<sys/mount.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.mount(...)`.
 */
export class MountTask extends BaseTask {
  /**
   * `int mount(const char *source, const char *target, const char *filesystemtype,
   * unsigned long mountflags, const void *data)`.
   * @see https://man7.org/linux/man-pages/man2/mount.2.html
   */
  async mount(
    source: PathPointer,
    target: PathPointer,
    fstype: PathPointer,
    flags: MS,
    data: PathPointer,
  ): Promise<void> {
    for (const [name, p] of [
      ["source", source],
      ["target", target],
      ["fstype", fstype],
      ["data", data],
    ] as const)
      checkPath(name, p);
    checkInt("flags", flags);
    const call = raw.mount(
      this.sysif,
      source.borrow(this),
      target.borrow(this),
      fstype.borrow(this),
      flags,
      data.borrow(this),
    );
    await withContext(call, { path: pathOf(source), dest: pathOf(target) });
  }

  /**
   * `int umount2(const char *target, int flags)`.
   * @see https://man7.org/linux/man-pages/man2/umount2.2.html
   */
  async umount(target: PathPointer, flags: MNT = 0 as MNT): Promise<void> {
    checkPath("target", target);
    checkInt("flags", flags);
    await withContext(raw.umount2(this.sysif, target.borrow(this), flags), { path: pathOf(target) });
  }
}
