/**
 * `<sys/pidfd.h>`: process file descriptors: pidfd_open, pidfd_send_signal.
 *
 * @module rsyscall/sys/pidfd
 */
import { checkInt, withContext } from "../args.js";
import { BaseFileDescriptor } from "../handle/fd.js";
import { BaseTask } from "../handle/task.js";
import * as raw from "../near/syscalls.js";
import type { SIG } from "../signal.js";

/**
 * The `<sys/pidfd.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.pidfdOpen(...)`.
 */
export class PidfdTask extends BaseTask {
  /**
   * `int pidfd_open(pid_t pid, unsigned int flags)`: an fd naming process `pid`, safe against pid
   * reuse from then on. Close-on-exec is set by the kernel.
   * @see https://man7.org/linux/man-pages/man2/pidfd_open.2.html
   */
  async pidfdOpen(pid: number, flags = 0): Promise<this["_fd"]> {
    checkInt("pid", pid);
    checkInt("flags", flags);
    this.collectGarbage();
    return this.makeFd(await raw.pidfd_open(this.sysif, pid, flags));
  }
}

/**
 * The `<sys/pidfd.h>` syscalls made on an fd.
 * Composed onto every {@link rsyscall!FileDescriptor}: call them as `fd.pidfdSendSignal(...)`.
 */
export class PidfdFileDescriptor extends BaseFileDescriptor {
  /**
   * `int pidfd_send_signal(int pidfd, int sig, siginfo_t *info, unsigned int flags)`, as
   * `pidfd_send_signal(pidfd, sig, NULL, 0)`: signal the process this pidfd names; ESRCH once it has
   * been reaped, never another process that took its pid.
   * @see https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html
   */
  async pidfdSendSignal(sig: SIG): Promise<void> {
    checkInt("sig", sig);
    await withContext(raw.pidfd_send_signal(this.task.sysif, this.borrow(this.task), sig, 0, 0), { fd: this.near });
  }
}
