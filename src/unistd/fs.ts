// <unistd.h>, the file system: unlinkat, linkat, symlinkat, readlinkat, faccessat2, ftruncate,
// and their AT_FDCWD forms on Task (unlink, rmdir, link, symlink, readlink, access).
//
//   await thr.task.symlink(await thr.ptr("/etc/hostname"), await thr.ptr("/tmp/link"));
//   const [target] = await thr.task.readlink(await thr.ptr("/tmp/link"), await thr.malloc(Buffer, 4096));
import { checkFd, checkInt, checkInt64, checkPath, checkPointer, pathOf, withContext } from "../args.js";
import { AT, AT_FDCWD, type PathPointer } from "../fcntl.js";
import * as gen from "../gen/constants.js";
import { BaseFileDescriptor } from "../handle/fd.js";
import type { Pointer, ReadablePointer } from "../handle/pointer.js";
import { BaseTask } from "../handle/task.js";
import { type Flag, family } from "../near/flags.js";
import type { Fd } from "../near/ids.js";
import * as raw from "../near/syscalls.js";

/** access modes: `R_OK` is `OK.R`. */
export const OK = family("OK", gen.OK);
/** access modes, one or several joined with `OK.of`. */
export type OK = Flag<"OK">;

const NO_FLAGS = 0 as AT;

function unlinkat(task: BaseTask, dirfd: Fd, path: PathPointer, flags: AT) {
  checkPath("path", path);
  checkInt("flags", flags);
  return withContext(raw.unlinkat(task.sysif, dirfd, path.borrow(task), flags), { path: pathOf(path) });
}

function linkat(task: BaseTask, olddirfd: Fd, oldpath: PathPointer, newdirfd: Fd, newpath: PathPointer, flags: AT) {
  checkPath("oldpath", oldpath);
  checkPath("newpath", newpath);
  checkInt("flags", flags);
  const call = raw.linkat(task.sysif, olddirfd, oldpath.borrow(task), newdirfd, newpath.borrow(task), flags);
  return withContext(call, { path: pathOf(oldpath), dest: pathOf(newpath) });
}

function symlinkat(task: BaseTask, target: PathPointer, newdirfd: Fd, linkpath: PathPointer) {
  checkPath("target", target);
  checkPath("linkpath", linkpath);
  const call = raw.symlinkat(task.sysif, target.borrow(task), newdirfd, linkpath.borrow(task));
  return withContext(call, { path: pathOf(target), dest: pathOf(linkpath) });
}

async function readlinkat<T>(task: BaseTask, dirfd: Fd, path: PathPointer, buf: Pointer<T>) {
  checkPath("path", path);
  checkPointer("buf", buf);
  const call = raw.readlinkat(task.sysif, dirfd, path.borrow(task), buf.borrow(task), buf.size());
  return buf.readableSplit(await withContext(call, { path: pathOf(path) }));
}

async function faccessat(task: BaseTask, dirfd: Fd, path: PathPointer, mode: OK, flags: AT) {
  checkPath("path", path);
  checkInt("mode", mode);
  checkInt("flags", flags);
  await withContext(raw.faccessat2(task.sysif, dirfd, path.borrow(task), mode, flags), { path: pathOf(path) });
}

/**
 * The `<unistd.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.unlink(...)`.
 */
export class FsTask extends BaseTask {
  /**
   * `int unlinkat(int dirfd, const char *pathname, int flags)`, as
   * `unlinkat(AT_FDCWD, pathname, 0)`: remove a name.
   * @see https://man7.org/linux/man-pages/man2/unlinkat.2.html
   */
  async unlink(path: PathPointer): Promise<void> {
    await unlinkat(this, AT_FDCWD, path, NO_FLAGS);
  }

  /**
   * `int unlinkat(int dirfd, const char *pathname, int flags)`, as
   * `unlinkat(AT_FDCWD, pathname, AT_REMOVEDIR)`: remove an empty directory.
   * @see https://man7.org/linux/man-pages/man2/unlinkat.2.html
   */
  async rmdir(path: PathPointer): Promise<void> {
    await unlinkat(this, AT_FDCWD, path, AT.REMOVEDIR);
  }

  /**
   * `int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)`,
   * as `linkat(AT_FDCWD, oldpath, AT_FDCWD, newpath, flags)`: make a hard link.
   * @see https://man7.org/linux/man-pages/man2/linkat.2.html
   */
  async link(oldpath: PathPointer, newpath: PathPointer, flags: AT = NO_FLAGS): Promise<void> {
    await linkat(this, AT_FDCWD, oldpath, AT_FDCWD, newpath, flags);
  }

