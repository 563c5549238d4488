/**
 * `<grp.h>`: the supplementary groups of a process: setgroups.
 *
 * ```js
 * await thr.task.setgroups(await thr.ptr(new GidList([100, 101])));   // or thr.setgroups([100, 101])
 * ```
 *
 * @module rsyscall/grp
 */
import { checkPointer, withContext } from "./args.js";
import type { WrittenPointer } from "./handle/pointer.js";
import { BaseTask } from "./handle/task.js";
import * as raw from "./near/syscalls.js";
import type { Serializer } from "./struct.js";

const GID_SIZE = 4;

/** An array of `gid_t` (32-bit) as setgroups takes it. */
export class GidList {
  /** The group ids, in order. */
  readonly gids: readonly number[];
  constructor(gids: Iterable<number>) {
    this.gids = [...gids];
    for (const gid of this.gids)
      if (!Number.isInteger(gid) || gid < 0 || gid > 0xfffffffe) throw new TypeError(`not a group id: ${gid}`);
  }

  /** The serializer `malloc(GidList)` uses: how its bytes become a GidList and back. */
  static getSerializer(): Serializer<GidList> {
    return {
      toBytes(list) {
        const b = Buffer.alloc(list.gids.length * GID_SIZE);
        for (const [i, gid] of list.gids.entries()) b.writeUInt32LE(gid, i * GID_SIZE);
        return b;
      },
      fromBytes(bytes) {
        const gids = [];
        for (let off = 0; off + GID_SIZE <= bytes.length; off += GID_SIZE) gids.push(bytes.readUInt32LE(off));
        return new GidList(gids);
      },
    };
  }
}

/**
 * The `<grp.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.setgroups(...)`.
 */
export class GrpTask extends BaseTask {
  /**
   * `int setgroups(size_t size, const gid_t *list)`: this process's supplementary groups become
   * the ones `list` holds (its size says how many; an empty list drops them all). EPERM without
   * CAP_SETGID, and in a user namespace whose `/proc/PID/setgroups` says "deny" (as one made with
   * unshareUser or clone's mappings does).
   * @see https://man7.org/linux/man-pages/man2/setgroups.2.html
   */
  async setgroups(list: WrittenPointer<GidList>): Promise<void> {
    checkPointer("list", list, true);
    if (list.size() % GID_SIZE !== 0)
      throw new TypeError(`setgroups: ${list.size()} bytes is not a whole number of gid_t`);
    await withContext(raw.setgroups(this.sysif, list.size() / GID_SIZE, list.borrow(this)), {});
  }
}
