// <unistd.h>, descriptor duplication: dup2, dup3.
//
//   await pipe.read.dup2(thr.stdin);   // fd 0 now names the pipe's read end
import { checkFd, checkInt, withContext } from "../args.js";
import type { O } from "../fcntl.js";
import { BaseFileDescriptor } from "../handle/fd.js";
import * as raw from "../near/syscalls.js";

/**
 * The `<unistd.h>` syscalls made on an fd.
 * Composed onto every {@link rsyscall!FileDescriptor}: call them as `fd.dup2(...)`.
 */
export class DupFileDescriptor extends BaseFileDescriptor {
  /**
   * `int dup2(int oldfd, int newfd)`: make `newfd` name this fd's open file; `newfd` (which must be
   * the only handle to its number) is returned and now names it. The copy is inheritable. When both
   * are the same number this does nothing, as dup2 does (close-on-exec is not cleared).
   * @see https://man7.org/linux/man-pages/man2/dup2.2.html
   */
  async dup2<F extends BaseFileDescriptor>(newfd: F): Promise<F> {
    checkFd("newfd", newfd);
    const task = this.task;
    const old = this.borrow(task);
    if (newfd.borrow(task) === old) return newfd;
    return this.dup3(newfd, 0 as O);
  }

  /**
   * `int dup3(int oldfd, int newfd, int flags)`: like dup2, with `O.CLOEXEC` allowed in flags; the
   * same number for both is EINVAL.
   * @see https://man7.org/linux/man-pages/man2/dup3.2.html
   */
  async dup3<F extends BaseFileDescriptor>(newfd: F, flags: O): Promise<F> {
    checkFd("newfd", newfd);
    checkInt("flags", flags);
    const task = this.task;
    const target = newfd.borrow(task);
    if (!newfd.isOnlyHandle())
      throw new Error(`${newfd}: other handles name this fd; dup onto it would change them too`);
    await withContext(raw.dup3(task.sysif, this.borrow(task), target, flags), { fd: this.near });
    task.fdTable.replaced(target);
    return newfd;
  }
}
