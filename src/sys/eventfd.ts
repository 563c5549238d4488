/**
 * `<sys/eventfd.h>`: eventfd2.
 *
 * ```js
 * const efd = await thr.task.eventfd(0);
 * await efd.write(await thr.ptr(new Int64(1)));
 * ```
 *
 * @module rsyscall/sys/eventfd
 */
import { checkInt } from "../args.js";
import * as gen from "../gen/constants.js";
import { BaseTask } from "../handle/task.js";
import { type Flag, family } from "../near/flags.js";
import * as raw from "../near/syscalls.js";

/** eventfd2 flags: `EFD_NONBLOCK` is `EFD.NONBLOCK` (CLOEXEC is always added). */
export const EFD = family("EFD", gen.EFD);
/** eventfd2 flags, one or several joined with `EFD.of`. */
export type EFD = Flag<"EFD">;

/**
 * The `<sys/eventfd.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.eventfd(...)`.
 */
export class EventfdTask extends BaseTask {
  /**
   * `int eventfd(unsigned int initval, int flags)`, as `eventfd2(initval, flags)`: make an event
   * counter fd; read and write it as an Int64. Close-on-exec is always added.
   * @see https://man7.org/linux/man-pages/man2/eventfd.2.html
   */
  async eventfd(initval: number, flags: EFD = 0 as EFD): Promise<this["_fd"]> {
    checkInt("initval", initval);
    checkInt("flags", flags);
    this.collectGarbage();
    return this.makeFd(await raw.eventfd2(this.sysif, initval, flags | EFD.CLOEXEC));
  }
}
