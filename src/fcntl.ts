/**
 * `<fcntl.h>`: open flags, `*at()` flags, fcntl commands; openat and fcntl.
 *
 * ```js
 * import { O } from "rsyscall/fcntl";
 * const fd = await thr.task.open(await thr.ptr("/etc/hostname"), O.RDONLY);
 * const flags = await fd.fcntl(F.GETFL);
 * ```
 *
 * @module rsyscall/fcntl
 */
import { checkInt, checkPath, pathOf, withContext } from "./args.js";
import * as gen from "./gen/constants.js";
import * as layouts from "./gen/layouts.js";
import { BaseFileDescriptor } from "./handle/fd.js";
import type { ReadablePointer, WrittenPointer } from "./handle/pointer.js";
import { BaseTask } from "./handle/task.js";
import { type Flag, family } from "./near/flags.js";
import { asFd } from "./near/ids.js";
import * as raw from "./near/syscalls.js";
import { type Serializer, StructReader, StructWriter } from "./struct.js";

/** open flags: `O_RDONLY` is `O.RDONLY` (open and openat always add O_CLOEXEC). */
export const O = family("O", gen.O);
/** open flags, one or several joined with `O.of`. */
export type O = Flag<"O">;
/** `*at()` flags: `AT_SYMLINK_NOFOLLOW` is `AT.SYMLINK_NOFOLLOW` (`AT.FDCWD` is a dirfd: see AT_FDCWD). */
export const AT = family("AT", gen.AT);
/** `*at()` flags, one or several joined with `AT.of`. */
export type AT = Flag<"AT">;
/** fcntl commands: `F_GETFL` is `F.GETFL`. */
export const F = family("F", gen.F);
/** An fcntl command. */
export type F = Flag<"F">;
/** File descriptor flags (`FD_CLOEXEC`), for `F.GETFD`/`F.SETFD`. */
export const FD = family("FD", gen.FD);
/** File descriptor flags. */
export type FD = Flag<"FD">;
/** Seals on a memfd, for `F.ADD_SEALS`: `F_SEAL_WRITE` is `F_SEAL.WRITE`. */
export const F_SEAL = family("F_SEAL", gen.F_SEAL);
/** Seals, one or several joined with `F_SEAL.of`. */
export type F_SEAL = Flag<"F_SEAL">;
/** A record lock's type (`struct flock`'s l_type): `F_WRLCK` is `F_LOCK.WRLCK`. */
export const F_LOCK = family("F_LOCK", gen.F_LOCK);
export type F_LOCK = Flag<"F_LOCK">;

/**
 * `struct flock`: a record lock on bytes `start` to `start + len - 1` of a file (`len` 0: to its
 * end, however far it grows), from `whence` (`SEEK.SET`, the default, is the file's start). F_GETLK
 * fills in the lock in the way, with `pid` the process holding it (-1 for an open file
 * description lock), or sets `type` to `F_LOCK.UNLCK` if none is.
 */
export class Flock {
  /** Its size in bytes, always the same: `malloc(Flock)` needs no size. */
  static readonly sizeof = layouts.flock.size;
  constructor(
    /** `l_type`: a read lock, a write lock, or none (`F_LOCK.UNLCK`). */
    readonly type: F_LOCK,
    /** `l_start`: the first byte, counted from `whence`. */
    readonly start: number | bigint = 0,
    /** `l_len`: how many bytes; 0 for all to the end of the file. */
    readonly len: number | bigint = 0,
    /** `l_whence`: what `start` counts from (a SEEK value). */
    readonly whence = 0,
    /** `l_pid`: from F_GETLK, the process holding the lock in the way (-1 for an OFD lock). */
    readonly pid = 0,
  ) {}

  /** The serializer `malloc(Flock)` uses: how its bytes become a Flock and back. */
  static getSerializer(): Serializer<Flock> {
    return {
      toBytes: (f) =>
        new StructWriter(layouts.flock)
          .int("l_type", f.type)
          .int("l_whence", f.whence)
          .int("l_start", f.start)
          .int("l_len", f.len)
          .int("l_pid", f.pid).bytes,
      fromBytes: (b) => {
        const r = new StructReader(b, layouts.flock);
        return new Flock(
          r.int("l_type") as F_LOCK,
          r.big("l_start", true),
          r.big("l_len", true),
          r.int("l_whence"),
          r.int("l_pid"),
        );
      },
    };
  }
}

/** The `dirfd` that means "the current directory". */
export const AT_FDCWD = asFd(gen.AT.FDCWD);

/**
 * A path argument: a pointer to a string we wrote (NUL-terminated), or to a Buffer that ends in
 * its only NUL byte (for names that are not UTF-8).
 */
export type PathPointer = WrittenPointer<string> | WrittenPointer<Buffer>;

/**
 * The `<fcntl.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.open(...)`.
 */
