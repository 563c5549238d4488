/**
 * `<sys/stat.h>`: file status and modes: fstat, statx, mkdirat, fchmod.
 *
 * ```js
 * const st = await (await fd.fstat(await thr.malloc(Stat))).read();
 * st.size; st.isDirectory();
 * ```
 *
 * @module rsyscall/sys/stat
 */
import { checkInt, checkPath, checkPointer, pathOf, withContext } from "../args.js";
import { type AT, AT_FDCWD, type PathPointer } from "../fcntl.js";
import * as gen from "../gen/constants.js";
import * as layouts from "../gen/layouts.js";
import { BaseFileDescriptor } from "../handle/fd.js";
import type { Pointer, ReadablePointer } from "../handle/pointer.js";
import { BaseTask } from "../handle/task.js";
import { type Flag, family } from "../near/flags.js";
import type { Fd } from "../near/ids.js";
import * as raw from "../near/syscalls.js";
import { type Serializer, StructReader } from "../struct.js";
import { Timespec } from "../time.js";

/** File type bits of `st_mode`: `S_IFDIR` is `S_IF.DIR`, `S_IFMT` is `S_IF.MT`. */
export const S_IF = family("S_IF", gen.S_IF);
/** File type bits of `st_mode`. */
export type S_IF = Flag<"S_IF">;

/** `struct stat`, as the kernel fills it. */
export class Stat {
  /** Its size in bytes, always the same: `malloc(Stat)` needs no size. */
  static readonly sizeof = layouts.stat.size;
  constructor(
    /** `st_dev`: the device the file is on. */
    readonly dev: bigint,
    /** `st_ino`: its inode number on that device (with `dev`, the file's identity). */
    readonly ino: bigint,
    /** `st_mode`: the file type bits and the permissions. */
    readonly mode: number,
    /** `st_nlink`: how many hard links name it. */
    readonly nlink: number,
    /** `st_uid`: the owner. */
    readonly uid: number,
    /** `st_gid`: the group. */
    readonly gid: number,
    /** `st_rdev`: the device a device file stands for. */
    readonly rdev: bigint,
    /** `st_size`: the size in bytes (a symlink's: the length of its target). */
    readonly size: number,
    /** `st_blksize`: the block size for efficient IO. */
    readonly blksize: number,
    /** `st_blocks`: 512-byte blocks allocated. */
    readonly blocks: number,
    /** `st_atim`: the last access. */
    readonly atime: Timespec,
    /** `st_mtim`: the last change of the contents. */
    readonly mtime: Timespec,
    /** `st_ctim`: the last change of the inode (contents, owner, mode, links). */
    readonly ctime: Timespec,
  ) {}

  /** The file type bits (`mode & S_IF.MT`). */
  get type(): S_IF {
    return (this.mode & S_IF.MT) as S_IF;
  }
  /** The permission bits, including set-id and sticky bits. */
  get permissions(): number {
    return this.mode & 0o7777;
  }
  /** Whether it is a regular file. */
  isFile(): boolean {
    return this.type === S_IF.REG;
  }
  /** Whether it is a directory. */
  isDirectory(): boolean {
    return this.type === S_IF.DIR;
  }
  /** Whether it is a symbolic link (fstat of an O_PATH | O_NOFOLLOW fd, say). */
  isSymbolicLink(): boolean {
    return this.type === S_IF.LNK;
  }
  /** Whether it is a FIFO (a named pipe, or a pipe's end). */
  isFIFO(): boolean {
    return this.type === S_IF.IFO;
  }
  /** Whether it is a socket. */
  isSocket(): boolean {
    return this.type === S_IF.SOCK;
  }
  /** Whether it is a character device. */
  isCharacterDevice(): boolean {
    return this.type === S_IF.CHR;
  }
  /** Whether it is a block device. */
  isBlockDevice(): boolean {
    return this.type === S_IF.BLK;
  }

  /** The serializer `malloc(Stat)` uses: how its bytes become a Stat and back. */
  static getSerializer(): Serializer<Stat> {
    return statSerializer;
  }
}

const statSerializer: Serializer<Stat> = {
  toBytes() {
    throw new TypeError("Stat is written by the kernel, not by us");
  },
  fromBytes(bytes) {
    const r = new StructReader(bytes, layouts.stat);
    return new Stat(
      r.big("st_dev"),
      r.big("st_ino"),
      r.uint("st_mode"),
      r.uint("st_nlink"),
      r.uint("st_uid"),
      r.uint("st_gid"),
      r.big("st_rdev"),
      r.int("st_size"),
      r.int("st_blksize"),
      r.int("st_blocks"),
      new Timespec(r.int("st_atime"), r.int("st_atime_nsec")),
      new Timespec(r.int("st_mtime"), r.int("st_mtime_nsec")),
      new Timespec(r.int("st_ctime"), r.int("st_ctime_nsec")),
    );
  },
};

