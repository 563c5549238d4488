/**
 * `<dirent.h>`: directory entries (getdents64).
 *
 * ```js
 * const dir = await thr.task.open(await thr.ptr("/etc"), O.RDONLY | O.DIRECTORY);
 * const [valid] = await dir.getdents(await thr.malloc(DirentList, 4096));
 * for (const entry of await valid.read()) entry.name;
 * ```
 *
 * @module rsyscall/dirent
 */
import { checkPointer, withContext } from "./args.js";
import * as gen from "./gen/constants.js";
import * as layouts from "./gen/layouts.js";
import { BaseFileDescriptor } from "./handle/fd.js";
import type { Pointer, ReadablePointer } from "./handle/pointer.js";
import { type Flag, family } from "./near/flags.js";
import * as raw from "./near/syscalls.js";
import { type Serializer, StructReader } from "./struct.js";

/** Directory entry types (`d_type`): `DT_DIR` is `DT.DIR`. */
export const DT = family("DT", gen.DT);
/** A directory entry's type. */
export type DT = Flag<"DT">;

/** One `struct linux_dirent64`. */
export class Dirent {
  constructor(
    /** `d_ino`: the entry's inode number. */
    readonly inode: bigint,
    /** The opaque position after this entry, for lseek. */
    readonly offset: bigint,
    /** `d_type`: the file's type, or DT.UNKNOWN where the file system does not say. */
    readonly type: DT,
    /** `d_name`: the entry's name (`.` and `..` included). */
    readonly name: string,
  ) {}
}

const nameOffset = layouts.linux_dirent64.fields.d_name[0];

/** The records one getdents64 call returns. Allocate with `malloc(DirentList, size)`. */
export class DirentList extends Array<Dirent> {
  /** So that map, filter and slice give plain arrays, not DirentLists. */
  static override get [Symbol.species]() {
    return Array;
  }

  /** The serializer `malloc(DirentList)` uses: how its bytes become a DirentList and back. */
  static getSerializer(): Serializer<DirentList> {
    return direntListSerializer;
  }
}

const direntListSerializer: Serializer<DirentList> = {
  toBytes() {
    throw new TypeError("directory entries are written by the kernel, not by us");
  },
  fromBytes(bytes) {
    const list = new DirentList();
    let off = 0;
    while (off + nameOffset <= bytes.length) {
      const r = new StructReader(bytes.subarray(off), { size: nameOffset, fields: layouts.linux_dirent64.fields });
      const reclen = r.uint("d_reclen");
      if (reclen < nameOffset || off + reclen > bytes.length)
        throw new RangeError(`bad dirent record length ${reclen} at ${off}`);
      const nameBytes = bytes.subarray(off + nameOffset, off + reclen);
      const end = nameBytes.indexOf(0);
      list.push(
        new Dirent(
          r.big("d_ino"),
          r.big("d_off", true),
          r.uint("d_type") as DT,
          nameBytes.toString("utf8", 0, end < 0 ? undefined : end),
        ),
      );
      off += reclen;
    }
    return list;
  },
};

/**
 * The `<dirent.h>` syscalls made on an fd.
 * Composed onto every {@link rsyscall!FileDescriptor}: call them as `fd.getdents(...)`.
 */
export class DirentFileDescriptor extends BaseFileDescriptor {
  /**
   * `ssize_t getdents64(int fd, void *dirp, size_t count)`: read directory entries into `buf`.
   * Returns the filled part and the rest; the filled part is empty at the end of the directory.
   * @see https://man7.org/linux/man-pages/man2/getdents64.2.html
   */
  async getdents(buf: Pointer<DirentList>): Promise<[ReadablePointer<DirentList>, Pointer<DirentList>]> {
    checkPointer("buf", buf);
    const task = this.task;
    const n = await withContext(raw.getdents64(task.sysif, this.borrow(task), buf.borrow(task), buf.size()), {
      fd: this.near,
    });
    return buf.readableSplit(n);
  }
}
