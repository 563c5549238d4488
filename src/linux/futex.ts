/**
 * `<linux/futex.h>`: futexes: wait until a 32-bit word changes, wake its waiters, and the robust
 * list the kernel walks when a thread dies.
 *
 * ```js
 * await child.task.futexWait(word, 0);        // in a child: until someone wakes the word
 * await thr.task.futexWake(word, 1);          // one waiter up
 * ```
 *
 * @module rsyscall/linux/futex
 */
import { checkInt, checkPointer, withContext } from "../args.js";
import * as gen from "../gen/constants.js";
import type { Pointer, WrittenPointer } from "../handle/pointer.js";
import { BaseTask } from "../handle/task.js";
import { type Flag, family } from "../near/flags.js";
import { LocalSyscall } from "../near/local.js";
import * as raw from "../near/syscalls.js";
import type { Timespec } from "../time.js";

/** Futex operations and word bits: `FUTEX_WAKE` is `FUTEX.WAKE`. */
export const FUTEX = family("FUTEX", gen.FUTEX);
export type FUTEX = Flag<"FUTEX">;

function checkWord(name: string, word: Pointer<unknown>): void {
  checkPointer(name, word);
  if (word.size() < 4) throw new TypeError(`${name} must point at a 32-bit word, not ${word.size()} bytes`);
  if (word.near % 4 !== 0) throw new TypeError(`${name} must be 4-byte aligned`);
}

/**
 * The `<linux/futex.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.futexWait(...)`.
 */
export class FutexTask extends BaseTask {
  /**
   * `long futex(uint32_t *uaddr, int futex_op, uint32_t val, const struct timespec *timeout,
   * uint32_t *uaddr2, uint32_t val3)`, as `futex(uaddr, FUTEX_WAIT, val, timeout, NULL, 0)`: sleeps
   * while the word at `word` holds `val` (EAGAIN if it does not now), until a wake, a signal (EINTR)
   * or the relative `timeout` (ETIMEDOUT). Shared: a wake from any process mapping the same memory
   * counts. Not in the Node process, whose event loop it would stop: wait in a child.
   * @see https://man7.org/linux/man-pages/man2/futex.2.html
   */
  async futexWait(word: Pointer<unknown>, val: number, timeout?: WrittenPointer<Timespec>): Promise<void> {
    checkWord("word", word);
    checkInt("val", val);
    if (timeout !== undefined) checkPointer("timeout", timeout, true);
    if (this.sysif instanceof LocalSyscall)
      throw new Error("futexWait: it would stop Node's event loop; wait in a child thread");
    await withContext(raw.futex(this.sysif, word.borrow(this), FUTEX.WAIT, val, timeout?.borrow(this) ?? 0, 0, 0), {});
  }

  /**
   * `long futex(uint32_t *uaddr, int futex_op, uint32_t val, const struct timespec *timeout,
   * uint32_t *uaddr2, uint32_t val3)`, as `futex(uaddr, FUTEX_WAKE, count, NULL, NULL, 0)`: wakes up
   * to `count` waiters of the word at `word` (all: 2147483647); resolves how many woke.
   * @see https://man7.org/linux/man-pages/man2/futex.2.html
   */
  futexWake(word: Pointer<unknown>, count = 1): Promise<number> {
    checkWord("word", word);
    checkInt("count", count);
    return withContext(raw.futex(this.sysif, word.borrow(this), FUTEX.WAKE, count, 0, 0, 0), {});
  }

  /**
   * `long set_robust_list(struct robust_list_head *head, size_t len)`: the list of futexes the
   * kernel marks FUTEX.OWNER_DIED (and wakes) when this thread exits or execs. `head` is the
   * 24-byte `struct robust_list_head` in this process's memory. Not in the Node process: its
   * threads' lists are glibc's.
   * @see https://man7.org/linux/man-pages/man2/set_robust_list.2.html
   */
  async setRobustList(head: WrittenPointer<unknown>): Promise<void> {
    checkPointer("head", head, true);
    if (this.sysif instanceof LocalSyscall) throw new Error("setRobustList: Node's main thread's list is glibc's");
    await withContext(raw.set_robust_list(this.sysif, head.borrow(this), head.size()), {});
  }
}