/** What to ask statx for (`STATX_MNT_ID` is `STATX.MNT_ID`). */
export const STATX = family("STATX", gen.STATX);
export type STATX = Flag<"STATX">;
/** statx's file attributes (`STATX_ATTR_MOUNT_ROOT` is `STATX_ATTR.MOUNT_ROOT`). */
export const STATX_ATTR = family("STATX_ATTR", gen.STATX_ATTR);
export type STATX_ATTR = Flag<"STATX_ATTR">;

const X = layouts.statx;
const XT = layouts.statx_timestamp;

/**
 * `struct statx`: what statx filled in, as `mask` says (a field not in it is 0). Beyond fstat: the
 * birth time, the mount id (`STATX.MNT_ID`), and attributes such as `STATX_ATTR.MOUNT_ROOT`.
 */
export class Statx {
  /** Its size in bytes, always the same: `malloc(Statx)` needs no size. */
  static readonly sizeof = X.size;
  constructor(
    /** `stx_mask`: which fields the kernel filled in (STATX bits). */
    readonly mask: number,
    /** `stx_mode`: the file type bits and the permissions. */
    readonly mode: number,
    /** `stx_nlink`: how many hard links name it. */
    readonly nlink: number,
    /** `stx_uid`: the owner. */
    readonly uid: number,
    /** `stx_gid`: the group. */
    readonly gid: number,
    /** `stx_ino`: the inode number. */
    readonly ino: bigint,
    /** `stx_size`: the size in bytes. */
    readonly size: bigint,
    /** `stx_blocks`: 512-byte blocks allocated. */
    readonly blocks: bigint,
    /** `stx_attributes`: STATX_ATTR bits that are set. */
    readonly attributes: bigint,
    /** `stx_attributes_mask`: the STATX_ATTR bits this file system reports at all. */
    readonly attributesMask: bigint,
    /** `stx_atime`: the last access. */
    readonly atime: Timespec,
    /** `stx_btime`: the file's creation (with `STATX.BTIME`, where the file system keeps it). */
    readonly btime: Timespec,
    /** `stx_ctime`: the last change of the inode. */
    readonly ctime: Timespec,
    /** `stx_mtime`: the last change of the contents. */
    readonly mtime: Timespec,
    /** The device this file is on, as major and minor. */
    readonly dev: readonly [number, number],
    /** For a device file, the device it is. */
    readonly rdev: readonly [number, number],
    /** `stx_mnt_id`: the mount the file is on, as /proc/self/mountinfo numbers it (`STATX.MNT_ID`). */
    readonly mountId: bigint,
  ) {}

  /** The file type bits (`mode & S_IF.MT`). */
  get type(): S_IF {
    return (this.mode & S_IF.MT) as S_IF;
  }
  /** Whether it is a directory. */
  isDirectory(): boolean {
    return this.type === S_IF.DIR;
  }
  /** Whether it is a symbolic link (statx with `AT.SYMLINK_NOFOLLOW` reports the link itself). */
  isSymbolicLink(): boolean {
    return this.type === S_IF.LNK;
  }
  /** Whether the file is the root of a mount (where the kernel says whether it knows). */
  isMountRoot(): boolean {
    return (this.attributes & BigInt(STATX_ATTR.MOUNT_ROOT)) !== 0n;
  }

  /** The serializer `malloc(Statx)` uses: how its bytes become a Statx and back. */
  static getSerializer(): Serializer<Statx> {
    return {
      toBytes: () => Buffer.alloc(X.size),
      fromBytes(bytes) {
        const r = new StructReader(bytes, X);
        const time = (field: "stx_atime" | "stx_btime" | "stx_ctime" | "stx_mtime") => {
          const t = new StructReader(r.raw(field), XT);
          return new Timespec(Number(t.big("tv_sec", true)), t.uint("tv_nsec"));
        };
        return new Statx(
          r.uint("stx_mask"),
          r.uint("stx_mode"),
          r.uint("stx_nlink"),
          r.uint("stx_uid"),
          r.uint("stx_gid"),
          r.big("stx_ino"),
          r.big("stx_size"),
          r.big("stx_blocks"),
          r.big("stx_attributes"),
          r.big("stx_attributes_mask"),
          time("stx_atime"),
          time("stx_btime"),
          time("stx_ctime"),
          time("stx_mtime"),
          [r.uint("stx_dev_major"), r.uint("stx_dev_minor")],
          [r.uint("stx_rdev_major"), r.uint("stx_rdev_minor")],
          r.big("stx_mnt_id"),
        );
      },
    };
  }
}

