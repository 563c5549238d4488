/**
 * `<sys/timerfd.h>`: timers that deliver expirations through an fd: timerfd_create,
 * timerfd_settime, timerfd_gettime.
 *
 * ```js
 * const tfd = await thr.task.timerfdCreate(CLOCK.MONOTONIC, TFD.NONBLOCK);
 * await tfd.timerfdSettime(0 as TFD_TIMER, await thr.ptr(new Itimerspec(0.1, 0.5)));
 * // reading tfd (an AsyncFileDescriptor) gives a UInt64 count of expirations
 * ```
 *
 * @module rsyscall/sys/timerfd
 */
import { checkInt, checkPointer, withContext } from "../args.js";
import * as gen from "../gen/constants.js";
import { BaseFileDescriptor } from "../handle/fd.js";
import type { Pointer, ReadablePointer, WrittenPointer } from "../handle/pointer.js";
import { BaseTask } from "../handle/task.js";
import { type Flag, family } from "../near/flags.js";
import * as raw from "../near/syscalls.js";
import { type CLOCK, Itimerspec } from "../time.js";

export { CLOCK, Itimerspec } from "../time.js";
/** timerfd_create flags: `TFD_NONBLOCK` is `TFD.NONBLOCK` (CLOEXEC is always added). */
export const TFD = family("TFD", gen.TFD);
/** timerfd_create flags, one or several joined with `TFD.of`. */
export type TFD = Flag<"TFD">;
/** timerfd_settime flags: `TFD_TIMER_ABSTIME` is `TFD_TIMER.ABSTIME`. */
export const TFD_TIMER = family("TFD_TIMER", gen.TFD_TIMER);
/** timerfd_settime flags, one or several joined with `TFD_TIMER.of`. */
export type TFD_TIMER = Flag<"TFD_TIMER">;

function checkRoom(name: string, ptr: Pointer<Itimerspec>): void {
  checkPointer(name, ptr);
  if (ptr.size() < Itimerspec.sizeof)
    throw new TypeError(`${name} has ${ptr.size()} bytes, needs ${Itimerspec.sizeof}`);
}

/**
 * The `<sys/timerfd.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.timerfdCreate(...)`.
 */
export class TimerfdTask extends BaseTask {
  /**
   * `int timerfd_create(int clockid, int flags)`: make a timer fd. Close-on-exec is always added.
   * @see https://man7.org/linux/man-pages/man2/timerfd_create.2.html
   */
  async timerfdCreate(clockid: CLOCK, flags: TFD = 0 as TFD): Promise<this["_fd"]> {
    checkInt("clockid", clockid);
    checkInt("flags", flags);
    this.collectGarbage();
    return this.makeFd(await raw.timerfd_create(this.sysif, clockid, flags | TFD.CLOEXEC));
  }
}

/**
 * The `<sys/timerfd.h>` syscalls made on an fd.
 * Composed onto every {@link rsyscall!FileDescriptor}: call them as `fd.timerfdSettime(...)`.
 */
export class TimerfdFileDescriptor extends BaseFileDescriptor {
  /**
   * `int timerfd_settime(int fd, int flags, const struct itimerspec *new_value,
   * struct itimerspec *old_value)`:
   * arm (or, with a zero value, disarm) the timer. With `oldValue`, also returns the previous
   * setting read into it.
   * @see https://man7.org/linux/man-pages/man2/timerfd_settime.2.html
   */
  timerfdSettime(flags: TFD_TIMER, newValue: WrittenPointer<Itimerspec>): Promise<undefined>;
  timerfdSettime(
    flags: TFD_TIMER,
    newValue: WrittenPointer<Itimerspec>,
    oldValue: Pointer<Itimerspec>,
  ): Promise<ReadablePointer<Itimerspec>>;
  async timerfdSettime(
    flags: TFD_TIMER,
    newValue: WrittenPointer<Itimerspec>,
    oldValue?: Pointer<Itimerspec>,
  ): Promise<ReadablePointer<Itimerspec> | undefined> {
    checkInt("flags", flags);
    checkPointer("newValue", newValue, true);
    if (oldValue !== undefined) checkRoom("oldValue", oldValue);
    const task = this.task;
    const old = oldValue ? oldValue.borrow(task) : 0;
    await withContext(raw.timerfd_settime(task.sysif, this.borrow(task), flags, newValue.borrow(task), old), {
      fd: this.near,
    });
    return oldValue?.filled();
  }

  /**
   * `int timerfd_gettime(int fd, struct itimerspec *curr_value)`: the time left until the next
   * expiration, and the interval.
   * @see https://man7.org/linux/man-pages/man2/timerfd_gettime.2.html
   */
  async timerfdGettime(curr: Pointer<Itimerspec>): Promise<ReadablePointer<Itimerspec>> {
    checkRoom("curr", curr);
    const task = this.task;
    await withContext(raw.timerfd_gettime(task.sysif, this.borrow(task), curr.borrow(task)), { fd: this.near });
    return curr.filled();
  }
}
