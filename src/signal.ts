// <signal.h>: signal numbers; kill.
//
//   await thr.task.kill(pid, SIG.TERM);
import { checkInt } from "./args.js";
import * as gen from "./gen/constants.js";
import { BaseTask } from "./handle/task.js";
import { type Flag, family } from "./near/flags.js";
import * as raw from "./near/syscalls.js";

export const SIG = family("SIG", gen.SIG);
export type SIG = Flag<"SIG">;

export class SignalTask extends BaseTask {
  /**
   * `kill(pid, sig)`: send a signal. `pid` is a number in this task's pid namespace (0: this
   * process group; -1: every process we may signal; -pgid: that group). A pid can be reused
   * once its process is reaped: prefer a child process handle's `kill` for children.
   * @see https://man7.org/linux/man-pages/man2/kill.2.html
   */
  async kill(pid: number, sig: SIG): Promise<void> {
    checkInt("pid", pid);
    checkInt("sig", sig);
    await raw.kill(this.sysif, pid, sig);
  }
}
