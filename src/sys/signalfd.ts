/**
 * `<sys/signalfd.h>`: signals delivered through an fd: signalfd4.
 *
 * ```js
 * const sfd = await thr.task.signalfd(await thr.ptr(new Sigset([SIG.USR2])), SFD.NONBLOCK);
 * // block the signals first (SignalBlock); reading gives SignalfdSiginfo records
 * ```
 *
 * @module rsyscall/sys/signalfd
 */
import { checkInt, checkPointer, withContext } from "../args.js";
import * as gen from "../gen/constants.js";
import * as layouts from "../gen/layouts.js";
import { BaseFileDescriptor } from "../handle/fd.js";
import type { WrittenPointer } from "../handle/pointer.js";
import { BaseTask } from "../handle/task.js";
import { type Flag, family } from "../near/flags.js";
import * as raw from "../near/syscalls.js";
import type { SIG, Sigset } from "../signal.js";
import { type Serializer, StructReader } from "../struct.js";

/** signalfd flags: `SFD_NONBLOCK` is `SFD.NONBLOCK` (CLOEXEC is always added). */
export const SFD = family("SFD", gen.SFD);
/** signalfd flags, one or several joined with `SFD.of`. */
export type SFD = Flag<"SFD">;

const L = layouts.signalfd_siginfo;

/** `struct signalfd_siginfo`: one signal read from a signalfd. */
export class SignalfdSiginfo {
  /** Its size in bytes, always the same: `malloc(SignalfdSiginfo)` needs no size. */
  static readonly sizeof = L.size;
  constructor(
    /** `ssi_signo`: the signal. */
    readonly signo: SIG,
    /** `ssi_errno`: an error number some signals carry (usually 0). */
    readonly errno: number,
    /** `ssi_code`: where the signal came from (SI_USER, a CLD code for SIGCHLD, ...). */
    readonly code: number,
    /** `ssi_pid`: the pid of the sender (or of the child, for SIGCHLD). */
    readonly pid: number,
    /** `ssi_uid`: the real uid of the sender. */
    readonly uid: number,
    /** `ssi_status`: for SIGCHLD, the exit status or the signal. */
    readonly status: number,
  ) {}

  /** The serializer `malloc(SignalfdSiginfo)` uses: how its bytes become a SignalfdSiginfo and back. */
  static getSerializer(): Serializer<SignalfdSiginfo> {
    return {
      toBytes: () => {
        throw new TypeError("signal records are written by the kernel");
      },
      fromBytes: parse,
    };
  }
}

function parse(bytes: Buffer): SignalfdSiginfo {
  const r = new StructReader(bytes, L);
  return new SignalfdSiginfo(
    r.uint("ssi_signo") as SIG,
    r.int("ssi_errno"),
    r.int("ssi_code"),
    r.uint("ssi_pid"),
    r.uint("ssi_uid"),
    r.int("ssi_status"),
  );
}

function checkMask(mask: WrittenPointer<Sigset>): void {
  checkPointer("mask", mask, true);
}

/**
 * The `<sys/signalfd.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.signalfd(...)`.
 */
export class SignalfdTask extends BaseTask {
  /**
   * `int signalfd(int fd, const sigset_t *mask, int flags)`, as
   * `signalfd4(-1, mask, sizeof(sigset_t), flags)`: make an fd that reads the signals in `mask`
   * (which should be blocked, or they are delivered as usual). Close-on-exec is always added.
   * @see https://man7.org/linux/man-pages/man2/signalfd.2.html
   */
  async signalfd(mask: WrittenPointer<Sigset>, flags: SFD = 0 as SFD): Promise<this["_fd"]> {
    checkMask(mask);
    checkInt("flags", flags);
    this.collectGarbage();
    const n = await raw.signalfd4(this.sysif, -1, mask.borrow(this), mask.size(), flags | SFD.CLOEXEC);
    return this.makeFd(n);
  }
}

/**
 * The `<sys/signalfd.h>` syscalls made on an fd.
 * Composed onto every {@link rsyscall!FileDescriptor}: call them as `fd.signalfd(...)`.
 */
export class SignalfdFileDescriptor extends BaseFileDescriptor {
  /**
   * `int signalfd(int fd, const sigset_t *mask, int flags)`, as
   * `signalfd4(fd, mask, sizeof(sigset_t), flags)`: change the signals this signalfd reads.
   * @see https://man7.org/linux/man-pages/man2/signalfd.2.html
   */
  async signalfd(mask: WrittenPointer<Sigset>, flags: SFD = 0 as SFD): Promise<void> {
    checkMask(mask);
    checkInt("flags", flags);
    const task = this.task;
    await withContext(
      raw.signalfd4(task.sysif, this.borrow(task), mask.borrow(task), mask.size(), flags | SFD.CLOEXEC),
      {
        fd: this.near,
      },
    );
  }
}
