// <unistd.h>, the names of the UTS namespace: sethostname, setdomainname.
//
//   await thr.task.sethostname(await thr.ptr(Buffer.from("sandbox")));   // or thr.sethostname("sandbox")
import { checkPointer, withContext } from "../args.js";
import type { WrittenPointer } from "../handle/pointer.js";
import { BaseTask } from "../handle/task.js";
import * as raw from "../near/syscalls.js";

/** The longest host or domain name the kernel keeps (`__NEW_UTS_LEN`), in bytes. */
export const UTS_NAME_MAX = 64;

/**
 * The `<unistd.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.sethostname(...)`.
 */
export class HostnameTask extends BaseTask {
  /**
   * `int sethostname(const char *name, size_t len)`: the hostname of this process's UTS namespace,
   * the bytes `name` points to (no NUL needed); EPERM without CAP_SYS_ADMIN over that namespace.
   * @see https://man7.org/linux/man-pages/man2/sethostname.2.html
   */
  async sethostname(name: WrittenPointer<Buffer>): Promise<void> {
    checkPointer("name", name, true);
    await withContext(raw.sethostname(this.sysif, name.borrow(this), name.size()), {});
  }

  /**
   * `int setdomainname(const char *name, size_t len)`: the NIS domain name of this process's UTS
   * namespace, as sethostname takes a name.
   * @see https://man7.org/linux/man-pages/man2/setdomainname.2.html
   */
  async setdomainname(name: WrittenPointer<Buffer>): Promise<void> {
    checkPointer("name", name, true);
    await withContext(raw.setdomainname(this.sysif, name.borrow(this), name.size()), {});
  }
}
