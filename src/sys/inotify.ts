/**
 * `<sys/inotify.h>`: file system events: inotify_init1, inotify_add_watch, inotify_rm_watch.
 * The higher-level watcher is src/inotify-watch.ts (Inotify, Watch).
 *
 * ```js
 * const ifd = await thr.task.inotifyInit(IN.NONBLOCK);
 * const wd = await ifd.inotifyAddWatch(await thr.ptr("/tmp"), IN.CREATE);
 * ```
 *
 * @module rsyscall/sys/inotify
 */
import { checkInt, checkPath, pathOf, withContext } from "../args.js";
import type { PathPointer } from "../fcntl.js";
import * as gen from "../gen/constants.js";
import * as layouts from "../gen/layouts.js";
import { BaseFileDescriptor } from "../handle/fd.js";
import { BaseTask } from "../handle/task.js";
import { type Flag, family } from "../near/flags.js";
import type { WatchDescriptor } from "../near/ids.js";
import * as raw from "../near/syscalls.js";
import { type Serializer, StructReader } from "../struct.js";

/** Events and flags: `IN_CREATE` is `IN.CREATE`; `IN.NONBLOCK`/`IN.CLOEXEC` for inotifyInit. */
export const IN = family("IN", gen.IN);
/** inotify events and flags, one or several joined with `IN.of`. */
export type IN = Flag<"IN">;
export type { WatchDescriptor };

const L = layouts.inotify_event;
const NAME_OFFSET = L.fields.name[0];

/** One `struct inotify_event`; `name` is empty for events on the watched object itself. */
export class InotifyEvent {
  constructor(
    /** The watch the event came through (-1 for IN.Q_OVERFLOW). */
    readonly wd: WatchDescriptor,
    /** What happened, with IN.ISDIR when it happened to a directory. */
    readonly mask: IN,
    /** Pairs the IN.MOVED_FROM and IN.MOVED_TO of one rename; 0 otherwise. */
    readonly cookie: number,
    /** The entry in the watched directory it happened to. */
    readonly name: string,
  ) {}
}

/** The events one read returns. Allocate with `malloc(InotifyEventList, size)` (4096 is plenty). */
export class InotifyEventList extends Array<InotifyEvent> {
  /** So that map, filter and slice give plain arrays, not InotifyEventLists. */
  static override get [Symbol.species]() {
    return Array;
  }

  /** The serializer `malloc(InotifyEventList)` uses: how its bytes become an InotifyEventList and back. */
  static getSerializer(): Serializer<InotifyEventList> {
    return {
      toBytes() {
        throw new TypeError("inotify events are written by the kernel");
      },
      fromBytes(bytes) {
        const list = new InotifyEventList();
        for (let off = 0; off + NAME_OFFSET <= bytes.length; ) {
          const r = new StructReader(bytes.subarray(off), { size: NAME_OFFSET, fields: L.fields });
          const len = r.uint("len");
          const name = bytes.subarray(off + NAME_OFFSET, off + NAME_OFFSET + len);
          const end = name.indexOf(0);
          list.push(
            new InotifyEvent(
              r.int("wd") as WatchDescriptor,
              r.uint("mask") as IN,
              r.uint("cookie"),
              name.toString("utf8", 0, end < 0 ? len : end),
            ),
          );
          off += NAME_OFFSET + len;
        }
        return list;
      },
    };
  }
}

/**
 * The `<sys/inotify.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.inotifyInit(...)`.
 */
export class InotifyTask extends BaseTask {
  /**
   * `int inotify_init1(int flags)`: make an inotify instance. Close-on-exec is always added.
   * @see https://man7.org/linux/man-pages/man2/inotify_init1.2.html
   */
  async inotifyInit(flags: IN = 0 as IN): Promise<this["_fd"]> {
    checkInt("flags", flags);
    this.collectGarbage();
    return this.makeFd(await raw.inotify_init1(this.sysif, flags | IN.CLOEXEC));
  }
}

/**
 * The `<sys/inotify.h>` syscalls made on an fd.
 * Composed onto every {@link rsyscall!FileDescriptor}: call them as `fd.inotifyAddWatch(...)`.
 */
export class InotifyFileDescriptor extends BaseFileDescriptor {
  /**
   * `int inotify_add_watch(int fd, const char *pathname, uint32_t mask)`: watch a path for the
   * events in `mask`.
   * @see https://man7.org/linux/man-pages/man2/inotify_add_watch.2.html
   */
  async inotifyAddWatch(path: PathPointer, mask: IN): Promise<WatchDescriptor> {
    checkPath("path", path);
    checkInt("mask", mask);
    const task = this.task;
    const wd = await withContext(raw.inotify_add_watch(task.sysif, this.borrow(task), path.borrow(task), mask), {
      path: pathOf(path),
    });
    return wd as WatchDescriptor;
  }

  /**
   * `int inotify_rm_watch(int fd, int wd)`: stop a watch; an `IN.IGNORED` event follows.
   * @see https://man7.org/linux/man-pages/man2/inotify_rm_watch.2.html
   */
  async inotifyRmWatch(wd: WatchDescriptor): Promise<void> {
    checkInt("wd", wd);
    await withContext(raw.inotify_rm_watch(this.task.sysif, this.borrow(this.task), wd), { fd: this.near });
  }
}
