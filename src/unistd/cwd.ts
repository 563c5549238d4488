// <unistd.h>, the working and root directories: chdir, fchdir, chroot.
import { checkPath, pathOf, withContext } from "../args.js";
import type { PathPointer } from "../fcntl.js";
import { BaseFileDescriptor } from "../handle/fd.js";
import { BaseTask } from "../handle/task.js";
import * as raw from "../near/syscalls.js";

export class CwdTask extends BaseTask {
  /** `chdir(path)`: change the working directory.
   *  @see https://man7.org/linux/man-pages/man2/chdir.2.html */
  async chdir(path: PathPointer): Promise<void> {
    checkPath("path", path);
    await withContext(raw.chdir(this.sysif, path.borrow(this)), { path: pathOf(path) });
  }

  /** `chroot(path)`: change the root directory.
   *  @see https://man7.org/linux/man-pages/man2/chroot.2.html */
  async chroot(path: PathPointer): Promise<void> {
    checkPath("path", path);
    await withContext(raw.chroot(this.sysif, path.borrow(this)), { path: pathOf(path) });
  }
}

export class CwdFileDescriptor extends BaseFileDescriptor {
  /** `fchdir(fd)`: make this directory the working directory.
   *  @see https://man7.org/linux/man-pages/man2/fchdir.2.html */
  async fchdir(): Promise<void> {
    await withContext(raw.fchdir(this.task.sysif, this.borrow(this.task)), { fd: this.near });
  }
}
