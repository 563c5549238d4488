// <unistd.h>, the working and root directories: chdir, fchdir, chroot, pivot_root (which has no
// wrapper in glibc; its SYNOPSIS names <unistd.h> and <sys/syscall.h>).
import { checkPath, pathOf, withContext } from "../args.js";
import type { PathPointer } from "../fcntl.js";
import { BaseFileDescriptor } from "../handle/fd.js";
import { BaseTask } from "../handle/task.js";
import * as raw from "../near/syscalls.js";

/**
 * The `<unistd.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.chdir(...)`.
 */
export class CwdTask extends BaseTask {
  /**
   * `int chdir(const char *path)`: change the working directory.
   * @see https://man7.org/linux/man-pages/man2/chdir.2.html
   */
  async chdir(path: PathPointer): Promise<void> {
    checkPath("path", path);
    await withContext(raw.chdir(this.sysif, path.borrow(this)), { path: pathOf(path) });
  }

  /**
   * `int chroot(const char *path)`: change the root directory.
   * @see https://man7.org/linux/man-pages/man2/chroot.2.html
   */
  async chroot(path: PathPointer): Promise<void> {
    checkPath("path", path);
    await withContext(raw.chroot(this.sysif, path.borrow(this)), { path: pathOf(path) });
  }

  /**
   * `int pivot_root(const char *new_root, const char *put_old)`: make the mount at `newRoot` the
   * root mount of this process's mount namespace, moving the old root to `putOld` (a directory at
   * or under `newRoot`). `newRoot` must be a mount point, and not on a shared mount; EINVAL
   * otherwise. Then chdir("/"), and unmount `putOld` (MNT.DETACH) to drop the old root.
   * @see https://man7.org/linux/man-pages/man2/pivot_root.2.html
   */
  async pivotRoot(newRoot: PathPointer, putOld: PathPointer): Promise<void> {
    checkPath("newRoot", newRoot);
    checkPath("putOld", putOld);
    await withContext(raw.pivot_root(this.sysif, newRoot.borrow(this), putOld.borrow(this)), {
      path: pathOf(newRoot),
      dest: pathOf(putOld),
    });
  }
}

/**
 * The `<unistd.h>` syscalls made on an fd.
 * Composed onto every {@link rsyscall!FileDescriptor}: call them as `fd.fchdir(...)`.
 */
export class CwdFileDescriptor extends BaseFileDescriptor {
  /**
   * `int fchdir(int fd)`: make this directory the working directory.
   * @see https://man7.org/linux/man-pages/man2/fchdir.2.html
   */
  async fchdir(): Promise<void> {
    await withContext(raw.fchdir(this.task.sysif, this.borrow(this.task)), { fd: this.near });
  }
}