  /**
   * `int symlinkat(const char *target, int newdirfd, const char *linkpath)`, as
   * `symlinkat(target, AT_FDCWD, linkpath)`: make a symbolic link at linkpath pointing to target.
   * @see https://man7.org/linux/man-pages/man2/symlinkat.2.html
   */
  async symlink(target: PathPointer, linkpath: PathPointer): Promise<void> {
    await symlinkat(this, target, AT_FDCWD, linkpath);
  }

  /**
   * `ssize_t readlinkat(int dirfd, const char *pathname, char *buf, size_t bufsiz)`, as
   * `readlinkat(AT_FDCWD, pathname, buf, bufsiz)`: read a symlink's target (not NUL-terminated) into
   * buf; returns the filled part and the rest.
   * @see https://man7.org/linux/man-pages/man2/readlinkat.2.html
   */
  readlink<T>(path: PathPointer, buf: Pointer<T>): Promise<[ReadablePointer<T>, Pointer<T>]> {
    return readlinkat(this, AT_FDCWD, path, buf);
  }

  /**
   * `int faccessat2(int dirfd, const char *pathname, int mode, int flags)`, as
   * `faccessat2(AT_FDCWD, pathname, mode, flags)`: check permissions; throws if denied.
   * @see https://man7.org/linux/man-pages/man2/faccessat2.2.html
   */
  async access(path: PathPointer, mode: OK, flags: AT = NO_FLAGS): Promise<void> {
    await faccessat(this, AT_FDCWD, path, mode, flags);
  }
}

/**
 * The `<unistd.h>` syscalls made on an fd.
 * Composed onto every {@link rsyscall!FileDescriptor}: call them as `fd.unlinkat(...)`.
 */
export class FsFileDescriptor extends BaseFileDescriptor {
  /**
   * `int unlinkat(int dirfd, const char *pathname, int flags)`: remove a name in this directory
   * (`AT.REMOVEDIR` for a directory).
   * @see https://man7.org/linux/man-pages/man2/unlinkat.2.html
   */
  async unlinkat(path: PathPointer, flags: AT = NO_FLAGS): Promise<void> {
    await unlinkat(this.task, this.borrow(this.task), path, flags);
  }

  /**
   * `int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)`,
   * with this fd as olddirfd.
   * @see https://man7.org/linux/man-pages/man2/linkat.2.html
   */
  async linkat(
    oldpath: PathPointer,
    newdirfd: BaseFileDescriptor,
    newpath: PathPointer,
    flags: AT = NO_FLAGS,
  ): Promise<void> {
    checkFd("newdirfd", newdirfd);
    await linkat(this.task, this.borrow(this.task), oldpath, newdirfd.borrow(this.task), newpath, flags);
  }

  /**
   * `int symlinkat(const char *target, int newdirfd, const char *linkpath)`, with this fd as
   * newdirfd.
   * @see https://man7.org/linux/man-pages/man2/symlinkat.2.html
   */
  async symlinkat(target: PathPointer, linkpath: PathPointer): Promise<void> {
    await symlinkat(this.task, target, this.borrow(this.task), linkpath);
  }

  /**
   * `ssize_t readlinkat(int dirfd, const char *pathname, char *buf, size_t bufsiz)`, with this fd as
   * dirfd.
   * @see https://man7.org/linux/man-pages/man2/readlinkat.2.html
   */
  readlinkat<T>(path: PathPointer, buf: Pointer<T>): Promise<[ReadablePointer<T>, Pointer<T>]> {
    return readlinkat(this.task, this.borrow(this.task), path, buf);
  }

  /**
   * `int faccessat2(int dirfd, const char *pathname, int mode, int flags)`, with this fd as dirfd.
   * @see https://man7.org/linux/man-pages/man2/faccessat2.2.html
   */
  async faccessat(path: PathPointer, mode: OK, flags: AT = NO_FLAGS): Promise<void> {
    await faccessat(this.task, this.borrow(this.task), path, mode, flags);
  }

  /**
   * `int ftruncate(int fd, off_t length)`: set the file's size.
   * @see https://man7.org/linux/man-pages/man2/ftruncate.2.html
   */
  async ftruncate(length: number | bigint): Promise<void> {
    checkInt64("length", length);
    await withContext(raw.ftruncate(this.task.sysif, this.borrow(this.task), length), { fd: this.near });
  }
}
