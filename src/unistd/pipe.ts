// <unistd.h>, pipes: pipe2.
//
//   const { read, write } = await thr.pipe();
//   // or, with memory of your own:
//   const pipe = await (await thr.task.pipe(await thr.malloc(Pipe))).read();
import { checkInt, checkPointer } from "../args.js";
import { O } from "../fcntl.js";
import type { BaseFileDescriptor } from "../handle/fd.js";
import { type LinearPointer, linearize, type Pointer, type Serializer } from "../handle/pointer.js";
import { BaseTask } from "../handle/task.js";
import * as raw from "../near/syscalls.js";
import { fdPairSerializer } from "../struct.js";

/** The two ends `pipe2` makes. Reading a `Pipe` from memory makes the fd handles. */
export class Pipe<F extends BaseFileDescriptor = BaseFileDescriptor> {
  /** Its size in bytes, always the same: `malloc(Pipe)` needs no size. */
  static readonly sizeof = 8;
  constructor(
    /** The read end (`pipefd[0]`). */
    readonly read: F,
    /** The write end (`pipefd[1]`). */
    readonly write: F,
  ) {}

  /** The serializer `malloc(Pipe)` uses: how its bytes become a Pipe and back. */
  static getSerializer<T extends BaseTask>(task: T): Serializer<Pipe<T["_fd"]>> {
    return fdPairSerializer(
      task,
      (read, write) => new Pipe(read, write),
      (pipe) => [pipe.read, pipe.write],
    );
  }
}

/**
 * The `<unistd.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.pipe(...)`.
 */
export class PipeTask extends BaseTask {
  /**
   * `int pipe2(int pipefd[2], int flags)`: make a pipe; its two fd numbers land in `buf`, which must
   * then be read once to get the handles. Close-on-exec is always added.
   * @see https://man7.org/linux/man-pages/man2/pipe2.2.html
   */
  async pipe(buf: Pointer<Pipe<this["_fd"]>>, flags: O = 0 as O): Promise<LinearPointer<Pipe<this["_fd"]>>> {
    checkPointer("buf", buf);
    checkInt("flags", flags);
    if (buf.size() < Pipe.sizeof) throw new TypeError(`pipe: buf has ${buf.size()} bytes, needs ${Pipe.sizeof}`);
    this.collectGarbage();
    await raw.pipe2(this.sysif, buf.borrow(this), flags | O.CLOEXEC);
    return linearize(buf);
  }
}
