// <unistd.h>, closing many fds: close_range. (close(2) of one fd is FileDescriptor.close.)
import { checkInt } from "../args.js";
import { BaseTask } from "../handle/task.js";
import { CLOSE_RANGE } from "../linux/close_range.js";
import * as raw from "../near/syscalls.js";

/**
 * The `<unistd.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.closeRange(...)`.
 */
export class CloseTask extends BaseTask {
  /**
   * `int close_range(unsigned int first, unsigned int last, int flags)`: close every fd from `first`
   * to `last`, or with `CLOSE_RANGE.CLOEXEC` mark them close-on-exec. Refuses a range with a live
   * handle in it, since that handle would then name a closed number.
   * @see https://man7.org/linux/man-pages/man2/close_range.2.html
   */
  async closeRange(first: number, last: number, flags: CLOSE_RANGE = 0 as CLOSE_RANGE): Promise<void> {
    checkInt("first", first);
    checkInt("last", last);
    checkInt("flags", flags);
    if (!(flags & CLOSE_RANGE.CLOEXEC)) {
      const live = this.fdTable.liveNumbers().filter((n) => n >= first && n <= last);
      if (live.length) throw new Error(`closeRange: fds ${live.join(", ")} have handles; close those instead`);
    }
    await raw.close_range(this.sysif, first, last, flags);
    if (!(flags & CLOSE_RANGE.CLOEXEC)) this.fdTable.closedRange(first, last);
  }
}
