/**
 * `<stdio.h>`: renaming (renameat2; rename(2)'s SYNOPSIS ends with `<stdio.h>`).
 *
 * ```js
 * await thr.task.rename(await thr.ptr("/tmp/a"), await thr.ptr("/tmp/b"), RENAME.NOREPLACE);
 * ```
 *
 * @module rsyscall/stdio
 */
import { checkFd, checkInt, checkPath, pathOf, withContext } from "./args.js";
import { AT_FDCWD, type PathPointer } from "./fcntl.js";
import * as gen from "./gen/constants.js";
import { BaseFileDescriptor } from "./handle/fd.js";
import { BaseTask } from "./handle/task.js";
import { type Flag, family } from "./near/flags.js";
import type { Fd } from "./near/ids.js";
import * as raw from "./near/syscalls.js";

/** renameat2 flags: `RENAME_NOREPLACE` is `RENAME.NOREPLACE`. */
export const RENAME = family("RENAME", gen.RENAME);
/** renameat2 flags, one or several joined with `RENAME.of`. */
export type RENAME = Flag<"RENAME">;

async function renameat2(
  task: BaseTask,
  olddirfd: Fd,
  oldpath: PathPointer,
  newdirfd: Fd,
  newpath: PathPointer,
  flags: RENAME,
) {
  checkPath("oldpath", oldpath);
  checkPath("newpath", newpath);
  checkInt("flags", flags);
  const call = raw.renameat2(task.sysif, olddirfd, oldpath.borrow(task), newdirfd, newpath.borrow(task), flags);
  await withContext(call, { path: pathOf(oldpath), dest: pathOf(newpath) });
}

/**
 * The `<stdio.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.rename(...)`.
 */
export class StdioTask extends BaseTask {
  /**
   * `int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
   * unsigned int flags)`,
   * as `renameat2(AT_FDCWD, oldpath, AT_FDCWD, newpath, flags)`: rename a file.
   * @see https://man7.org/linux/man-pages/man2/renameat2.2.html
   */
  async rename(oldpath: PathPointer, newpath: PathPointer, flags: RENAME = 0 as RENAME): Promise<void> {
    await renameat2(this, AT_FDCWD, oldpath, AT_FDCWD, newpath, flags);
  }
}

/**
 * The `<stdio.h>` syscalls made on an fd.
 * Composed onto every {@link rsyscall!FileDescriptor}: call them as `fd.renameat(...)`.
 */
export class StdioFileDescriptor extends BaseFileDescriptor {
  /**
   * `int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
   * unsigned int flags)`,
   * with this fd as olddirfd.
   * @see https://man7.org/linux/man-pages/man2/renameat2.2.html
   */
  async renameat(
    oldpath: PathPointer,
    newdirfd: BaseFileDescriptor,
    newpath: PathPointer,
    flags: RENAME = 0 as RENAME,
  ): Promise<void> {
    checkFd("newdirfd", newdirfd);
    await renameat2(this.task, this.borrow(this.task), oldpath, newdirfd.borrow(this.task), newpath, flags);
  }
}
