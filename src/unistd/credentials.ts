// <unistd.h>, process identity: getpid, gettid, getppid, getuid, getgid, getpgid, setpgid, setsid,
// setresuid, setresgid.
import { checkInt, describe } from "../args.js";
import { BaseTask } from "../handle/task.js";
import { asPid, type Pid } from "../near/ids.js";
import { LocalSyscall } from "../near/local.js";
import * as raw from "../near/syscalls.js";

/**
 * The `<unistd.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.getpid(...)`.
 */
export class CredentialsTask extends BaseTask {
  /**
   * `pid_t getpid(void)`: this process's id.
   * @see https://man7.org/linux/man-pages/man2/getpid.2.html
   */
  getpid(): Promise<Pid> {
    return raw.getpid(this.sysif);
  }

  /**
   * `pid_t gettid(void)`: the id of the calling thread (for our own process: Node's main thread).
   * @see https://man7.org/linux/man-pages/man2/gettid.2.html
   */
  gettid(): Promise<Pid> {
    return raw.gettid(this.sysif);
  }

  /**
   * `pid_t getppid(void)`: the parent's process id.
   * @see https://man7.org/linux/man-pages/man2/getppid.2.html
   */
  getppid(): Promise<Pid> {
    return raw.getppid(this.sysif);
  }

  /**
   * `uid_t getuid(void)`: the real user id.
   * @see https://man7.org/linux/man-pages/man2/getuid.2.html
   */
  getuid(): Promise<number> {
    return raw.getuid(this.sysif);
  }

  /**
   * `gid_t getgid(void)`: the real group id.
   * @see https://man7.org/linux/man-pages/man2/getgid.2.html
   */
  getgid(): Promise<number> {
    return raw.getgid(this.sysif);
  }

  /**
   * `pid_t getpgid(pid_t pid)`: the process group of `pid` (0, the default: this process).
   * @see https://man7.org/linux/man-pages/man2/getpgid.2.html
   */
  getpgid(pid = 0): Promise<Pid> {
    return raw.getpgid(this.sysif, asPid(checkInt("pid", pid)));
  }

  /**
   * `int setpgid(pid_t pid, pid_t pgid)`: move `pid` (0: this process) into group `pgid` (0: a group
   * of its own).
   * @see https://man7.org/linux/man-pages/man2/setpgid.2.html
   */
  async setpgid(pid = 0, pgid = 0): Promise<void> {
    await raw.setpgid(this.sysif, asPid(checkInt("pid", pid)), asPid(checkInt("pgid", pgid)));
  }

  /**
   * `pid_t setsid(void)`: start a new session; returns its id.
   * @see https://man7.org/linux/man-pages/man2/setsid.2.html
   */
  setsid(): Promise<Pid> {
    return raw.setsid(this.sysif);
  }

  /**
   * `int setresuid(uid_t ruid, uid_t euid, uid_t suid)`: the real, effective and saved user ids
   * (-1 leaves one as it is). Not for the Node process: the syscall changes one thread, and Node
   * has several (glibc's wrapper signals every thread to follow; a raw syscall cannot). A change
   * of effective id makes the process's memory non-dumpable (its /proc files then belong to
   * root): in a child that shares our memory, that is Node's memory too. A fork has its own.
   * @see https://man7.org/linux/man-pages/man2/setresuid.2.html
   */
  async setresuid(ruid: number, euid: number, suid: number): Promise<void> {
    notNode(this, "setresuid");
    await raw.setresuid(this.sysif, checkId("ruid", ruid), checkId("euid", euid), checkId("suid", suid));
  }

  /**
   * `int setresgid(gid_t rgid, gid_t egid, gid_t sgid)`: the real, effective and saved group ids
   * (-1 leaves one as it is). Not for the Node process, as setresuid.
   * @see https://man7.org/linux/man-pages/man2/setresgid.2.html
   */
  async setresgid(rgid: number, egid: number, sgid: number): Promise<void> {
    notNode(this, "setresgid");
    await raw.setresgid(this.sysif, checkId("rgid", rgid), checkId("egid", egid), checkId("sgid", sgid));
  }
}

function notNode(task: BaseTask, what: string): void {
  if (task.sysif instanceof LocalSyscall)
    throw new Error(`${what}: not for the Node process (it would change one of its threads); use a child`);
}

/** A uid or gid, or -1 for "unchanged", as the kernel takes it (unsigned). */
function checkId(name: string, id: number): number {
  if (id === -1) return 0xffffffff;
  if (!Number.isInteger(id) || id < 0 || id > 0xfffffffe)
    throw new TypeError(`${name} must be an id from 0 to 4294967294, or -1, got ${describe(id)}`);
  return id;
}