async function statx(
  task: BaseTask,
  dirfd: Fd,
  path: PathPointer,
  flags: AT,
  mask: STATX,
  buf: Pointer<Statx>,
): Promise<ReadablePointer<Statx>> {
  checkPath("path", path);
  checkInt("flags", flags);
  checkInt("mask", mask);
  checkPointer("buf", buf);
  if (buf.size() < Statx.sizeof) throw new TypeError(`statx: buf has ${buf.size()} bytes, needs ${Statx.sizeof}`);
  await withContext(raw.statx(task.sysif, dirfd, path.borrow(task), flags, mask, buf.borrow(task)), {
    path: pathOf(path),
  });
  return buf.filled();
}

/**
 * The `<sys/stat.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.mkdir(...)`.
 */
export class StatTask extends BaseTask {
  /**
   * `int statx(int dirfd, const char *pathname, int flags, unsigned int mask,
   * struct statx *statxbuf)`, as `statx(AT_FDCWD, pathname, flags, mask, statxbuf)`: a file's
   * status by path, as much of it as `mask` asks (`STATX.BASIC_STATS`, `STATX.MNT_ID`...);
   * `AT.SYMLINK_NOFOLLOW` reports a symlink itself.
   * @see https://man7.org/linux/man-pages/man2/statx.2.html
   */
  statx(path: PathPointer, flags: AT, mask: STATX, buf: Pointer<Statx>): Promise<ReadablePointer<Statx>> {
    return statx(this, AT_FDCWD, path, flags, mask, buf);
  }

  /**
   * `int mkdirat(int dirfd, const char *pathname, mode_t mode)`, as
   * `mkdirat(AT_FDCWD, pathname, mode)`: make a directory.
   * @see https://man7.org/linux/man-pages/man2/mkdirat.2.html
   */
  async mkdir(path: PathPointer, mode = 0o755): Promise<void> {
    checkPath("path", path);
    checkInt("mode", mode);
    await withContext(raw.mkdirat(this.sysif, AT_FDCWD, path.borrow(this), mode), { path: pathOf(path) });
  }
}

/**
 * The `<sys/stat.h>` syscalls made on an fd.
 * Composed onto every {@link rsyscall!FileDescriptor}: call them as `fd.fstat(...)`.
 */
export class StatFileDescriptor extends BaseFileDescriptor {
  /**
   * `int statx(int dirfd, const char *pathname, int flags, unsigned int mask, struct statx *statxbuf)`
   * with this fd as dirfd: a file in this directory, or this file itself with the path "" and
   * `AT.EMPTY_PATH`.
   * @see https://man7.org/linux/man-pages/man2/statx.2.html
   */
  statx(path: PathPointer, flags: AT, mask: STATX, buf: Pointer<Statx>): Promise<ReadablePointer<Statx>> {
    return statx(this.task, this.borrow(this.task), path, flags, mask, buf);
  }

  /**
   * `int fstat(int fd, struct stat *statbuf)`: this file's status, into `buf`.
   * @see https://man7.org/linux/man-pages/man2/fstat.2.html
   */
  async fstat(buf: Pointer<Stat>): Promise<ReadablePointer<Stat>> {
    checkPointer("buf", buf);
    if (buf.size() < Stat.sizeof) throw new TypeError(`fstat: buf has ${buf.size()} bytes, needs ${Stat.sizeof}`);
    await withContext(raw.fstat(this.task.sysif, this.borrow(this.task), buf.borrow(this.task)), { fd: this.near });
    return buf.filled();
  }

  /**
   * `int mkdirat(int dirfd, const char *pathname, mode_t mode)`: make a directory in this directory.
   * @see https://man7.org/linux/man-pages/man2/mkdirat.2.html
   */
  async mkdirat(path: PathPointer, mode = 0o755): Promise<void> {
    checkPath("path", path);
    checkInt("mode", mode);
    const task = this.task;
    await withContext(raw.mkdirat(task.sysif, this.borrow(task), path.borrow(task), mode), { path: pathOf(path) });
  }

  /**
   * `int fchmod(int fd, mode_t mode)`: change this file's permission bits.
   * @see https://man7.org/linux/man-pages/man2/fchmod.2.html
   */
  async fchmod(mode: number): Promise<void> {
    checkInt("mode", mode);
    await withContext(raw.fchmod(this.task.sysif, this.borrow(this.task), mode), { fd: this.near });
  }
}
