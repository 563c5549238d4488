/**
 * `<sys/ioctl.h>`: device-specific requests on an fd: ioctl, with the request numbers each header
 * gives (`TUN.SETIFF` in rsyscall/net/if, `SIOC.GIFFLAGS`...).
 *
 * ```js
 * await tun.ioctl(TUN.SETIFF, await thr.ptr(new Ifreq("tun0", IFF_TUN.of(IFF_TUN.TUN, IFF_TUN.NO_PI))));
 * ```
 *
 * @module rsyscall/sys/ioctl
 */
import { checkInt, checkPointer, withContext } from "../args.js";
import { BaseFileDescriptor } from "../handle/fd.js";
import type { WrittenPointer } from "../handle/pointer.js";
import * as raw from "../near/syscalls.js";

/**
 * The `<sys/ioctl.h>` syscalls made on an fd.
 * Composed onto every {@link rsyscall!FileDescriptor}: call them as `fd.ioctl(...)`.
 */
export class IoctlFileDescriptor extends BaseFileDescriptor {
  /**
   * `int ioctl(int fd, unsigned long request, ...)`: a request to the device or socket this fd
   * names, with `arg` an integer or a pointer to the struct the request reads or fills (read it
   * back after). Resolves the syscall's result.
   * @see https://man7.org/linux/man-pages/man2/ioctl.2.html
   */
  ioctl(request: number, arg: number | WrittenPointer<unknown> = 0): Promise<number> {
    checkInt("request", request);
    const task = this.task;
    let value: number;
    if (typeof arg === "number") value = checkInt("arg", arg);
    else {
      checkPointer("arg", arg, true);
      value = arg.borrow(task);
    }
    return withContext(raw.ioctl(task.sysif, this.borrow(task), request, value), { fd: this.near });
  }
}
