// <sys/stat.h>: file status and modes: fstat, mkdirat, fchmod.
//
//   const st = await (await fd.fstat(await thr.malloc(Stat))).read();
//   st.size; st.isDirectory();
import { checkInt, checkPath, checkPointer, pathOf, withContext } from "../args.js";
import { AT_FDCWD, type PathPointer } from "../fcntl.js";
import * as gen from "../gen/constants.js";
import * as layouts from "../gen/layouts.js";
import { BaseFileDescriptor } from "../handle/fd.js";
import type { Pointer, ReadablePointer } from "../handle/pointer.js";
import { BaseTask } from "../handle/task.js";
import { type Flag, family } from "../near/flags.js";
import * as raw from "../near/syscalls.js";
import { type Serializer, StructReader } from "../struct.js";
import { Timespec } from "../time.js";

/** File type bits of `st_mode`: `S_IFDIR` is `S_IF.DIR`, `S_IFMT` is `S_IF.MT`. */
export const S_IF = family("S_IF", gen.S_IF);
export type S_IF = Flag<"S_IF">;

/** `struct stat`, as the kernel fills it. */
export class Stat {
  static readonly sizeof = layouts.stat.size;
  constructor(
    readonly dev: bigint,
    readonly ino: bigint,
    readonly mode: number,
    readonly nlink: number,
    readonly uid: number,
    readonly gid: number,
    readonly rdev: bigint,
    readonly size: number,
    readonly blksize: number,
    readonly blocks: number,
    readonly atime: Timespec,
    readonly mtime: Timespec,
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
  isFile(): boolean {
    return this.type === S_IF.REG;
  }
  isDirectory(): boolean {
    return this.type === S_IF.DIR;
  }
  isSymbolicLink(): boolean {
    return this.type === S_IF.LNK;
  }
  isFIFO(): boolean {
    return this.type === S_IF.IFO;
  }
  isSocket(): boolean {
    return this.type === S_IF.SOCK;
  }
  isCharacterDevice(): boolean {
    return this.type === S_IF.CHR;
  }
  isBlockDevice(): boolean {
    return this.type === S_IF.BLK;
  }

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

export class StatTask extends BaseTask {
  /** `mkdirat(AT_FDCWD, pathname, mode)`: make a directory.
   *  @see https://man7.org/linux/man-pages/man2/mkdirat.2.html */
  async mkdir(path: PathPointer, mode = 0o755): Promise<void> {
    checkPath("path", path);
    checkInt("mode", mode);
    await withContext(raw.mkdirat(this.sysif, AT_FDCWD, path.borrow(this), mode), { path: pathOf(path) });
  }
}

export class StatFileDescriptor extends BaseFileDescriptor {
  /** `fstat(fd, statbuf)`: this file's status, into `buf`.
   *  @see https://man7.org/linux/man-pages/man2/fstat.2.html */
  async fstat(buf: Pointer<Stat>): Promise<ReadablePointer<Stat>> {
    checkPointer("buf", buf);
    if (buf.size() < Stat.sizeof) throw new TypeError(`fstat: buf has ${buf.size()} bytes, needs ${Stat.sizeof}`);
    await withContext(raw.fstat(this.task.sysif, this.borrow(this.task), buf.borrow(this.task)), { fd: this.near });
    return buf.filled();
  }

  /** `mkdirat(dirfd, pathname, mode)`: make a directory in this directory.
   *  @see https://man7.org/linux/man-pages/man2/mkdirat.2.html */
  async mkdirat(path: PathPointer, mode = 0o755): Promise<void> {
    checkPath("path", path);
    checkInt("mode", mode);
    const task = this.task;
    await withContext(raw.mkdirat(task.sysif, this.borrow(task), path.borrow(task), mode), { path: pathOf(path) });
  }

  /** `fchmod(fd, mode)`: change this file's permission bits.
   *  @see https://man7.org/linux/man-pages/man2/fchmod.2.html */
  async fchmod(mode: number): Promise<void> {
    checkInt("mode", mode);
    await withContext(raw.fchmod(this.task.sysif, this.borrow(this.task), mode), { fd: this.near });
  }
}
