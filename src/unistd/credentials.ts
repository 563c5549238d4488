// <unistd.h>, process identity: getpid, gettid, getppid, getuid, getgid, getpgid, setpgid, setsid.
import { checkInt } from "../args.js";
import { BaseTask } from "../handle/task.js";
import { asPid, type Pid } from "../near/ids.js";
import * as raw from "../near/syscalls.js";

export class CredentialsTask extends BaseTask {
  /** `getpid()`: this process's id.
   *  @see https://man7.org/linux/man-pages/man2/getpid.2.html */
  getpid(): Promise<Pid> {
    return raw.getpid(this.sysif);
  }

  /** `gettid()`: the id of the calling thread (for our own process: Node's main thread).
   *  @see https://man7.org/linux/man-pages/man2/gettid.2.html */
  gettid(): Promise<Pid> {
    return raw.gettid(this.sysif);
  }

  /** `getppid()`: the parent's process id.
   *  @see https://man7.org/linux/man-pages/man2/getppid.2.html */
  getppid(): Promise<Pid> {
    return raw.getppid(this.sysif);
  }

  /** `getuid()`: the real user id.
   *  @see https://man7.org/linux/man-pages/man2/getuid.2.html */
  getuid(): Promise<number> {
    return raw.getuid(this.sysif);
  }

  /** `getgid()`: the real group id.
   *  @see https://man7.org/linux/man-pages/man2/getgid.2.html */
  getgid(): Promise<number> {
    return raw.getgid(this.sysif);
  }

  /** `getpgid(pid)`: the process group of `pid` (0, the default: this process).
   *  @see https://man7.org/linux/man-pages/man2/getpgid.2.html */
  getpgid(pid = 0): Promise<Pid> {
    return raw.getpgid(this.sysif, asPid(checkInt("pid", pid)));
  }

  /** `setpgid(pid, pgid)`: move `pid` (0: this process) into group `pgid` (0: a group of its own).
   *  @see https://man7.org/linux/man-pages/man2/setpgid.2.html */
  async setpgid(pid = 0, pgid = 0): Promise<void> {
    await raw.setpgid(this.sysif, asPid(checkInt("pid", pid)), asPid(checkInt("pgid", pgid)));
  }

  /** `setsid()`: start a new session; returns its id.
   *  @see https://man7.org/linux/man-pages/man2/setsid.2.html */
  setsid(): Promise<Pid> {
    return raw.setsid(this.sysif);
  }
}
