/**
 * `<sys/file.h>`: advisory whole-file locks: flock.
 *
 * ```js
 * await fd.flock(LOCK.of(LOCK.EX, LOCK.NB));   // EWOULDBLOCK if another open file holds one
 * ```
 *
 * @module rsyscall/sys/file
 */
import { checkInt, withContext } from "../args.js";
import * as gen from "../gen/constants.js";
import { BaseFileDescriptor } from "../handle/fd.js";
import { type Flag, family } from "../near/flags.js";
import * as raw from "../near/syscalls.js";

/** flock operations: `LOCK_EX` is `LOCK.EX`. */
export const LOCK = family("LOCK", gen.LOCK);
export type LOCK = Flag<"LOCK">;

/**
 * The `<sys/file.h>` syscalls made on an fd.
 * Composed onto every {@link rsyscall!FileDescriptor}: call them as `fd.flock(...)`.
 */
export class FileLockFileDescriptor extends BaseFileDescriptor {
  /**
   * `int flock(int fd, int operation)`: take (`LOCK.SH`, `LOCK.EX`) or drop (`LOCK.UN`) a lock on
   * this open file. Without `LOCK.NB` it waits for a conflicting lock to go, which in the Node
   * process blocks the event loop: there, add `LOCK.NB` (EWOULDBLOCK says to try later), or wait in a child.
   * @see https://man7.org/linux/man-pages/man2/flock.2.html
   */
  async flock(operation: LOCK): Promise<void> {
    checkInt("operation", operation);
    const task = this.task;
    await withContext(raw.flock(task.sysif, this.borrow(task), operation), { fd: this.near });
  }
}
