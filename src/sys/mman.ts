/**
 * `<sys/mman.h>`: memory mappings and memory files: mmap, munmap, madvise, memfd_create.
 *
 * ```js
 * const mapping = await thr.task.mmap(4096, PROT.of(PROT.READ, PROT.WRITE), MAP.of(MAP.PRIVATE, MAP.ANONYMOUS));
 * await mapping.munmap();
 * const mfd = await thr.task.memfdCreate(await thr.ptr("name"));
 * ```
 *
 * @module rsyscall/sys/mman
 */
import { checkInt, checkInt64, checkPath, pathOf, withContext } from "../args.js";
import type { PathPointer } from "../fcntl.js";
import * as gen from "../gen/constants.js";
import { BaseFileDescriptor } from "../handle/fd.js";
import { MemoryMapping } from "../handle/mapping.js";
import { BaseTask } from "../handle/task.js";
import { MFD } from "../linux/memfd.js";
import { type Flag, family } from "../near/flags.js";
import * as raw from "../near/syscalls.js";

export { MFD };
/** Memory protection: `PROT_READ` is `PROT.READ`. */
export const PROT = family("PROT", gen.PROT);
/** Protection bits, one or several joined with `PROT.of`. */
export type PROT = Flag<"PROT">;
/** mmap flags: `MAP_PRIVATE` is `MAP.PRIVATE`. */
export const MAP = family("MAP", gen.MAP);
/** mmap flags, one or several joined with `MAP.of`. */
export type MAP = Flag<"MAP">;
/** madvise advice: `MADV_DONTNEED` is `MADV.DONTNEED`. */
export const MADV = family("MADV", gen.MADV);
/** An madvise advice. */
export type MADV = Flag<"MADV">;

const PAGE_SIZE = 4096;

function checkLength(length: number): number {
  if (!Number.isSafeInteger(length) || length <= 0 || length % PAGE_SIZE !== 0) {
    throw new TypeError(`mmap: length must be a positive multiple of the page size (${PAGE_SIZE}), got ${length}`);
  }
  return length;
}

/**
 * The `<sys/mman.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.mmap(...)`.
 */
export class MmanTask extends BaseTask {
  /**
   * `void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)`, as
   * `mmap(NULL, length, prot, flags | MAP_ANONYMOUS, -1, 0)`: map anonymous memory.
   * @see https://man7.org/linux/man-pages/man2/mmap.2.html
   */
  async mmap(length: number, prot: PROT, flags: MAP): Promise<MemoryMapping> {
    checkLength(length);
    checkInt("prot", prot);
    checkInt("flags", flags);
    const address = await raw.mmap(this.sysif, 0, length, prot, flags | MAP.ANONYMOUS, -1, 0);
    return new MemoryMapping(this, address, length);
  }

  /**
   * `int memfd_create(const char *name, unsigned int flags)`: make an anonymous file. Close-on-exec
   * is always added.
   * @see https://man7.org/linux/man-pages/man2/memfd_create.2.html
   */
  async memfdCreate(name: PathPointer, flags: MFD = 0 as MFD): Promise<this["_fd"]> {
    checkPath("name", name);
    checkInt("flags", flags);
    this.collectGarbage();
    const n = await withContext(raw.memfd_create(this.sysif, name.borrow(this), flags | MFD.CLOEXEC), {
      path: pathOf(name),
    });
    return this.makeFd(n);
  }
}

/**
 * The `<sys/mman.h>` syscalls made on an fd.
 * Composed onto every {@link rsyscall!FileDescriptor}: call them as `fd.mmap(...)`.
 */
export class MmanFileDescriptor extends BaseFileDescriptor {
  /**
   * `void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)`, as
   * `mmap(NULL, length, prot, flags, fd, offset)`: map this file.
   * @see https://man7.org/linux/man-pages/man2/mmap.2.html
   */
  async mmap(length: number, prot: PROT, flags: MAP, offset: number | bigint = 0): Promise<MemoryMapping> {
    checkLength(length);
    checkInt("prot", prot);
    checkInt("flags", flags);
    checkInt64("offset", offset);
    const task = this.task;
    const address = await withContext(raw.mmap(task.sysif, 0, length, prot, flags, this.borrow(task), offset), {
      fd: this.near,
    });
    return new MemoryMapping(task, address, length);
  }
}
