// <unistd.h> (through syscall(2)), comparing processes: kcmp.
//
//   const same = (await thr.task.kcmp(process.pid, child.task.pid, KCMP.VM)) === 0;
import { checkInt } from "../args.js";
import { BaseTask } from "../handle/task.js";
import type { KCMP } from "../linux/kcmp.js";
import * as raw from "../near/syscalls.js";

/**
 * The `<unistd.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.kcmp(...)`.
 */
export class KcmpTask extends BaseTask {
  /**
   * `int kcmp(pid_t pid1, pid_t pid2, int type, unsigned long idx1, unsigned long idx2)`: whether
   * two processes share a kernel resource (`KCMP.VM`: their memory; `KCMP.FILE`: fds `idx1` and
   * `idx2`). 0 means the same; 1 and 2 order them; 3, different but unordered.
   * @see https://man7.org/linux/man-pages/man2/kcmp.2.html
   */
  async kcmp(pid1: number, pid2: number, type: KCMP, idx1 = 0, idx2 = 0): Promise<number> {
    for (const [name, v] of [
      ["pid1", pid1],
      ["pid2", pid2],
      ["type", type],
      ["idx1", idx1],
      ["idx2", idx2],
    ] as const)
      checkInt(name, v);
    return raw.kcmp(this.sysif, pid1, pid2, type, idx1, idx2);
  }
}
