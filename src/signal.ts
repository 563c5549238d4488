/**
 * `<signal.h>`: signal numbers, sets and actions: kill, tgkill, rt_sigaction (as sigaction),
 * rt_sigprocmask (as sigprocmask), and SignalBlock, an owner of blocked signals.
 *
 * ```js
 * await thr.task.kill(pid, SIG.TERM);
 * const block = await SignalBlock.make(thr.task, thr.ram, new Sigset([SIG.USR2]));   // this thread only
 * await block.unblock();
 * ```
 *
 * @module rsyscall/signal
 */
import { checkInt, checkPointer, withContext } from "./args.js";
import * as gen from "./gen/constants.js";
import * as layouts from "./gen/layouts.js";
import type { Pointer, ReadablePointer, WrittenPointer } from "./handle/pointer.js";
import { BaseTask } from "./handle/task.js";
import type { RAM } from "./memory/ram.js";
import { type Flag, family } from "./near/flags.js";
import { asPid } from "./near/ids.js";
import * as raw from "./near/syscalls.js";
import { type Serializer, StructReader, StructWriter } from "./struct.js";

/** Signal numbers: `SIGTERM` is `SIG.TERM`. */
export const SIG = family("SIG", gen.SIG);
/** A signal number. */
export type SIG = Flag<"SIG">;
/** sigaction flags: `SA_RESTART` is `SA.RESTART`. */
export const SA = family("SA", gen.SA);
/** sigaction flags, one or several joined with `SA.of`. */
export type SA = Flag<"SA">;
/** How sigprocmask changes the mask: `SIG_BLOCK` is `HowSIG.BLOCK`. */
export const HowSIG = family("HowSIG", gen.HowSIG);
/** What sigprocmask does with the set it is given. */
export type HowSIG = Flag<"HowSIG">;

/** The handler values that are not addresses. */
export const Sighandler = {
  /** `SIG_DFL`: the signal's default action. */
  DFL: 0,
  /** `SIG_IGN`: ignore the signal. */
  IGN: 1,
} as const;

const SIGSET_SIZE = layouts.kernel_sigaction.fields.sa_mask[1];
const MAX_SIGNAL = SIGSET_SIZE * 8;

function checkSignal(sig: number): number {
  if (!Number.isInteger(sig) || sig < 1 || sig > MAX_SIGNAL) throw new TypeError(`not a signal number: ${sig}`);
  return sig;
}

/** The kernel's signal set (64 bits on x86_64), as a set of signal numbers. */
export class Sigset extends Set<SIG> {
  /** Its size in bytes, always the same: `malloc(Sigset)` needs no size. */
  static readonly sizeof = SIGSET_SIZE;
  constructor(signals: Iterable<SIG | number> = []) {
    super([...signals].map((s) => checkSignal(s) as SIG));
  }

  /** The set as the kernel's mask: bit `sig - 1` for each signal. */
  toBigInt(): bigint {
    let mask = 0n;
    for (const sig of this) mask |= 1n << BigInt(sig - 1);
    return mask;
  }

  /** The set a kernel mask holds (bit `sig - 1` for each signal). */
  static fromBigInt(mask: bigint): Sigset {
    const set = new Sigset();
    for (let sig = 1; sig <= MAX_SIGNAL; sig++) if ((mask >> BigInt(sig - 1)) & 1n) set.add(sig as SIG);
    return set;
  }

  /** The serializer `malloc(Sigset)` uses: how its bytes become a Sigset and back. */
  static getSerializer(): Serializer<Sigset> {
    return sigsetSerializer;
  }
}

const sigsetSerializer: Serializer<Sigset> = {
  toBytes(set) {
    const b = Buffer.alloc(SIGSET_SIZE);
    b.writeBigUInt64LE(set.toBigInt());
    return b;
  },
  fromBytes: (bytes) => Sigset.fromBigInt(bytes.readBigUInt64LE(0)),
};

/** The kernel's `struct sigaction` for rt_sigaction. `handler` is an address, or Sighandler.DFL/IGN. */
export class Sigaction {
  /** Its size in bytes, always the same: `malloc(Sigaction)` needs no size. */
  static readonly sizeof = layouts.kernel_sigaction.size;
  constructor(
    /** `sa_handler`: the handler's address in the target process, or Sighandler.DFL or IGN. */
    readonly handler: number | bigint,
    /** `sa_flags`. */
    readonly flags: SA = 0 as SA,
    /** `sa_mask`: signals blocked while the handler runs. */
    readonly mask: Sigset = new Sigset(),
    /** `sa_restorer`: the address a handler returns to (with SA.RESTORER); 0 for none. */
    readonly restorer: number | bigint = 0,
  ) {}

  /** The serializer `malloc(Sigaction)` uses: how its bytes become a Sigaction and back. */
  static getSerializer(): Serializer<Sigaction> {
    return sigactionSerializer;
  }
}

const sigactionSerializer: Serializer<Sigaction> = {
  toBytes: (a) =>
    new StructWriter(layouts.kernel_sigaction)
      .uint("sa_handler", a.handler)
      .uint("sa_flags", a.flags)
      .uint("sa_restorer", a.restorer)
      .uint("sa_mask", a.mask.toBigInt()).bytes,
  fromBytes(bytes) {
    const r = new StructReader(bytes, layouts.kernel_sigaction);
    const handler = r.big("sa_handler");
    const restorer = r.big("sa_restorer");
    return new Sigaction(
      handler <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(handler) : handler,
      r.uint("sa_flags") as SA,
      Sigset.fromBigInt(r.big("sa_mask")),
      restorer <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(restorer) : restorer,
    );
  },
};

