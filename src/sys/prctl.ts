/**
 * `<sys/prctl.h>`: process attributes: prctl, with typed helpers for the common options.
 *
 * @module rsyscall/sys/prctl
 */
import { checkInt, checkPath, checkPointer } from "../args.js";
import * as gen from "../gen/constants.js";
import type { Pointer, ReadablePointer, WrittenPointer } from "../handle/pointer.js";
import { BaseTask } from "../handle/task.js";
import { type Flag, family } from "../near/flags.js";
import * as raw from "../near/syscalls.js";
import type { SyscallArg } from "../near/sysif.js";
import type { SIG } from "../signal.js";

/** prctl options: `PR_SET_NAME` is `PR.SET_NAME`. */
export const PR = family("PR", gen.PR);
/** A prctl option. */
export type PR = Flag<"PR">;
/** What `PR.CAP_AMBIENT` does: `PR_CAP_AMBIENT_RAISE` is `PR_CAP_AMBIENT.RAISE`. */
export const PR_CAP_AMBIENT = family("PR_CAP_AMBIENT", gen.PR_CAP_AMBIENT);
/** A `PR.CAP_AMBIENT` operation. */
export type PR_CAP_AMBIENT = Flag<"PR_CAP_AMBIENT">;

const NAME_SIZE = 16;

/**
 * The `<sys/prctl.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.prctl(...)`.
 */
export class PrctlTask extends BaseTask {
  /**
   * `int prctl(int op, ...)`, as `prctl(option, arg2, arg3, arg4, arg5)`, untyped: any option;
   * returns the result.
   * @see https://man7.org/linux/man-pages/man2/prctl.2.html
   */
  async prctl(
    option: PR,
    arg2: SyscallArg = 0,
    arg3: SyscallArg = 0,
    arg4: SyscallArg = 0,
    arg5: SyscallArg = 0,
  ): Promise<number> {
    checkInt("option", option);
    return raw.prctl(this.sysif, option, arg2, arg3, arg4, arg5);
  }

  /**
   * `int prctl(int op, ...)`, as `prctl(PR_SET_NAME, name)`: the thread's name (15 bytes at most), as
   * /proc/<pid>/comm shows it.
   * @see https://man7.org/linux/man-pages/man2/prctl.2.html
   */
  async prctlSetName(name: WrittenPointer<string>): Promise<void> {
    checkPath("name", name);
    await raw.prctl(this.sysif, PR.SET_NAME, name.borrow(this), 0, 0, 0);
  }

  /**
   * `int prctl(int op, ...)`, as `prctl(PR_GET_NAME, buf)`: the thread's name, into 16 bytes of `buf`.
   * @see https://man7.org/linux/man-pages/man2/prctl.2.html
   */
  async prctlGetName(buf: Pointer<string>): Promise<ReadablePointer<string>> {
    checkPointer("buf", buf);
    if (buf.size() < NAME_SIZE) throw new TypeError(`prctlGetName: buf needs ${NAME_SIZE} bytes`);
    await raw.prctl(this.sysif, PR.GET_NAME, buf.borrow(this), 0, 0, 0);
    return buf.readableSplit(NAME_SIZE)[0];
  }

  /**
   * `int prctl(int op, ...)`, as `prctl(PR_SET_PDEATHSIG, sig)`: the signal this process gets when its
   * parent thread dies (0: none).
   * @see https://man7.org/linux/man-pages/man2/prctl.2.html
   */
  async prctlSetPdeathsig(sig: SIG | 0): Promise<void> {
    checkInt("sig", sig);
    await raw.prctl(this.sysif, PR.SET_PDEATHSIG, sig, 0, 0, 0);
  }

  /**
   * `int prctl(int op, ...)`, as `prctl(PR_CAP_AMBIENT, op, cap)`: raise, lower or test an ambient
   * capability, or clear them all.
   * @see https://man7.org/linux/man-pages/man2/prctl.2.html
   */
  async prctlCapAmbient(op: PR_CAP_AMBIENT, cap = 0): Promise<number> {
    checkInt("op", op);
    checkInt("cap", cap);
    return raw.prctl(this.sysif, PR.CAP_AMBIENT, op, cap, 0, 0);
  }
}