export class FcntlTask extends BaseTask {
  /**
   * `int openat(int dirfd, const char *pathname, int flags, mode_t mode)`, as
   * `openat(AT_FDCWD, pathname, flags, mode)`: open a file relative to the current directory.
   * Close-on-exec is always added.
   * @see https://man7.org/linux/man-pages/man2/openat.2.html
   */
  async open(path: PathPointer, flags: O, mode = 0o644): Promise<this["_fd"]> {
    checkPath("path", path);
    checkInt("flags", flags);
    checkInt("mode", mode);
    this.collectGarbage();
    const n = await withContext(raw.openat(this.sysif, AT_FDCWD, path.borrow(this), flags | O.CLOEXEC, mode), {
      path: pathOf(path),
    });
    return this.makeFd(n);
  }
}

/**
 * The `<fcntl.h>` syscalls made on an fd.
 * Composed onto every {@link rsyscall!FileDescriptor}: call them as `fd.openat(...)`.
 */
export class FcntlFileDescriptor extends BaseFileDescriptor {
  /**
   * `int openat(int dirfd, const char *pathname, int flags, mode_t mode)`: open a file relative to
   * this directory. Close-on-exec is always added.
   * @see https://man7.org/linux/man-pages/man2/openat.2.html
   */
  async openat(path: PathPointer, flags: O, mode = 0o644): Promise<this["task"]["_fd"]> {
    checkPath("path", path);
    checkInt("flags", flags);
    checkInt("mode", mode);
    const task = this.task;
    task.collectGarbage();
    const n = await withContext(raw.openat(task.sysif, this.borrow(task), path.borrow(task), flags | O.CLOEXEC, mode), {
      path: pathOf(path),
    });
    return task.makeFd(n);
  }

  /**
   * `int fcntl(int fd, int cmd, ...)`, as `fcntl(fd, cmd, arg)`: the integer-argument commands
   * (F.GETFD, F.SETFD, F.GETFL, F.SETFL, F.DUPFD_CLOEXEC, F.ADD_SEALS, ...). Returns the result.
   * @see https://man7.org/linux/man-pages/man2/fcntl.2.html
   */
  async fcntl(cmd: F, arg: number = 0): Promise<number> {
    checkInt("cmd", cmd);
    checkInt("arg", arg);
    const task = this.task;
    return withContext(raw.fcntl(task.sysif, this.borrow(task), cmd, arg), { fd: this.near });
  }

  /**
   * `int fcntl(int fd, int cmd, ...)`, as `fcntl(fd, cmd, lock)`: record locks. `F.SETLK` and `F.OFD_SETLK`
   * take or drop `lock` (EAGAIN when another holds a conflicting one), `F.SETLKW`/`F.OFD_SETLKW`
   * wait for it (in the Node process that blocks the event loop: wait in a child), `F.GETLK`/
   * `F.OFD_GETLK` fill `lock` with the one in the way. POSIX locks (`SETLK`) belong to the process
   * and go at any close of the file by it; open file description locks (`OFD_*`) belong to the open file.
   * @see https://man7.org/linux/man-pages/man2/fcntl.2.html
   */
  async fcntlLock(cmd: F, lock: WrittenPointer<Flock>): Promise<ReadablePointer<Flock>> {
    checkInt("cmd", cmd);
    if (![F.GETLK, F.SETLK, F.SETLKW, F.OFD_GETLK, F.OFD_SETLK, F.OFD_SETLKW].includes(cmd))
      throw new TypeError(`fcntlLock: ${F.describe(cmd)} is not a record-lock command`);
    const task = this.task;
    await withContext(raw.fcntl(task.sysif, this.borrow(task), cmd, lock.borrow(task)), { fd: this.near });
    return lock.filled();
  }

  /**
   * `int fcntl(int fd, int cmd, ...)`, as `fcntl(fd, F_SETFD, 0)`: let this fd survive exec.
   * Refuses while other handles name it.
   * @see https://man7.org/linux/man-pages/man2/fcntl.2.html
   */
  async disableCloexec(): Promise<void> {
    if (!this.isOnlyHandle()) throw new Error(`${this}: other handles name this fd; cannot make it inheritable`);
    await this.fcntl(F.SETFD, 0);
  }

  /**
   * `int fcntl(int fd, int cmd, ...)`, as `fcntl(fd, F_SETFD, FD_CLOEXEC)`: close this fd at exec.
   * @see https://man7.org/linux/man-pages/man2/fcntl.2.html
   */
  async enableCloexec(): Promise<void> {
    await this.fcntl(F.SETFD, FD.CLOEXEC);
  }

  /** `disableCloexec`, then the fd number: for passing an fd to a program as an argument. */
  async asArgument(): Promise<number> {
    await this.disableCloexec();
    return this.near;
  }
}