/**
 * The `<signal.h>` syscalls that are not made on an fd.
 * Composed onto every {@link rsyscall!Task}: call them as `thr.task.kill(...)`.
 */
export class SignalTask extends BaseTask {
  /**
   * `int kill(pid_t pid, int sig)`: send a signal. `pid` is a number in this task's pid namespace
   * (0: this process group; -1: every process we may signal; -pgid: that group). A pid can be reused
   * once its process is reaped: prefer a child process handle's `kill` for children.
   * @see https://man7.org/linux/man-pages/man2/kill.2.html
   */
  async kill(pid: number, sig: SIG): Promise<void> {
    checkInt("pid", pid);
    checkInt("sig", sig);
    await raw.kill(this.sysif, pid, sig);
  }

  /**
   * `int tgkill(pid_t tgid, pid_t tid, int sig)`: send a signal to one thread of a process.
   * @see https://man7.org/linux/man-pages/man2/tgkill.2.html
   */
  async tgkill(tgid: number, tid: number, sig: SIG): Promise<void> {
    checkInt("tgid", tgid);
    checkInt("tid", tid);
    checkInt("sig", sig);
    await raw.tgkill(this.sysif, asPid(tgid), asPid(tid), sig);
  }

  /**
   * `int rt_sigaction(int signum, const struct sigaction *act, struct sigaction *oldact,
   * size_t sigsetsize)`,
   * as `rt_sigaction(signum, act, oldact, sizeof(sigset_t))`: change (with `act`) and/or read (into
   * `oldact`) the action for a signal. Returns `oldact`, filled, when given.
   * @see https://man7.org/linux/man-pages/man2/sigaction.2.html
   */
  async sigaction(
    signum: SIG,
    act: WrittenPointer<Sigaction> | undefined,
    oldact?: Pointer<Sigaction>,
  ): Promise<ReadablePointer<Sigaction> | undefined> {
    checkSignal(signum);
    if (act !== undefined) checkPointer("act", act, true);
    if (oldact !== undefined) checkPointer("oldact", oldact);
    const call = raw.rt_sigaction(
      this.sysif,
      signum,
      act ? act.borrow(this) : 0,
      oldact ? oldact.borrow(this) : 0,
      SIGSET_SIZE,
    );
    await withContext(call, {});
    return oldact?.filled();
  }

  /**
   * `int rt_sigprocmask(int how, const kernel_sigset_t *set, kernel_sigset_t *oldset,
   * size_t sigsetsize)`,
   * as `rt_sigprocmask(how, set, oldset, sizeof(sigset_t))`: change the signal mask of the calling
   * thread (for our own process: Node's main thread only) and/or read the old one into `oldset`.
   * @see https://man7.org/linux/man-pages/man2/sigprocmask.2.html
   */
  async sigprocmask(
    how: HowSIG,
    set: WrittenPointer<Sigset> | undefined,
    oldset?: Pointer<Sigset>,
  ): Promise<ReadablePointer<Sigset> | undefined> {
    checkInt("how", how);
    if (set !== undefined) checkPointer("set", set, true);
    if (oldset !== undefined) checkPointer("oldset", oldset);
    await raw.rt_sigprocmask(
      this.sysif,
      how,
      set ? set.borrow(this) : 0,
      oldset ? oldset.borrow(this) : 0,
      SIGSET_SIZE,
    );
    return oldset?.filled();
  }
}

/**
 * Signals this code blocked, and owns: made by blocking signals that were not blocked before, so
 * that `unblock` cannot unblock someone else's.
 */
export class SignalBlock {
  #blocked = true;
  private constructor(
    /** The task whose calling thread blocked the signals. */
    readonly task: SignalTask,
    /** The memory the masks pass through. */
    readonly ram: RAM,
    /** The signals this block owns. */
    readonly mask: Sigset,
  ) {}

  /** Blocks `mask` in `task` (the calling thread of its process); throws if any was blocked already. */
  static async make(task: SignalTask, ram: RAM, mask: Sigset): Promise<SignalBlock> {
    const set = await ram.ptr(Sigset.getSerializer(), mask);
    const oldset = await ram.malloc(Sigset.getSerializer(), Sigset.sizeof);
    const old = await (await task.sigprocmask(HowSIG.BLOCK, set, oldset))!.read();
    const overlap = [...mask].filter((s) => old.has(s));
    if (overlap.length) {
      await task.sigprocmask(HowSIG.SETMASK, await ram.ptr(Sigset.getSerializer(), old));
      throw new Error(`SignalBlock: already blocked: ${overlap.map((s) => SIG.describe(s)).join(", ")}`);
    }
    return new SignalBlock(task, ram, mask);
  }

  /** Unblocks the signals; doing it twice does nothing. */
  async unblock(): Promise<void> {
    if (!this.#blocked) return;
    this.#blocked = false;
    await this.task.sigprocmask(HowSIG.UNBLOCK, await this.ram.ptr(Sigset.getSerializer(), this.mask));
  }
}
