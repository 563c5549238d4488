/**
 * `<sys/uio.h>`: vectored IO: readv and writev (made as preadv2/pwritev2 at offset -1, the
 * current position, which also takes RWF flags).
 *
 * ```js
 * const iov = await thr.ptr(new IovecList([await thr.malloc(Buffer, 4), await thr.malloc(Buffer, 8)]));
 * const [filled, rest] = await fd.readv(iov);   // a partly filled buffer is split between the two
 * ```
 *
 * @module rsyscall/sys/uio
 */
import { checkInt, checkPointer, withContext } from "../args.js";
import * as gen from "../gen/constants.js";
import * as layouts from "../gen/layouts.js";
import { BaseFileDescriptor } from "../handle/fd.js";
import type { Pointer, ReadablePointer, WrittenPointer } from "../handle/pointer.js";
import type { BaseTask } from "../handle/task.js";
import { type Flag, family } from "../near/flags.js";
import * as raw from "../near/syscalls.js";
import { type HasPointers, type HasSerializer, type Serializer, StructWriter } from "../struct.js";

/** preadv2/pwritev2 flags: `RWF_NOWAIT` is `RWF.NOWAIT`. */
export const RWF = family("RWF", gen.RWF);
/** preadv2 and pwritev2 flags, one or several joined with `RWF.of`. */
export type RWF = Flag<"RWF">;

const L = layouts.iovec;
const IOV_MAX = gen.LIMITS.IOV_MAX;

/** An array of `struct iovec`: the buffers of one readv or writev, in order. */
export class IovecList<T> implements HasSerializer, HasPointers {
  /** The buffers, in the order the data fills or leaves them. */
  readonly buffers: readonly Pointer<T>[];
  constructor(buffers: readonly Pointer<T>[]) {
    if (buffers.length === 0 || buffers.length > IOV_MAX)
      throw new TypeError(`IovecList: 1 to ${IOV_MAX} buffers, got ${buffers.length}`);
    for (const b of buffers) checkPointer("an IovecList buffer", b);
    this.buffers = [...buffers];
  }

  pointers(): Iterable<Pointer<unknown>> {
    return this.buffers;
  }

  getSelfSerializer(task: BaseTask): Serializer<this> {
    return {
      toBytes: (list) =>
        Buffer.concat(
          list.buffers.map(
            (b) => new StructWriter(L).uint("iov_base", b.addressIn(task)).uint("iov_len", b.size()).bytes,
          ),
        ),
      fromBytes() {
        throw new TypeError("an IovecList is read back from its value, not from memory");
      },
    };
  }
}

/** Splits `buffers` after `n` bytes: the ones before, and the rest (a buffer on the boundary is split). */
export function splitAt<T, F>(
  buffers: readonly Pointer<T>[],
  n: number,
  whole: (p: Pointer<T>) => F,
  part: (p: Pointer<T>, k: number) => [F, Pointer<T>],
): [F[], Pointer<T>[]] {
  const done: F[] = [];
  const rest: Pointer<T>[] = [];
  let left = n;
  for (const buf of buffers) {
    if (left >= buf.size() && buf.size() > 0 && left > 0) {
      left -= buf.size();
      done.push(whole(buf));
    } else if (left > 0) {
      const [a, b] = part(buf, left);
      left = 0;
      done.push(a);
      rest.push(b);
    } else {
      rest.push(buf);
    }
  }
  return [done, rest];
}

async function transfer<T>(
  fd: BaseFileDescriptor,
  call: typeof raw.preadv2,
  iov: WrittenPointer<IovecList<T>>,
  flags: RWF,
): Promise<number> {
  checkPointer("iov", iov, true);
  checkInt("flags", flags);
  const task = fd.task;
  for (const b of iov.value.buffers) b.addressIn(task);
  const n = await withContext(
    call(task.sysif, fd.borrow(task), iov.borrow(task), iov.value.buffers.length, -1, flags),
    { fd: fd.near },
  );
  iov.free();
  return n;
}

/**
 * The `<sys/uio.h>` syscalls made on an fd.
 * Composed onto every {@link rsyscall!FileDescriptor}: call them as `fd.readv(...)`.
 */
export class UioFileDescriptor extends BaseFileDescriptor {
  /**
   * `ssize_t preadv2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags)`, as
   * `preadv2(fd, iov, iovcnt, -1, flags)`: read into several buffers in order. Consumes `iov` and
   * its buffers; returns the filled buffers and the untouched rest.
   * @see https://man7.org/linux/man-pages/man2/readv.2.html
   */
  async readv<T>(
    iov: WrittenPointer<IovecList<T>>,
    flags: RWF = 0 as RWF,
  ): Promise<[ReadablePointer<T>[], Pointer<T>[]]> {
    const buffers = iov.value?.buffers ?? [];
    const n = await transfer(this, raw.preadv2, iov, flags);
    return splitAt(
      buffers,
      n,
      (p) => p.filled(),
      (p, k) => p.readableSplit(k),
    );
  }

  /**
   * `ssize_t pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags)`, as
   * `pwritev2(fd, iov, iovcnt, -1, flags)`: write several buffers in order. Consumes `iov` and its
   * buffers; returns the written buffers and the unwritten rest.
   * @see https://man7.org/linux/man-pages/man2/writev.2.html
   */
  async writev<T>(iov: WrittenPointer<IovecList<T>>, flags: RWF = 0 as RWF): Promise<[Pointer<T>[], Pointer<T>[]]> {
    const buffers = iov.value?.buffers ?? [];
    const n = await transfer(this, raw.pwritev2, iov, flags);
    return splitAt(
      buffers,
      n,
      (p) => p,
      (p, k) => p.split(k),
    );
  }
}
