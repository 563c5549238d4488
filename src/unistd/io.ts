// <unistd.h>, I/O: read, write, pread, pwrite, lseek.
//
// A transfer that may be partial consumes the buffer and returns it split in two:
//   const [valid, rest] = await fd.read(await thr.malloc(Buffer, 4096));
//   const [written, unwritten] = await fd.write(await thr.ptr(Buffer.from("hello")));
import { checkInt, checkInt64, checkPointer, withContext } from "../args.js";
import * as gen from "../gen/constants.js";
import { ERRNO } from "../gen/errno.js";
import { BaseFileDescriptor } from "../handle/fd.js";
import type { Pointer, ReadablePointer } from "../handle/pointer.js";
import { SyscallError } from "../near/errors.js";
import { type Flag, family } from "../near/flags.js";
import * as raw from "../near/syscalls.js";
import { isErrno } from "../near/sysif.js";

/** Where lseek counts from: `SEEK_SET` is `SEEK.SET`. */
export const SEEK = family("SEEK", gen.SEEK);
/** An lseek `whence`. */
export type SEEK = Flag<"SEEK">;

/**
 * The `<unistd.h>` syscalls made on an fd.
 * Composed onto every {@link rsyscall!FileDescriptor}: call them as `fd.lseek(...)`.
 */
export class IoFileDescriptor extends BaseFileDescriptor {
  /**
   * `ssize_t read(int fd, void *buf, size_t count)`: read at most `buf.size()` bytes. Returns the
   * filled part and the rest; at end of file the filled part is empty.
   * @see https://man7.org/linux/man-pages/man2/read.2.html
   */
  async read<T>(buf: Pointer<T>): Promise<[ReadablePointer<T>, Pointer<T>]> {
    checkPointer("buf", buf);
    const task = this.task;
    const n = await withContext(raw.read(task.sysif, this.borrow(task), buf.borrow(task), buf.size()), {
      fd: this.near,
    });
    return buf.readableSplit(n);
  }

  /**
   * `ssize_t write(int fd, const void *buf, size_t count)`: write `buf`. Returns the written part
   * and the unwritten rest.
   * @see https://man7.org/linux/man-pages/man2/write.2.html
   */
  async write<T>(buf: Pointer<T>): Promise<[Pointer<T>, Pointer<T>]> {
    checkPointer("buf", buf);
    const task = this.task;
    const n = await withContext(raw.write(task.sysif, this.borrow(task), buf.borrow(task), buf.size()), {
      fd: this.near,
    });
    return buf.split(n);
  }

  /**
   * `ssize_t read(int fd, void *buf, size_t count)`, for non-blocking loops: like `read`, but
   * resolves undefined where read would reject with EAGAIN (no exception per wait).
   * @see https://man7.org/linux/man-pages/man2/read.2.html
   */
  async tryRead<T>(buf: Pointer<T>): Promise<[ReadablePointer<T>, Pointer<T>] | undefined> {
    checkPointer("buf", buf);
    const task = this.task;
    const n = await raw.readRaw(task.sysif, this.borrow(task), buf.borrow(task), buf.size());
    if (n === -ERRNO.EAGAIN) return undefined;
    if (isErrno(n)) throw new SyscallError(-n, "read", { fd: this.near });
    return buf.readableSplit(n);
  }

  /**
   * `ssize_t write(int fd, const void *buf, size_t count)`, for non-blocking loops: like `write`,
   * but resolves undefined where write would reject with EAGAIN.
   * @see https://man7.org/linux/man-pages/man2/write.2.html
   */
  async tryWrite<T>(buf: Pointer<T>): Promise<[Pointer<T>, Pointer<T>] | undefined> {
    checkPointer("buf", buf);
    const task = this.task;
    const n = await raw.writeRaw(task.sysif, this.borrow(task), buf.borrow(task), buf.size());
    if (n === -ERRNO.EAGAIN) return undefined;
    if (isErrno(n)) throw new SyscallError(-n, "write", { fd: this.near });
    return buf.split(n);
  }

  /**
   * `ssize_t pread(int fd, void *buf, size_t count, off_t offset)`, as
   * `pread64(fd, buf, count, offset)`: read at `offset` without moving the file offset.
   * @see https://man7.org/linux/man-pages/man2/pread.2.html
   */
  async pread<T>(buf: Pointer<T>, offset: number | bigint): Promise<[ReadablePointer<T>, Pointer<T>]> {
    checkPointer("buf", buf);
    checkInt64("offset", offset);
    const task = this.task;
    const n = await withContext(raw.pread64(task.sysif, this.borrow(task), buf.borrow(task), buf.size(), offset), {
      fd: this.near,
    });
    return buf.readableSplit(n);
  }

  /**
   * `ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)`, as
   * `pwrite64(fd, buf, count, offset)`: write at `offset` without moving the file offset.
   * @see https://man7.org/linux/man-pages/man2/pwrite.2.html
   */
  async pwrite<T>(buf: Pointer<T>, offset: number | bigint): Promise<[Pointer<T>, Pointer<T>]> {
    checkPointer("buf", buf);
    checkInt64("offset", offset);
    const task = this.task;
    const n = await withContext(raw.pwrite64(task.sysif, this.borrow(task), buf.borrow(task), buf.size(), offset), {
      fd: this.near,
    });
    return buf.split(n);
  }

  /**
   * `off_t lseek(int fd, off_t offset, int whence)`: move the file offset; returns the new offset.
   * @see https://man7.org/linux/man-pages/man2/lseek.2.html
   */
  async lseek(offset: number | bigint, whence: SEEK): Promise<number> {
    checkInt64("offset", offset);
    checkInt("whence", whence);
    const task = this.task;
    return withContext(raw.lseek(task.sysif, this.borrow(task), offset, whence), { fd: this.near });
  }
}
